package hostmm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// filterAction runs a compiled filter on one syscall, as the kernel would.
func filterAction(insns []bpf.Instruction, arch uint32, nr int32, args [6]uint64) (linux.BPFAction, error) {
	p, err := bpf.Compile(insns, false)
	if err != nil {
		return 0, err
	}
	d := linux.SeccompData{Nr: nr, Arch: arch}
	d.Args = args
	buf := make([]byte, d.SizeBytes())
	ret, err := bpf.Exec[bpf.NativeEndian](p, seccomp.DataAsBPFInput(&d, buf))
	return linux.BPFAction(ret), err
}

// TestFdAccessFilter: the filter added for a pagemap or mem fd traces the
// given calls on that fd (whatever the upper half of the argument), fcntl
// only with the given commands, and allows everything else, foreign ABIs included (the main
// filter decides those).
func TestFdAccessFilter(t *testing.T) {
	var calls []FdTrap
	for _, nr := range []uintptr{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV,
		unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_PREADV2, unix.SYS_PWRITEV2, unix.SYS_DUP, unix.SYS_DUP3} {
		calls = append(calls, FdTrap{Nr: nr})
	}
	calls = append(calls, FdTrap{Nr: unix.SYS_FCNTL, Arg1: []uint32{unix.F_DUPFD, unix.F_DUPFD_CLOEXEC}})
	calls = append(calls, FdTrap{Nr: unix.SYS_DUP2})
	insns := FdAccessFilter(5, calls)
	// Its length is how many fd numbers a process can have traced.
	assert.LessOrEqual(t, len(insns), 22)
	for _, c := range []struct {
		arch  uint32
		nr    int32
		fd    uint64
		trace bool
	}{
		{linux.AUDIT_ARCH_X86_64, 0, 5, true},              // read
		{linux.AUDIT_ARCH_X86_64, 1, 5, true},              // write
		{linux.AUDIT_ARCH_X86_64, 0, 0xdead<<32 | 5, true}, // an int: low 32 bits
		{linux.AUDIT_ARCH_X86_64, 0, 6, false},
		{linux.AUDIT_ARCH_X86_64, 17, 5, false}, // pread64: not in calls (the main filter's)
		{linux.AUDIT_ARCH_X86_64, 19, 5, true},  // readv
		{linux.AUDIT_ARCH_X86_64, 296, 5, true}, // pwritev
		{linux.AUDIT_ARCH_X86_64, 327, 5, true}, // preadv2
		{linux.AUDIT_ARCH_X86_64, 3, 5, false},  // close
		{linux.AUDIT_ARCH_X86_64, 32, 5, true},  // dup
		{linux.AUDIT_ARCH_X86_64, 292, 5, true}, // dup3
		{linux.AUDIT_ARCH_X86_64, 33, 5, true},  // dup2
		{linux.AUDIT_ARCH_X86_64, 33, 6, false},
		{linux.AUDIT_ARCH_X86_64, 72, 6, false}, // fcntl on another fd
		{0x40000003, 3, 5, false},               // i386 read
	} {
		got, err := filterAction(insns, c.arch, c.nr, [6]uint64{c.fd})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if c.trace {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "arch %#x nr %d fd %#x", c.arch, c.nr, c.fd)
		if c.trace {
			// The sentry's own stops carry its data.
			assert.Equal(t, linux.BPFAction(TraceData), got&linux.SECCOMP_RET_DATA)
		}
	}
	// fcntl only for the commands that copy the fd.
	for cmd, trace := range map[uint64]bool{0 /* F_DUPFD */ : true, 0x406 /* F_DUPFD_CLOEXEC */ : true, 3 /* F_GETFL */ : false, 1 << 32 /* F_DUPFD in the upper half: an int */ : true} {
		got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, 72, [6]uint64{5, cmd})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if trace {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "fcntl cmd %#x", cmd)
	}
}

// TestInstallFilter: the injected seccomp gets a struct sock_fprog in
// scratch room whose filter pointer follows it, with the instructions in
// the kernel's layout; no scratch room is ErrNoScratch.
func TestInstallFilter(t *testing.T) {
	insns := []bpf.Instruction{{OpCode: 0x06, JumpIfTrue: 1, JumpIfFalse: 2, K: 0x7fff0000}}
	tr := newMemTracee(0x10000, 0x1000)
	tr.scratch = 0x10100
	var prog []byte
	tr.onInject = func(nr uintptr, args []uint64) int64 {
		prog = make([]byte, 24)
		require.NoError(t, tr.ReadMem(args[2], prog))
		return 0
	}
	ret, err := InstallFilter(tr, insns)
	require.NoError(t, err)
	assert.Equal(t, int64(0), ret)
	require.Len(t, tr.injected, 1)
	assert.Equal(t, []uint64{unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, 0x10100}, tr.injected[0])
	assert.Equal(t, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01, 0x01, 0, 0, 0, 0, 0, 0x06, 0, 1, 2, 0, 0, 0xff, 0x7f}, prog)

	tr.scratch = 0
	_, err = InstallFilter(tr, insns)
	assert.ErrorIs(t, err, ErrNoScratch)
}
