package hostmm

import (
	"fmt"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// fakeTracee records the calls injected in it and answers them with ret
// (0 for a call not in it); it has no memory.
type fakeTracee struct {
	calls []string
	ret   map[uintptr]int64
}

func (f *fakeTracee) Inject(nr uintptr, args ...uint64) (int64, error) {
	f.calls = append(f.calls, fmt.Sprintf("%d%#x", nr, args))
	return f.ret[nr], nil
}
func (f *fakeTracee) ReadMem(uint64, []byte) error  { return unix.EFAULT }
func (f *fakeTracee) WriteMem(uint64, []byte) error { return unix.EFAULT }
func (f *fakeTracee) Pid() int                      { return os.Getpid() }
func (f *fakeTracee) Tid() int                      { return unix.Gettid() }
func (f *fakeTracee) WithScratch([]byte, func(uint64) error) error {
	return ErrNoScratch
}

// call is how fakeTracee records a call.
func call(nr uintptr, args ...uint64) string { return fmt.Sprintf("%d%#x", nr, args) }

// TestMeminfoShort: emulated FREE frees at once only when less than a
// tenth of memory is available.
func TestMeminfoShort(t *testing.T) {
	for text, short := range map[string]bool{
		"MemTotal:       24000000 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n": false,
		"MemTotal:       24000000 kB\nMemFree:          100000 kB\nMemAvailable:    2000000 kB\n": true,
		"MemTotal:       24000000 kB\nMemFree:          100000 kB\n":                              false, // no MemAvailable (before 3.14): total only
		"": false,
	} {
		assert.Equal(t, short, meminfoShort(text), "%q", text)
	}
}

// TestEmulateDontneedLocked: a locked piece is unlocked, discarded and
// locked again with its lock mode; an unlocked one only discarded.
func TestEmulateDontneedLocked(t *testing.T) {
	const a, b = 0x10000, 0x20000
	locked := mm.VMA{Start: a, End: b, Flags: mm.VMRead | mm.VMWrite | mm.VMLocked | mm.VMLockOnFault}
	plain := mm.VMA{Start: b, End: b + 0x1000, Flags: mm.VMRead}
	tr := &fakeTracee{}
	e := NewBackend(tr, EmulationSet{EmulateDontneedLocked: true}).EmulateAdvice(unix.MADV_DONTNEED_LOCKED,
		[]mm.MadviseRange{{Start: a, End: b, VMA: locked}, {Start: b, End: b + 0x1000, VMA: plain}})
	assert.Zero(t, e)
	assert.Equal(t, []string{
		call(unix.SYS_MUNLOCK, a, b-a),
		call(unix.SYS_MADVISE, a, b-a, unix.MADV_DONTNEED),
		call(unix.SYS_MLOCK2, a, b-a, unix.MLOCK_ONFAULT),
		call(unix.SYS_MADVISE, b, 0x1000, unix.MADV_DONTNEED),
	}, tr.calls)
}

// TestBackendPopulateErrno: the host's populate errors reach the model as
// madvise_populate returns them; anything unexpected is ENOMEM.
func TestBackendPopulateErrno(t *testing.T) {
	r := mm.MadviseRange{Start: 0x10000, End: 0x11000}
	for host, want := range map[int64]unix.Errno{
		0: 0, -int64(unix.EFAULT): unix.EFAULT, -int64(unix.EHWPOISON): unix.EHWPOISON,
		-int64(unix.EINTR): unix.EINTR, -int64(unix.EINVAL): unix.ENOMEM,
	} {
		tr := &fakeTracee{ret: map[uintptr]int64{unix.SYS_MADVISE: host}}
		assert.Equal(t, want, NewBackend(tr, nil).Populate(r, true), "host %d", host)
		assert.Equal(t, []string{call(unix.SYS_MADVISE, r.Start, 0x1000, unix.MADV_POPULATE_WRITE)}, tr.calls)
	}
}

// TestPagemapRuns reads this process's own pagemap: the touched pages of
// a fresh mapping form the present runs.
func TestPagemapRuns(t *testing.T) {
	size := 4 * os.Getpagesize()
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(b)
	for _, page := range []int{0, 1, 3} {
		b[page*os.Getpagesize()] = 1
	}
	start := uint64(uintptr(unsafe.Pointer(&b[0])))
	present := func(_, entry uint64) bool { return entry&abi.PM_PRESENT != 0 }
	assert.Equal(t, [][2]uint64{{start, start + 2*mm.PageSize}, {start + 3*mm.PageSize, start + 4*mm.PageSize}},
		PagemapRuns(os.Getpid(), start, start+uint64(size), present))
}
