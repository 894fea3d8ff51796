package syscalls

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// answer runs the handler of nr and returns what it answers without
// running the call, or ok false when the call runs on the host.
func answer(t *testing.T, c Context, nr uintptr, r Regs) (ret int64, ok bool) {
	t.Helper()
	e, found := Lookup(nr)
	require.True(t, found, "Lookup(%d)", nr)
	p := e.Handle(c, r)
	if p.Emulate == nil {
		return 0, false
	}
	return p.Emulate(), true
}

func TestPtraceRefused(t *testing.T) {
	tests := []struct {
		req  int
		want unix.Errno
	}{
		{unix.PTRACE_TRACEME, unix.EPERM},
		{unix.PTRACE_ATTACH, unix.EPERM},
		{unix.PTRACE_SEIZE, unix.EPERM},
		{unix.PTRACE_PEEKDATA, unix.ESRCH},
		{unix.PTRACE_CONT, unix.ESRCH},
		{unix.PTRACE_GETREGS, unix.ESRCH},
	}
	for _, tt := range tests {
		// The request is an int: garbage in the upper half is ignored.
		ret, ok := answer(t, &fakeContext{}, unix.SYS_PTRACE, Regs{uint64(tt.req) | 0xdead<<32, 1234})
		assert.True(t, ok, "request %d: got run on the host, want refused", tt.req)
		assert.Equal(t, -int64(tt.want), ret, "request %d", tt.req)
	}
}

func TestSeccompListenerRefused(t *testing.T) {
	const arg = 0x1000
	mem := func(action uint32) map[uint64][]byte {
		return map[uint64][]byte{arg: binary.LittleEndian.AppendUint32(nil, action)}
	}
	tests := []struct {
		name   string
		r      Regs
		mem    map[uint64][]byte
		want   unix.Errno
		native bool
	}{
		{name: "filter", r: Regs{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, arg}, native: true},
		{name: "filter with a listener", r: Regs{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, arg},
			want: unix.EINVAL},
		{name: "notification sizes", r: Regs{unix.SECCOMP_GET_NOTIF_SIZES, 0, arg}, want: unix.EINVAL},
		{name: "user notification available?", r: Regs{unix.SECCOMP_GET_ACTION_AVAIL, 0, arg},
			mem: mem(unix.SECCOMP_RET_USER_NOTIF), want: unix.EOPNOTSUPP},
		{name: "trace available?", r: Regs{unix.SECCOMP_GET_ACTION_AVAIL, 0, arg},
			mem: mem(unix.SECCOMP_RET_TRACE), native: true},
		{name: "unreadable action", r: Regs{unix.SECCOMP_GET_ACTION_AVAIL, 0, arg}, native: true},
		{name: "strict mode", r: Regs{unix.SECCOMP_SET_MODE_STRICT}, native: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ret, ok := answer(t, &fakeContext{mem: tt.mem}, unix.SYS_SECCOMP, tt.r)
			if tt.native {
				assert.False(t, ok, "got refused with %d, want run on the host", ret)
				return
			}
			assert.True(t, ok, "got run on the host, want refused")
			assert.Equal(t, -int64(tt.want), ret)
		})
	}
}

// A Context that cannot restrict io_uring rings refuses them as a kernel
// without io_uring.
func TestIoUringWithoutRestrictions(t *testing.T) {
	ret, ok := answer(t, &fakeContext{}, unix.SYS_IO_URING_SETUP, Regs{4, 0x1000})
	assert.True(t, ok)
	assert.Equal(t, -int64(unix.ENOSYS), ret)
}
