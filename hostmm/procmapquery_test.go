package hostmm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

func queryModel(t *testing.T) *mm.AddressSpace {
	t.Helper()
	lines, err := mm.ParseMaps(`00400000-00401000 r-xp 00001000 08:01 1234 /bin/x
00401000-00403000 rw-p 00000000 00:00 0
00600000-00601000 rw-s 00000000 00:05 77 /dev/zero (deleted)
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
`)
	require.NoError(t, err)
	return mm.FromMaps(lines)
}

// TestAnswerProcmapQuery: the VMA at (or after) the address that passes
// the filters, and its fields; the name when asked for and there is one.
func TestAnswerProcmapQuery(t *testing.T) {
	as := queryModel(t)
	const (
		r, w, x, s = abi.PROCMAP_QUERY_VMA_READABLE, abi.PROCMAP_QUERY_VMA_WRITABLE, abi.PROCMAP_QUERY_VMA_EXECUTABLE, abi.PROCMAP_QUERY_VMA_SHARED
		next, file = abi.PROCMAP_QUERY_COVERING_OR_NEXT_VMA, abi.PROCMAP_QUERY_FILE_BACKED_VMA
	)
	for _, c := range []struct {
		addr, flags uint64
		start       uint64 // 0: errno
		vmaFlags    uint64
		errno       unix.Errno
	}{
		{addr: 0x400800, start: 0x400000, vmaFlags: r | x},
		{addr: 0x403000, errno: unix.ENOENT},
		{addr: 0x403000, flags: next, start: 0x600000, vmaFlags: r | w | s},
		{addr: 0x400000, flags: w, errno: unix.ENOENT},
		{addr: 0x400000, flags: w | next, start: 0x401000, vmaFlags: r | w},
		{addr: 0x401000, flags: file | next, start: 0x600000, vmaFlags: r | w | s},
		{addr: 0x400000, flags: s | next, start: 0x600000, vmaFlags: r | w | s},
		{addr: 0x601000, flags: next, errno: unix.ENOENT}, // only [vsyscall] after
		{addr: 0x400000, flags: 0x40, errno: unix.EINVAL},
	} {
		q := abi.ProcmapQuery{Size: abi.ProcmapQuerySize, QueryAddr: c.addr, QueryFlags: c.flags}
		name, errno := answerProcmapQuery(as, &q)
		assert.Equal(t, c.errno, errno, "%#x flags %#x", c.addr, c.flags)
		assert.Nil(t, name)
		if c.errno == 0 {
			assert.Equal(t, c.start, q.VMAStart, "%#x flags %#x", c.addr, c.flags)
			assert.Equal(t, c.vmaFlags, q.VMAFlags, "%#x flags %#x", c.addr, c.flags)
			assert.Equal(t, uint64(mm.PageSize), q.VMAPageSize)
		}
	}

	q := abi.ProcmapQuery{Size: abi.ProcmapQuerySize, QueryAddr: 0x400000, VMANameSize: 64, VMANameAddr: 1, BuildIDSize: 20, BuildIDAddr: 2}
	name, errno := answerProcmapQuery(as, &q)
	require.Zero(t, errno)
	assert.Equal(t, "/bin/x\x00", string(name))
	assert.Equal(t, abi.ProcmapQuery{Size: abi.ProcmapQuerySize, QueryAddr: 0x400000, VMAStart: 0x400000, VMAEnd: 0x401000,
		VMAFlags: r | x, VMAPageSize: mm.PageSize, VMAOffset: 0x1000, Inode: 1234, DevMajor: 8, DevMinor: 1,
		VMANameSize: 7, VMANameAddr: 1, BuildIDAddr: 2}, q)

	q = abi.ProcmapQuery{QueryAddr: 0x400000, VMANameSize: 6, VMANameAddr: 1}
	_, errno = answerProcmapQuery(as, &q)
	assert.Equal(t, unix.ENAMETOOLONG, errno)
	q = abi.ProcmapQuery{QueryAddr: 0x401000, VMANameSize: 6, VMANameAddr: 1}
	name, errno = answerProcmapQuery(as, &q)
	assert.Zero(t, errno)
	assert.Nil(t, name)
	assert.Zero(t, q.VMANameSize, "no name: size 0")
	q = abi.ProcmapQuery{QueryAddr: 0x401000, VMANameSize: 6}
	_, errno = answerProcmapQuery(as, &q)
	assert.Equal(t, unix.EINVAL, errno, "a name size without an address")
}

// TestProcmapQuery: the struct is read from and written back to the
// tracee up to its size, the name to its address.
func TestProcmapQuery(t *testing.T) {
	as := queryModel(t)
	tr := newMemTracee(0x10000, 0x1000)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(tr.mem[off:], v) }
	get := func(off int) uint64 { return binary.LittleEndian.Uint64(tr.mem[off:]) }
	put(0, abi.ProcmapQuerySize)
	put(16, 0x400000)
	binary.LittleEndian.PutUint32(tr.mem[80:], 16)
	put(88, 0x10200)
	require.Equal(t, int64(0), ProcmapQuery(tr, as, 0x10000))
	assert.Equal(t, uint64(0x400000), get(24))
	assert.Equal(t, uint64(0x401000), get(32))
	assert.Equal(t, uint64(1234), get(64))
	assert.Equal(t, uint32(7), binary.LittleEndian.Uint32(tr.mem[80:]))
	assert.Equal(t, "/bin/x\x00", string(tr.mem[0x200:0x207]))

	// An older, shorter struct: only its bytes are written.
	clear(tr.mem)
	put(0, 32)
	put(16, 0x400000)
	put(32, 0xdead)
	require.Equal(t, int64(0), ProcmapQuery(tr, as, 0x10000))
	assert.Equal(t, uint64(0x400000), get(24))
	assert.Equal(t, uint64(0xdead), get(32))

	put(0, 16)
	assert.Equal(t, -int64(unix.EINVAL), ProcmapQuery(tr, as, 0x10000))
	assert.Equal(t, -int64(unix.EFAULT), ProcmapQuery(tr, as, 0x20000))
	put(0, abi.ProcmapQuerySize)
	put(16, 0x403000)
	assert.Equal(t, -int64(unix.ENOENT), ProcmapQuery(tr, as, 0x10000))
}
