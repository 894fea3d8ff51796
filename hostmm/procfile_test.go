package hostmm

import (
	"encoding/binary"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// memTracee is a Tracee with one region of memory, whose injected calls
// are recorded and answered by onInject (0 if nil).
type memTracee struct {
	base     uint64
	mem      []byte
	scratch  uint64 // WithScratch's address; 0: no room
	injected [][]uint64
	onInject func(nr uintptr, args []uint64) int64
}

var _ Tracee = (*memTracee)(nil)

func newMemTracee(base uint64, size int) *memTracee {
	return &memTracee{base: base, mem: make([]byte, size)}
}

func (f *memTracee) at(addr uint64, n int) ([]byte, error) {
	if addr < f.base || addr+uint64(n) > f.base+uint64(len(f.mem)) {
		return nil, unix.EFAULT
	}
	return f.mem[addr-f.base : addr-f.base+uint64(n)], nil
}

func (f *memTracee) ReadMem(addr uint64, b []byte) error {
	m, err := f.at(addr, len(b))
	if err == nil {
		copy(b, m)
	}
	return err
}

func (f *memTracee) WriteMem(addr uint64, b []byte) error {
	m, err := f.at(addr, len(b))
	if err == nil {
		copy(m, b)
	}
	return err
}

func (f *memTracee) Inject(nr uintptr, args ...uint64) (int64, error) {
	f.injected = append(f.injected, append([]uint64{uint64(nr)}, args...))
	if f.onInject == nil {
		return 0, nil
	}
	return f.onInject(nr, args), nil
}

func (f *memTracee) Pid() int { return os.Getpid() }
func (f *memTracee) Tid() int { return os.Getpid() }

func (f *memTracee) WithScratch(data []byte, use func(addr uint64) error) error {
	if f.scratch == 0 {
		return ErrNoScratch
	}
	if err := f.WriteMem(f.scratch, data); err != nil {
		return ErrNoScratch
	}
	return use(f.scratch)
}

// guardedModel maps n private pages in this process, touches the first,
// and returns their address and a model of this process (from its maps)
// with a guard page at index guard.
func guardedModel(t *testing.T, n, guard int) (uint64, *mm.AddressSpace) {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n*int(mm.PageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Munmap(b) })
	b[0] = 1
	base := uint64(uintptr(unsafe.Pointer(&b[0])))
	lines, err := ReadMaps(os.Getpid())
	require.NoError(t, err)
	as := mm.FromMaps(lines)
	g := base + uint64(guard)*mm.PageSize
	require.NoError(t, as.AddGuards(g, g+mm.PageSize))
	return base, as
}

// TestPagemapRead: the host's entries, with the model's guard page shown
// as a marker (swap and guard bits); a misaligned read is EINVAL.
func TestPagemapRead(t *testing.T) {
	base, as := guardedModel(t, 3, 2)
	tr := newMemTracee(0x10000, 0x1000)
	n, errno := PagemapRead(tr, os.Getpid(), as, 0x10000, 24, base/mm.PageSize*8)
	require.Zero(t, errno)
	require.Equal(t, int64(24), n)
	e := func(i int) uint64 { return binary.LittleEndian.Uint64(tr.mem[8*i:]) }
	assert.NotZero(t, e(0)&abi.PM_PRESENT, "touched page: got %#x", e(0))
	assert.Zero(t, e(1)&(abi.PM_PRESENT|abi.PM_GUARD_REGION), "untouched page: got %#x", e(1))
	assert.Equal(t, uint64(abi.PM_SWAP|abi.PM_GUARD_REGION), e(2)&^abi.PMGuardFrame, "guard page: got %#x", e(2))

	_, errno = PagemapRead(tr, os.Getpid(), as, 0x10000, 8, base/mm.PageSize*8+4)
	assert.Equal(t, unix.EINVAL, errno)
	_, errno = PagemapRead(tr, os.Getpid(), as, 0x20000, 8, base/mm.PageSize*8)
	assert.Equal(t, unix.EFAULT, errno)
}

// TestMemAccess: an access of /proc/PID/mem is injected as pread64 or
// pwrite64 cut short at the model's first guard page, and EIO when it
// starts on one.
func TestMemAccess(t *testing.T) {
	base, as := guardedModel(t, 3, 2)
	guard := base + 2*mm.PageSize
	tr := newMemTracee(0x10000, 0x1000)
	tr.onInject = func(nr uintptr, args []uint64) int64 { return int64(args[2]) }

	n, errno := MemAccess(tr, as, 7, false, 0x10000, 0x100, base)
	assert.Equal(t, int64(0x100), n)
	assert.Zero(t, errno)
	n, errno = MemAccess(tr, as, 7, true, 0x10000, 0x100, guard-0x10)
	assert.Equal(t, int64(0x10), n)
	assert.Zero(t, errno)
	assert.Equal(t, [][]uint64{
		{unix.SYS_PREAD64, 7, 0x10000, 0x100, base},
		{unix.SYS_PWRITE64, 7, 0x10000, 0x10, guard - 0x10},
	}, tr.injected)

	tr.injected = nil
	_, errno = MemAccess(tr, as, 7, false, 0x10000, 0x100, guard+8)
	assert.Equal(t, unix.EIO, errno)
	assert.Empty(t, tr.injected)

	tr.onInject = func(uintptr, []uint64) int64 { return -int64(unix.EBADF) }
	_, errno = MemAccess(tr, as, 7, false, 0x10000, 0x100, base)
	assert.Equal(t, unix.EBADF, errno)
}
