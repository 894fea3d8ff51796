package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// updateHost is a fake Host for the model updates: the calling process's
// memory, open files, /proc/PID/maps and driver flags.
type updateHost struct {
	// mem is tracee memory: region start -> bytes.
	mem map[uint64][]byte
	// files are the open files by fd; Backing.Writable is the open mode.
	files map[int]updateFile
	// maps is the host's /proc/PID/maps text, for MapsLineAt.
	maps string
	// drivers are the DriverFlags of the host's VMAs, by VMA start.
	drivers map[uint64]mm.VMFlags
	// flags are the VmFlags of the host's VMAs (in maps), by VMA start.
	flags map[uint64]mm.VMFlags

	// lines is maps parsed (by the runner).
	lines []mm.MapsLine
	// modeAsked records FileBacking's withMode, by fd.
	modeAsked map[int]bool
}

type updateFile struct {
	b       mm.Backing
	regular bool
}

var _ Host = (*updateHost)(nil)

func (h *updateHost) region(addr uint64) ([]byte, bool) {
	for base, b := range h.mem {
		if addr >= base && addr < base+uint64(len(b)) {
			return b[addr-base:], true
		}
	}
	return nil, false
}

func (h *updateHost) ReadBytes(addr uint64, n int) ([]byte, error) {
	b, ok := h.region(addr)
	if !ok || len(b) < n {
		return nil, unix.EFAULT
	}
	return append([]byte(nil), b[:n]...), nil
}

func (h *updateHost) ReadString(addr uint64, max int) (string, error) {
	b, ok := h.region(addr)
	if !ok {
		return "", unix.EFAULT
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > max {
		b = b[:max]
	}
	return string(b), nil
}

func (h *updateHost) FileBacking(fd int, withMode bool) (mm.Backing, bool, error) {
	h.modeAsked[fd] = withMode
	f, ok := h.files[fd]
	if !ok {
		return mm.Backing{}, false, unix.EBADF
	}
	b := f.b
	b.Writable = withMode && f.b.Writable
	return b, f.regular, nil
}

func (h *updateHost) MapsLineAt(addr uint64) (mm.MapsLine, bool) {
	for _, l := range h.lines {
		if l.Start <= addr && addr < l.End {
			return l, true
		}
	}
	return mm.MapsLine{}, false
}

func (h *updateHost) VMFlags(addr uint64) (mm.VMFlags, bool) {
	for start, f := range h.flags {
		if l, ok := h.MapsLineAt(start); ok && l.Start <= addr && addr < l.End {
			return f, true
		}
	}
	return 0, false
}

func (h *updateHost) DriverFlags(addr uint64) (mm.VMFlags, bool) {
	f, ok := h.drivers[addr]
	return f, ok
}

// updateCase is one model update: the model before (a maps text, plus what
// maps cannot show), the host, the call and its result, and the model and
// spans it should leave.
type updateCase struct {
	name   string
	before string
	setup  func(as *mm.AddressSpace)
	host   updateHost
	nr     uintptr
	// fn, if set, is the update to run instead of modelUpdate(nr)'s.
	fn   Update
	args [6]uint64
	ret  int64
	// want is the model's maps text after the update; "" means the model
	// must not change at all (VMAs, brk, def_flags).
	want  string
	spans []Span
	check func(t *testing.T, as *mm.AddressSpace, h *updateHost)
}

// renderMaps renders lines as the kernel prints them, one per line.
func renderMaps(lines []mm.MapsLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func runUpdates(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, err := mm.ParseMaps(c.before)
			require.NoError(t, err, "parsing the model's maps")
			as := mm.FromMaps(lines)
			if c.setup != nil {
				c.setup(as)
			}
			require.NoError(t, as.Validate(), "model before the update")
			h := c.host
			h.lines, err = mm.ParseMaps(h.maps)
			require.NoError(t, err, "parsing the host's maps")
			h.modeAsked = make(map[int]bool)
			orig := as.Clone()

			update := c.fn
			if update == nil {
				update = modelUpdate(c.nr, c.args)
			}
			if update == nil {
				// Not followed at all: fine only for a call that must
				// change nothing.
				require.True(t, c.want == "" && c.spans == nil,
					"modelUpdate(%s): got nil, want an update", Name(c.nr))
				return
			}
			got := update(as, &h, c.args, c.ret)

			assert.Equal(t, c.spans, got, "spans: got %#v, want %#v", got, c.spans)
			if c.want == "" {
				assert.Equal(t, orig.VMAs(), as.VMAs(), "VMAs: got changed, want unchanged")
				assert.Equal(t, orig.DefFlags, as.DefFlags, "def_flags: got %v, want %v", as.DefFlags, orig.DefFlags)
				gotStart, gotBrk := as.Brk()
				wantStart, wantBrk := orig.Brk()
				assert.Equal(t, [2]uint64{wantStart, wantBrk}, [2]uint64{gotStart, gotBrk}, "start_brk, brk: got changed, want unchanged")
			} else {
				wantLines, err := mm.ParseMaps(c.want)
				require.NoError(t, err, "parsing the wanted maps")
				gotText, wantText := renderMaps(as.Maps()), renderMaps(wantLines)
				assert.Equal(t, wantText, gotText, "maps: got\n%s\nwant\n%s", gotText, wantText)
			}
			assert.NoError(t, as.Validate(), "model after the update")
			if c.check != nil {
				c.check(t, as, &h)
			}
		})
	}
}

// vmaAt returns the model's VMA containing addr.
func vmaAt(t *testing.T, as *mm.AddressSpace, addr uint64) mm.VMA {
	t.Helper()
	v, ok := as.Find(addr)
	require.True(t, ok, "VMA at %#x: got none, want one", addr)
	return v
}

// assertFlags checks the flags in mask of the VMA containing addr.
func assertFlags(t *testing.T, as *mm.AddressSpace, addr uint64, mask, want mm.VMFlags) {
	t.Helper()
	got := vmaAt(t, as, addr).Flags & mask
	assert.Equal(t, want, got, "flags at %#x (of %v): got %v, want %v", addr, mask, got, want)
}

// flagsIs returns a check that the flags in mask of the VMA at addr are want.
func flagsIs(addr uint64, mask, want mm.VMFlags) func(*testing.T, *mm.AddressSpace, *updateHost) {
	return func(t *testing.T, as *mm.AddressSpace, _ *updateHost) {
		assertFlags(t, as, addr, mask, want)
	}
}

// checks runs several checks.
func checks(fs ...func(*testing.T, *mm.AddressSpace, *updateHost)) func(*testing.T, *mm.AddressSpace, *updateHost) {
	return func(t *testing.T, as *mm.AddressSpace, h *updateHost) {
		for _, f := range fs {
			f(t, as, h)
		}
	}
}

// le64 encodes words little-endian, as tracee memory holds them.
func le64(w ...uint64) []byte {
	b := make([]byte, 8*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

const (
	allFlags = ^mm.VMFlags(0)
	mayRWX   = mm.VMMayRead | mm.VMMayWrite | mm.VMMayExec
	rw       = unix.PROT_READ | unix.PROT_WRITE
	noFd     = ^uint64(0) // fd -1
	anonPriv = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
)

func errno(e unix.Errno) int64 { return -int64(e) }

// anon4 is one private anonymous VMA of four pages.
const anon4 = "10000000-10004000 rw-p 00000000 00:00 0\n"

func TestModelUpdateSelects(t *testing.T) {
	for _, c := range []struct {
		nr   uintptr
		want bool
	}{
		{unix.SYS_MMAP, true},
		{unix.SYS_MUNMAP, true},
		{unix.SYS_MPROTECT, true},
		{unix.SYS_PKEY_MPROTECT, true},
		{unix.SYS_MREMAP, true},
		{unix.SYS_BRK, true},
		{unix.SYS_MSEAL, true},
		{unix.SYS_MLOCK, true},
		{unix.SYS_MLOCK2, true},
		{unix.SYS_MUNLOCK, true},
		{unix.SYS_MLOCKALL, true},
		{unix.SYS_MUNLOCKALL, true},
		{unix.SYS_SHMAT, true},
		{unix.SYS_SHMDT, true},
		{unix.SYS_PRCTL, true},
		// madvise is answered from the model, not followed.
		{unix.SYS_MADVISE, false},
		{unix.SYS_READ, false},
		{unix.SYS_GETPID, false},
	} {
		args := [6]uint64{}
		if c.nr == unix.SYS_PRCTL {
			args[0] = unix.PR_SET_VMA
		}
		got := modelUpdate(c.nr, args) != nil
		assert.Equal(t, c.want, got, "modelUpdate(%s) != nil: got %v, want %v", Name(c.nr), got, c.want)
	}
}

func TestMmapUpdate(t *testing.T) {
	files := map[int]updateFile{
		3: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 8, DevMinor: 1, Inode: 555, Path: "/data/f", Writable: true}, regular: true},
		4: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 8, DevMinor: 1, Inode: 556, Path: "/data/g", Writable: true}, regular: true},
		5: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 8, DevMinor: 1, Inode: 557, Path: "/data/ro"}, regular: true},
		6: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 0, DevMinor: 6, Inode: 4, Path: "/dev/zero", Writable: true}},
		7: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 0, DevMinor: 6, Inode: 77, Path: "/dev/fb0", Writable: true}},
		8: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 0, DevMinor: 16, Inode: 1038, Path: "anon_inode:[perf_event]", Writable: true}},
		9: {b: mm.Backing{Kind: mm.BackingFile, DevMajor: 0, DevMinor: 14, Inode: 99, Path: "/secretmem (deleted)", Writable: true}, regular: true},
	}
	special := mm.VMIO | mm.VMPFNMap | mm.VMDontExpand | mm.VMDontDump
	runUpdates(t, []updateCase{
		{
			name:   "private anon, length rounded up, merges with the anon VMA before",
			before: "10000000-10002000 rw-p 00000000 00:00 0",
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0x10002000, 0x1800, rw, anonPriv | unix.MAP_FIXED, noFd, 0},
			ret:    0x10002000,
			want:   "10000000-10004000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x10002000, 0x10004000}},
			check:  flagsIs(0x10003000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMAccount),
		},
		{
			name:   "MAP_FIXED over a VMA replaces that part",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0x10001000, 0x1000, unix.PROT_READ, anonPriv | unix.MAP_FIXED, noFd, 0},
			ret:    0x10001000,
			want: `10000000-10001000 rw-p 00000000 00:00 0
10001000-10002000 r--p 00000000 00:00 0
10002000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10001000, 0x10002000}},
			check: flagsIs(0x10001000, allFlags, mm.VMRead|mayRWX),
		},
		{
			name:   "MAP_NORESERVE: not accounted",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, anonPriv | unix.MAP_NORESERVE, noFd, 0},
			ret:    0x20000000,
			want:   anon4 + "20000000-20002000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x20000000, 0x20002000}},
			check:  flagsIs(0x20000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMNoReserve),
		},
		{
			name:   "failure: no change",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0x10004000, 0x2000, rw, anonPriv, noFd, 0},
			ret:    errno(unix.ENOMEM),
		},
		{
			name:   "shared anon: shmem identity from the host's maps, pgoff ignored",
			before: anon4,
			host:   updateHost{maps: "20000000-20002000 rw-s 00000000 00:01 4242 /dev/zero (deleted)"},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_SHARED | unix.MAP_ANONYMOUS, noFd, 0x5000},
			ret:    0x20000000,
			want:   anon4 + "20000000-20002000 rw-s 00000000 00:01 4242 /dev/zero (deleted)",
			spans:  []Span{{0x20000000, 0x20002000}},
			check:  flagsIs(0x20000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMShared|mm.VMMayShare),
		},
		{
			name:   "private file at its offset: no open mode read, no driver flags",
			before: anon4,
			host:   updateHost{files: files, drivers: map[uint64]mm.VMFlags{0x30000000: special}},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2800, unix.PROT_READ, unix.MAP_PRIVATE, 3, 0x2000},
			ret:    0x30000000,
			want:   anon4 + "30000000-30003000 r--p 00002000 08:01 555 /data/f",
			spans:  []Span{{0x30000000, 0x30003000}},
			check: checks(flagsIs(0x30000000, allFlags, mm.VMRead|mayRWX),
				func(t *testing.T, _ *mm.AddressSpace, h *updateHost) {
					assert.Equal(t, map[int]bool{3: false}, h.modeAsked, "FileBacking withMode by fd: got %v, want %v", h.modeAsked, map[int]bool{3: false})
				}),
		},
		{
			name:   "private writable file: accounted",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x1000, rw, unix.MAP_PRIVATE, 3, 0},
			ret:    0x30000000,
			want:   anon4 + "30000000-30001000 rw-p 00000000 08:01 555 /data/f",
			spans:  []Span{{0x30000000, 0x30001000}},
			check:  flagsIs(0x30000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMAccount),
		},
		{
			name:   "shared file opened for writing: VM_SHARED",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x1000, rw, unix.MAP_SHARED, 4, 0},
			ret:    0x30000000,
			want:   anon4 + "30000000-30001000 rw-s 00000000 08:01 556 /data/g",
			spans:  []Span{{0x30000000, 0x30001000}},
			check: checks(flagsIs(0x30000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMShared|mm.VMMayShare),
				func(t *testing.T, _ *mm.AddressSpace, h *updateHost) {
					assert.Equal(t, map[int]bool{4: true}, h.modeAsked, "FileBacking withMode by fd: got %v, want %v", h.modeAsked, map[int]bool{4: true})
				}),
		},
		{
			name:   "shared file opened read-only: no VM_SHARED, no VM_MAYWRITE",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x1000, unix.PROT_READ, unix.MAP_SHARED, 5, 0},
			ret:    0x30000000,
			want:   anon4 + "30000000-30001000 r--s 00000000 08:01 557 /data/ro",
			spans:  []Span{{0x30000000, 0x30001000}},
			check:  flagsIs(0x30000000, allFlags, mm.VMRead|mm.VMMayRead|mm.VMMayExec|mm.VMMayShare),
		},
		{
			name:   "file failure: no change",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x1000, rw, unix.MAP_SHARED, 5, 0},
			ret:    errno(unix.EACCES),
		},
		{
			name:   "/dev/zero shared: a fresh shmem file, not a device",
			before: anon4,
			host: updateHost{files: files, maps: "20000000-20002000 rw-s 00000000 00:01 1144 /dev/zero (deleted)",
				drivers: map[uint64]mm.VMFlags{0x20000000: special}},
			nr:    unix.SYS_MMAP,
			args:  [6]uint64{0, 0x2000, rw, unix.MAP_SHARED, 6, 0},
			ret:   0x20000000,
			want:  anon4 + "20000000-20002000 rw-s 00000000 00:01 1144 /dev/zero (deleted)",
			spans: []Span{{0x20000000, 0x20002000}},
			check: flagsIs(0x20000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMShared|mm.VMMayShare),
		},
		{
			name:   "device: driver flags added, mlockall(MCL_FUTURE) not applied to VM_SPECIAL",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			host:   updateHost{files: files, drivers: map[uint64]mm.VMFlags{0x40000000: special}},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_SHARED, 7, 0},
			ret:    0x40000000,
			want:   anon4 + "40000000-40002000 rw-s 00000000 00:06 77 /dev/fb0",
			spans:  []Span{{0x40000000, 0x40002000}},
			check:  flagsIs(0x40000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMShared|mm.VMMayShare|special),
		},
		{
			name:   "device whose driver sets no VM_SPECIAL flag: mlockall(MCL_FUTURE|MCL_ONFAULT) applies",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked | mm.VMLockOnFault },
			host:   updateHost{files: files, drivers: map[uint64]mm.VMFlags{0x40000000: mm.VMDontDump | mm.VMDontCopy}},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_SHARED, 8, 0},
			ret:    0x40000000,
			want:   anon4 + "40000000-40002000 rw-s 00000000 00:10 1038 anon_inode:[perf_event]",
			spans:  []Span{{0x40000000, 0x40002000}},
			check: flagsIs(0x40000000, mm.DriverFlags|mm.VMLockedMask,
				mm.VMDontDump|mm.VMDontCopy|mm.VMLocked|mm.VMLockOnFault),
		},
		{
			name:   "device without driver flags on the host: none added",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, unix.PROT_READ, unix.MAP_SHARED, 8, 0},
			ret:    0x40000000,
			want:   anon4 + "40000000-40002000 r--s 00000000 00:10 1038 anon_inode:[perf_event]",
			spans:  []Span{{0x40000000, 0x40002000}},
			check:  flagsIs(0x40000000, mm.DriverFlags, 0),
		},
		{
			name:   "MAP_GROWSDOWN",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, anonPriv | unix.MAP_GROWSDOWN, noFd, 0},
			ret:    0x50000000,
			want:   anon4 + "50000000-50002000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x50000000, 0x50002000}},
			check:  flagsIs(0x50000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMAccount|mm.VMGrowsDown),
		},
		{
			// The host's smaps: "rd wr mr mw me nr wf dd dp".
			name:   "MAP_DROPPABLE: private, never accounted, wiped on fork, not dumped",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS, noFd, 0},
			ret:    0x50000000,
			want:   anon4 + "50000000-50002000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x50000000, 0x50002000}},
			check: flagsIs(0x50000000, allFlags,
				mm.VMRead|mm.VMWrite|mayRWX|mm.VMNoReserve|mm.VMDroppable|mm.VMWipeOnFork|mm.VMDontDump),
		},
		{
			name:   "MAP_LOCKED",
			before: anon4,
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, anonPriv | unix.MAP_LOCKED, noFd, 0},
			ret:    0x50000000,
			want:   anon4 + "50000000-50002000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x50000000, 0x50002000}},
			check:  flagsIs(0x50000000, mm.VMLockedMask, mm.VMLocked),
		},
		{
			name:   "MAP_LOCKED on a VM_SPECIAL device: not locked",
			before: anon4,
			host:   updateHost{files: files, drivers: map[uint64]mm.VMFlags{0x40000000: special}},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_SHARED | unix.MAP_LOCKED, 7, 0},
			ret:    0x40000000,
			want:   anon4 + "40000000-40002000 rw-s 00000000 00:06 77 /dev/fb0",
			spans:  []Span{{0x40000000, 0x40002000}},
			check:  flagsIs(0x40000000, mm.VMLockedMask, 0),
		},
		{
			name:   "MAP_DROPPABLE under mlockall(MCL_FUTURE): not locked",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS, noFd, 0},
			ret:    0x50000000,
			want:   anon4 + "50000000-50002000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x50000000, 0x50002000}},
			check:  flagsIs(0x50000000, mm.VMLockedMask, 0),
		},
		{
			name:   "memfd_secret: locked and not dumped by its mmap",
			before: anon4,
			host:   updateHost{files: files},
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0, 0x2000, rw, unix.MAP_SHARED, 9, 0},
			ret:    0x40000000,
			want:   anon4 + "40000000-40002000 rw-s 00000000 00:0e 99 /secretmem (deleted)",
			spans:  []Span{{0x40000000, 0x40002000}},
			check:  flagsIs(0x40000000, mm.VMLockedMask|mm.VMDontDump, mm.VMLocked|mm.VMDontDump),
		},
		{
			name:   "mlockall(MCL_FUTURE|MCL_ONFAULT): new mappings locked on fault",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked | mm.VMLockOnFault },
			nr:     unix.SYS_MMAP,
			args:   [6]uint64{0x10004000, 0x2000, rw, anonPriv, noFd, 0},
			ret:    0x10004000,
			// The lock bits keep it from merging with the VMA before.
			want:  anon4 + "10004000-10006000 rw-p 00000000 00:00 0",
			spans: []Span{{0x10004000, 0x10006000}},
			check: checks(flagsIs(0x10004000, mm.VMLockedMask, mm.VMLocked|mm.VMLockOnFault),
				flagsIs(0x10000000, mm.VMLockedMask, 0)),
		},
	})
}

func TestMmapStackUpdate(t *testing.T) {
	saved := hostHasTHP
	t.Cleanup(func() { hostHasTHP = saved })
	for _, thp := range []bool{false, true} {
		t.Run(fmt.Sprintf("thp=%v", thp), func(t *testing.T) {
			hostHasTHP = func() bool { return thp }
			want := mm.VMFlags(0)
			if thp {
				want = mm.VMNoHugePage
			}
			runUpdates(t, []updateCase{{
				name:   "MAP_STACK",
				before: anon4,
				nr:     unix.SYS_MMAP,
				args:   [6]uint64{0, 0x2000, rw, anonPriv | unix.MAP_STACK, noFd, 0},
				ret:    0x50000000,
				want:   anon4 + "50000000-50002000 rw-p 00000000 00:00 0",
				spans:  []Span{{0x50000000, 0x50002000}},
				check:  flagsIs(0x50000000, mm.VMNoHugePage, want),
			}})
		})
	}
}

func TestMunmapUpdate(t *testing.T) {
	runUpdates(t, []updateCase{
		{
			name:   "unaligned length rounded up",
			before: anon4,
			nr:     unix.SYS_MUNMAP,
			args:   [6]uint64{0x10001000, 0x1800},
			want: `10000000-10001000 rw-p 00000000 00:00 0
10003000-10004000 rw-p 00000000 00:00 0`,
		},
		{
			name: "across a hole and two VMAs",
			before: `10000000-10002000 rw-p 00000000 00:00 0
10003000-10005000 r--p 00000000 08:01 555 /data/f`,
			nr:   unix.SYS_MUNMAP,
			args: [6]uint64{0x10001000, 0x3000},
			want: `10000000-10001000 rw-p 00000000 00:00 0
10004000-10005000 r--p 00001000 08:01 555 /data/f`,
		},
		{
			name:   "failure: no change",
			before: anon4,
			nr:     unix.SYS_MUNMAP,
			args:   [6]uint64{0x10001000, 0x1000},
			ret:    errno(unix.EPERM),
		},
	})
}

func TestMprotectUpdate(t *testing.T) {
	runUpdates(t, []updateCase{
		{
			name:   "success splits",
			before: anon4,
			nr:     unix.SYS_MPROTECT,
			args:   [6]uint64{0x10001000, 0x1000, unix.PROT_READ},
			want: `10000000-10001000 rw-p 00000000 00:00 0
10001000-10002000 r--p 00000000 00:00 0
10002000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10001000, 0x10002000}},
		},
		{
			name:   "pkey_mprotect, unaligned length",
			before: anon4,
			nr:     unix.SYS_PKEY_MPROTECT,
			args:   [6]uint64{0x10000000, 0x1001, unix.PROT_NONE, 0},
			want: `10000000-10002000 ---p 00000000 00:00 0
10002000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10000000, 0x10002000}},
		},
		{
			// The model's walk stops at the same hole: the host's maps are
			// not needed (and there are none here).
			name: "ENOMEM at a hole after a first VMA: the first is changed",
			before: `10000000-10001000 r--p 00000000 00:00 0
10002000-10003000 r--p 00000000 00:00 0`,
			nr:   unix.SYS_MPROTECT,
			args: [6]uint64{0x10000000, 0x3000, rw},
			ret:  errno(unix.ENOMEM),
			want: `10000000-10001000 rw-p 00000000 00:00 0
10002000-10003000 r--p 00000000 00:00 0`,
			spans: []Span{{0x10000000, 0x10003000}},
			check: flagsIs(0x10000000, mm.VMAccount, mm.VMAccount),
		},
		{
			name: "EACCES beyond VM_MAYWRITE after a first VMA, as the model finds it",
			before: `10000000-10001000 r--p 00000000 00:00 0
10001000-10002000 r--s 00000000 08:01 557 /data/ro`,
			nr:   unix.SYS_MPROTECT,
			args: [6]uint64{0x10000000, 0x2000, rw},
			ret:  errno(unix.EACCES),
			want: `10000000-10001000 rw-p 00000000 00:00 0
10001000-10002000 r--s 00000000 08:01 557 /data/ro`,
			spans: []Span{{0x10000000, 0x10002000}},
		},
		{
			// PR_SET_MDWE: --x -> r-x is allowed, rw- -> r-x is not; the
			// model would allow both.
			name: "EACCES the model does not know: protections from the host",
			before: `10000000-10001000 --xp 00000000 08:01 555 /data/f
10001000-10002000 rw-p 00000000 00:00 0`,
			host: updateHost{maps: `10000000-10001000 r-xp 00000000 08:01 555 /data/f
10001000-10002000 rw-p 00000000 00:00 0`},
			nr:   unix.SYS_MPROTECT,
			args: [6]uint64{0x10000000, 0x2000, unix.PROT_READ | unix.PROT_EXEC},
			ret:  errno(unix.EACCES),
			want: `10000000-10001000 r-xp 00000000 08:01 555 /data/f
10001000-10002000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10000000, 0x10002000}},
		},
		{
			name:   "EINVAL: no change",
			before: anon4,
			nr:     unix.SYS_MPROTECT,
			args:   [6]uint64{0x10000001, 0x1000, unix.PROT_READ},
			ret:    errno(unix.EINVAL),
		},
		{
			name:   "PROT_GROWSDOWN extends down to the start of a VM_GROWSDOWN VMA",
			before: "7ffd0000-7ffd4000 rw-p 00000000 00:00 0 [stack]",
			nr:     unix.SYS_MPROTECT,
			args:   [6]uint64{0x7ffd2000, 0x1000, unix.PROT_READ | unix.PROT_GROWSDOWN},
			want: `7ffd0000-7ffd3000 r--p 00000000 00:00 0
7ffd3000-7ffd4000 rw-p 00000000 00:00 0 [stack]`,
			spans: []Span{{0x7ffd0000, 0x7ffd3000}},
			check: flagsIs(0x7ffd0000, mm.VMGrowsDown, mm.VMGrowsDown),
		},
		{
			name:   "PROT_GROWSDOWN without VM_GROWSDOWN: EINVAL, no change",
			before: anon4,
			nr:     unix.SYS_MPROTECT,
			args:   [6]uint64{0x10002000, 0x1000, unix.PROT_READ | unix.PROT_GROWSDOWN},
			ret:    errno(unix.EINVAL),
		},
	})
}

func TestMremapUpdate(t *testing.T) {
	runUpdates(t, []updateCase{
		{
			name:   "move keeps the file offset",
			before: "30000000-30003000 r--p 00000000 08:01 555 /data/f",
			nr:     unix.SYS_MREMAP,
			args:   [6]uint64{0x30001000, 0x1000, 0x1000, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, 0x40000000},
			ret:    0x40000000,
			want: `30000000-30001000 r--p 00000000 08:01 555 /data/f
30002000-30003000 r--p 00002000 08:01 555 /data/f
40000000-40001000 r--p 00001000 08:01 555 /data/f`,
			spans: []Span{{0x40000000, 0x40001000}},
		},
		{
			name:   "grow in place",
			before: "10000000-10002000 rw-p 00000000 00:00 0",
			nr:     unix.SYS_MREMAP,
			args:   [6]uint64{0x10000000, 0x2000, 0x3800, 0},
			ret:    0x10000000,
			want:   anon4,
			spans:  []Span{{0x10000000, 0x10004000}},
		},
		{
			name:   "shrink in place",
			before: anon4,
			nr:     unix.SYS_MREMAP,
			args:   [6]uint64{0x10000000, 0x4000, 0x1000, 0},
			ret:    0x10000000,
			want:   "10000000-10001000 rw-p 00000000 00:00 0",
			spans:  []Span{{0x10000000, 0x10001000}},
		},
		{
			name:   "MREMAP_DONTUNMAP: the old range stays, emptied and unlocked; two spans",
			before: "10000000-10002000 rw-p 00000000 00:00 0",
			setup:  func(as *mm.AddressSpace) { as.SetFlags(0x10000000, 0x10002000, mm.VMLocked, 0) },
			nr:     unix.SYS_MREMAP,
			args:   [6]uint64{0x10000000, 0x2000, 0x2000, unix.MREMAP_MAYMOVE | unix.MREMAP_DONTUNMAP},
			ret:    0x50000000,
			want: `10000000-10002000 rw-p 00000000 00:00 0
50000000-50002000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x50000000, 0x50002000}, {0x10000000, 0x10002000}},
			check: func(t *testing.T, as *mm.AddressSpace, _ *updateHost) {
				old, moved := vmaAt(t, as, 0x10000000), vmaAt(t, as, 0x50000000)
				assert.Zero(t, old.AnonVMA, "old range's anon_vma: got %d, want none", old.AnonVMA)
				assert.NotZero(t, moved.AnonVMA, "moved range's anon_vma: got none, want one")
				assertFlags(t, as, 0x10000000, mm.VMLockedMask, 0)
				assertFlags(t, as, 0x50000000, mm.VMLockedMask, mm.VMLocked)
			},
		},
		{
			name:   "failure: no change",
			before: anon4,
			nr:     unix.SYS_MREMAP,
			args:   [6]uint64{0x10000000, 0x4000, 0x8000, 0},
			ret:    errno(unix.ENOMEM),
		},
	})
}

func TestBrkUpdate(t *testing.T) {
	const heap = `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
01000000-01021000 rw-p 00000000 00:00 0 [heap]
`
	brkIs := func(startBrk, brk uint64) func(*testing.T, *mm.AddressSpace, *updateHost) {
		return func(t *testing.T, as *mm.AddressSpace, _ *updateHost) {
			gotStart, gotBrk := as.Brk()
			assert.Equal(t, [2]uint64{startBrk, brk}, [2]uint64{gotStart, gotBrk},
				"start_brk, brk: got %#x, %#x, want %#x, %#x", gotStart, gotBrk, startBrk, brk)
		}
	}
	runUpdates(t, []updateCase{
		{
			name:   "grow merges with the heap",
			before: heap,
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x1043010},
			ret:    0x1043010,
			want: `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
01000000-01044000 rw-p 00000000 00:00 0 [heap]`,
			spans: []Span{{0x1021000, 0x1044000}},
			check: brkIs(0x1000000, 0x1043010),
		},
		{
			name:   "first grow creates the heap",
			before: "00400000-00401000 r-xp 00000000 08:01 100 /bin/prog",
			setup:  func(as *mm.AddressSpace) { as.SetBrk(0x1000000, 0x1000000) },
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x1002000},
			ret:    0x1002000,
			want: `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
01000000-01002000 rw-p 00000000 00:00 0 [heap]`,
			spans: []Span{{0x1000000, 0x1002000}},
			check: checks(brkIs(0x1000000, 0x1002000),
				flagsIs(0x1000000, allFlags, mm.VMRead|mm.VMWrite|mayRWX|mm.VMAccount)),
		},
		{
			name:   "grow under mlockall(MCL_FUTURE): locked, apart from the heap",
			before: heap,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x1022000},
			ret:    0x1022000,
			want: `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
01000000-01021000 rw-p 00000000 00:00 0 [heap]
01021000-01022000 rw-p 00000000 00:00 0 [heap]`,
			spans: []Span{{0x1021000, 0x1022000}},
			check: checks(brkIs(0x1000000, 0x1022000),
				flagsIs(0x1021000, mm.VMLockedMask, mm.VMLocked),
				flagsIs(0x1000000, mm.VMLockedMask, 0)),
		},
		{
			name:   "shrink",
			before: heap,
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x1010800},
			ret:    0x1010800,
			want: `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
01000000-01011000 rw-p 00000000 00:00 0 [heap]`,
			check: brkIs(0x1000000, 0x1010800),
		},
		{
			name:   "shrink within the last page: only brk moves",
			before: heap,
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x1020800},
			ret:    0x1020800,
			want:   heap,
			check:  brkIs(0x1000000, 0x1020800),
		},
		{
			name:   "unchanged (a refused brk returns the old break)",
			before: heap,
			nr:     unix.SYS_BRK,
			args:   [6]uint64{0x80000000},
			ret:    0x1021000,
		},
		{
			name:   "query (brk(0))",
			before: heap,
			nr:     unix.SYS_BRK,
			ret:    0x1021000,
		},
	})
}

func TestMsealUpdate(t *testing.T) {
	runUpdates(t, []updateCase{
		{
			name:   "seals the range, length rounded up",
			before: anon4,
			nr:     unix.SYS_MSEAL,
			args:   [6]uint64{0x10001000, 0x800, 0},
			want: `10000000-10001000 rw-p 00000000 00:00 0
10001000-10002000 rw-p 00000000 00:00 0
10002000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10001000, 0x10002000}},
			check: checks(flagsIs(0x10001000, mm.VMSealed, mm.VMSealed),
				flagsIs(0x10000000, mm.VMSealed, 0), flagsIs(0x10002000, mm.VMSealed, 0)),
		},
		{
			name:   "failure: no change",
			before: anon4,
			nr:     unix.SYS_MSEAL,
			args:   [6]uint64{0x10001000, 0x8000, 0},
			ret:    errno(unix.ENOMEM),
		},
	})
}

func TestLockUpdate(t *testing.T) {
	split3 := `10000000-10001000 rw-p 00000000 00:00 0
10001000-10003000 rw-p 00000000 00:00 0
10003000-10004000 rw-p 00000000 00:00 0`
	runUpdates(t, []updateCase{
		{
			name:   "mlock rounds to whole pages",
			before: anon4,
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10001234, 0x1000},
			want:   split3,
			spans:  []Span{{0x10001000, 0x10003000}},
			check: checks(flagsIs(0x10001000, mm.VMLockedMask, mm.VMLocked),
				flagsIs(0x10000000, mm.VMLockedMask, 0), flagsIs(0x10003000, mm.VMLockedMask, 0)),
		},
		{
			name:   "mlock of length 0 inside a page locks that page",
			before: anon4,
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10003010, 0},
			want: `10000000-10003000 rw-p 00000000 00:00 0
10003000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10003000, 0x10004000}},
			check: flagsIs(0x10003000, mm.VMLockedMask, mm.VMLocked),
		},
		{
			name:   "mlock of length 0 at a page boundary: nothing",
			before: anon4,
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10001000, 0},
		},
		{
			name:   "mlock failure: no change",
			before: anon4,
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10001000, 0x1000},
			ret:    errno(unix.EAGAIN),
		},
		{
			name:   "mlock2 without flags",
			before: anon4,
			nr:     unix.SYS_MLOCK2,
			args:   [6]uint64{0x10001000, 0x2000, 0},
			want:   split3,
			spans:  []Span{{0x10001000, 0x10003000}},
			check:  flagsIs(0x10001000, mm.VMLockedMask, mm.VMLocked),
		},
		{
			name:   "mlock2(MLOCK_ONFAULT)",
			before: anon4,
			nr:     unix.SYS_MLOCK2,
			args:   [6]uint64{0x10001000, 0x2000, unix.MLOCK_ONFAULT},
			want:   split3,
			spans:  []Span{{0x10001000, 0x10003000}},
			check:  flagsIs(0x10001000, mm.VMLockedMask, mm.VMLocked|mm.VMLockOnFault),
		},
		{
			name:   "mlock2 failure: no change",
			before: anon4,
			nr:     unix.SYS_MLOCK2,
			args:   [6]uint64{0x10001000, 0x2000, unix.MLOCK_ONFAULT},
			ret:    errno(unix.ENOMEM),
		},
		{
			name:   "munlock clears both lock bits, rounded to pages",
			before: anon4,
			setup: func(as *mm.AddressSpace) {
				as.SetFlags(0x10000000, 0x10004000, mm.VMLocked|mm.VMLockOnFault, 0)
			},
			nr:    unix.SYS_MUNLOCK,
			args:  [6]uint64{0x10001800, 0x1000},
			want:  split3,
			spans: []Span{{0x10001000, 0x10003000}},
			check: checks(flagsIs(0x10001000, mm.VMLockedMask, 0),
				flagsIs(0x10000000, mm.VMLockedMask, mm.VMLocked|mm.VMLockOnFault),
				flagsIs(0x10003000, mm.VMLockedMask, mm.VMLocked|mm.VMLockOnFault)),
		},
		{
			name:   "munlock failure the host did not act on: no change",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.SetFlags(0x10000000, 0x10004000, mm.VMLocked, 0) },
			host:   updateHost{maps: anon4, flags: map[uint64]mm.VMFlags{0x10000000: mm.VMLocked}},
			nr:     unix.SYS_MUNLOCK,
			args:   [6]uint64{0x10001000, 0x1000},
			ret:    errno(unix.ENOMEM),
		},
		{
			name:   "mlock over [VMA][hole]: ENOMEM with the VMA locked from start",
			before: anon4,
			host: updateHost{maps: "10000000-10002000 rw-p 00000000 00:00 0\n10002000-10004000 rw-p 00000000 00:00 0",
				flags: map[uint64]mm.VMFlags{0x10002000: mm.VMLocked}},
			nr:    unix.SYS_MLOCK,
			args:  [6]uint64{0x10002000, 0x4000},
			ret:   errno(unix.ENOMEM),
			want:  "10000000-10002000 rw-p 00000000 00:00 0\n10002000-10004000 rw-p 00000000 00:00 0",
			spans: []Span{{0x10002000, 0x10006000}},
			check: checks(flagsIs(0x10002000, mm.VMLockedMask, mm.VMLocked),
				flagsIs(0x10000000, mm.VMLockedMask, 0)),
		},
		{
			name:   "mlock whose populate failed (a page past EOF): ENOMEM, all locked",
			before: anon4,
			host:   updateHost{maps: anon4, flags: map[uint64]mm.VMFlags{0x10000000: mm.VMLocked}},
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10000000, 0x4000},
			ret:    errno(unix.ENOMEM),
			want:   anon4,
			spans:  []Span{{0x10000000, 0x10004000}},
			check:  flagsIs(0x10000000, mm.VMLockedMask, mm.VMLocked),
		},
		{
			name:   "mlock refused by RLIMIT_MEMLOCK: the host's VMA unlocked, no change",
			before: anon4,
			host:   updateHost{maps: anon4, flags: map[uint64]mm.VMFlags{0x10000000: 0}},
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10000000, 0x4000},
			ret:    errno(unix.ENOMEM),
		},
		{
			name:   "mlock2 with bad flags: no change, the host not asked",
			before: anon4,
			nr:     unix.SYS_MLOCK2,
			args:   [6]uint64{0x10000000, 0x4000, 2},
			ret:    errno(unix.EINVAL),
		},
		{
			name:   "munlock over [locked VMA][hole]: ENOMEM with the VMA unlocked",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.SetFlags(0x10000000, 0x10004000, mm.VMLocked, 0) },
			host:   updateHost{maps: anon4, flags: map[uint64]mm.VMFlags{0x10000000: 0}},
			nr:     unix.SYS_MUNLOCK,
			args:   [6]uint64{0x10000000, 0x8000},
			ret:    errno(unix.ENOMEM),
			want:   anon4,
			spans:  []Span{{0x10000000, 0x10008000}},
			check:  flagsIs(0x10000000, mm.VMLockedMask, 0),
		},
		{
			name:   "mlock after mlock2(MLOCK_ONFAULT) drops LOCKONFAULT",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.SetFlags(0x10000000, 0x10004000, mm.VMLocked|mm.VMLockOnFault, 0) },
			nr:     unix.SYS_MLOCK,
			args:   [6]uint64{0x10000000, 0x4000},
			want:   anon4,
			spans:  []Span{{0x10000000, 0x10004000}},
			check:  flagsIs(0x10000000, mm.VMLockedMask, mm.VMLocked),
		},
	})
}

func TestMlockallUpdate(t *testing.T) {
	const space = `00400000-00401000 r-xp 00000000 08:01 100 /bin/prog
10000000-10004000 rw-p 00000000 00:00 0
7ffff7ff0000-7ffff7ff2000 r--p 00000000 00:00 0 [vvar]
7ffff7ff2000-7ffff7ff4000 r-xp 00000000 00:00 0 [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
`
	lockedAre := func(prog, anon mm.VMFlags, def mm.VMFlags) func(*testing.T, *mm.AddressSpace, *updateHost) {
		return func(t *testing.T, as *mm.AddressSpace, _ *updateHost) {
			assertFlags(t, as, 0x400000, mm.VMLockedMask, prog)
			assertFlags(t, as, 0x10000000, mm.VMLockedMask, anon)
			for _, special := range []uint64{0x7ffff7ff0000, 0x7ffff7ff2000, 0xffffffffff600000} {
				assertFlags(t, as, special, mm.VMLockedMask, 0)
			}
			assert.Equal(t, def, as.DefFlags, "def_flags: got %v, want %v", as.DefFlags, def)
		}
	}
	lockAll := func(as *mm.AddressSpace) {
		as.SetFlags(0x400000, 0x401000, mm.VMLocked, 0)
		as.SetFlags(0x10000000, 0x10004000, mm.VMLocked|mm.VMLockOnFault, 0)
		as.DefFlags = mm.VMLocked | mm.VMLockOnFault
	}
	runUpdates(t, []updateCase{
		{
			name:   "MCL_CURRENT locks all but the special mappings",
			before: space,
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_CURRENT},
			want:   space,
			spans:  []Span{{0x400000, 0x401000}, {0x10000000, 0x10004000}},
			check:  lockedAre(mm.VMLocked, mm.VMLocked, 0),
		},
		{
			name:   "MCL_CURRENT alone drops an earlier MCL_FUTURE",
			before: space,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_CURRENT},
			want:   space,
			spans:  []Span{{0x400000, 0x401000}, {0x10000000, 0x10004000}},
			check:  lockedAre(mm.VMLocked, mm.VMLocked, 0),
		},
		{
			name:   "MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT",
			before: space,
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT},
			want:   space,
			spans:  []Span{{0x400000, 0x401000}, {0x10000000, 0x10004000}},
			check: lockedAre(mm.VMLocked|mm.VMLockOnFault, mm.VMLocked|mm.VMLockOnFault,
				mm.VMLocked|mm.VMLockOnFault),
		},
		{
			name:   "MCL_FUTURE only: def_flags, no VMA locked",
			before: space,
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_FUTURE},
			want:   space,
			check:  lockedAre(0, 0, mm.VMLocked),
		},
		{
			name:   "MCL_FUTURE replaces MCL_FUTURE|MCL_ONFAULT",
			before: space,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked | mm.VMLockOnFault },
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_FUTURE},
			want:   space,
			check:  lockedAre(0, 0, mm.VMLocked),
		},
		{
			name:   "mlockall failure: no change",
			before: space,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_CURRENT},
			ret:    errno(unix.ENOMEM),
		},
		{
			name:   "MCL_CURRENT drops the LOCKONFAULT of mlock2(MLOCK_ONFAULT)",
			before: space,
			setup:  lockAll,
			nr:     unix.SYS_MLOCKALL,
			args:   [6]uint64{unix.MCL_CURRENT},
			want:   space,
			spans:  []Span{{0x10000000, 0x10004000}},
			check:  lockedAre(mm.VMLocked, mm.VMLocked, 0),
		},
		{
			name:   "munlockall unlocks everything and clears def_flags",
			before: space,
			setup:  lockAll,
			nr:     unix.SYS_MUNLOCKALL,
			want:   space,
			spans:  []Span{{0x400000, 0x401000}, {0x10000000, 0x10004000}},
			check:  lockedAre(0, 0, 0),
		},
		{
			name:   "munlockall failure: no change",
			before: space,
			setup:  lockAll,
			nr:     unix.SYS_MUNLOCKALL,
			ret:    errno(unix.EPERM),
		},
	})
}

func TestShmUpdate(t *testing.T) {
	const seg = "60000000-60002000 rw-s 00000000 00:01 32768 /SYSV00000000 (deleted)"
	runUpdates(t, []updateCase{
		{
			name:   "shmat: the segment as the host maps it",
			before: anon4,
			host:   updateHost{maps: seg},
			nr:     unix.SYS_SHMAT,
			args:   [6]uint64{32768, 0, 0},
			ret:    0x60000000,
			want:   anon4 + seg,
			spans:  []Span{{0x60000000, 0x60002000}},
			check:  flagsIs(0x60000000, mm.VMShared|mm.VMMayShare, mm.VMShared|mm.VMMayShare),
		},
		{
			name:   "shmat under mlockall(MCL_FUTURE): locked",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.DefFlags = mm.VMLocked },
			host:   updateHost{maps: seg},
			nr:     unix.SYS_SHMAT,
			args:   [6]uint64{32768, 0, 0},
			ret:    0x60000000,
			want:   anon4 + seg,
			spans:  []Span{{0x60000000, 0x60002000}},
			check:  flagsIs(0x60000000, mm.VMLockedMask, mm.VMLocked),
		},
		{
			name:   "shmat(SHM_RDONLY)",
			before: anon4,
			host:   updateHost{maps: "60000000-60002000 r--s 00000000 00:01 32768 /SYSV00000000 (deleted)"},
			nr:     unix.SYS_SHMAT,
			args:   [6]uint64{32768, 0, unix.SHM_RDONLY},
			ret:    0x60000000,
			want:   anon4 + "60000000-60002000 r--s 00000000 00:01 32768 /SYSV00000000 (deleted)",
			spans:  []Span{{0x60000000, 0x60002000}},
			check:  flagsIs(0x60000000, mm.VMShared|mm.VMMayShare|mm.VMMayWrite, mm.VMMayShare),
		},
		{
			name:   "shmat failure: no change",
			before: anon4,
			host:   updateHost{maps: seg},
			nr:     unix.SYS_SHMAT,
			args:   [6]uint64{32768, 0, 0},
			ret:    errno(unix.EINVAL),
		},
		{
			name:   "shmat without the host's line: no change",
			before: anon4,
			nr:     unix.SYS_SHMAT,
			args:   [6]uint64{32768, 0, 0},
			ret:    0x60000000,
		},
		{
			// mprotect split the segment in two VMAs; the next VMA is
			// another segment.
			name: "shmdt removes the following VMAs of the same segment only",
			before: anon4 + seg + `
60002000-60004000 rw-s 00000000 00:01 32769 /SYSV00000001 (deleted)`,
			setup: func(as *mm.AddressSpace) { as.Protect(0x60000000, 0x60001000, mm.ProtRead) },
			nr:    unix.SYS_SHMDT,
			args:  [6]uint64{0x60000000},
			want: anon4 + `
60002000-60004000 rw-s 00000000 00:01 32769 /SYSV00000001 (deleted)`,
		},
		{
			name:   "shmdt not at the start of a VMA: no change",
			before: anon4 + seg,
			nr:     unix.SYS_SHMDT,
			args:   [6]uint64{0x60001000},
		},
		{
			name:   "shmdt failure: no change",
			before: anon4 + seg,
			nr:     unix.SYS_SHMDT,
			args:   [6]uint64{0x60000000},
			ret:    errno(unix.EINVAL),
		},
	})
}

func TestPrctlUpdate(t *testing.T) {
	const name = 0x7000
	mem := map[uint64][]byte{name: []byte("buf\x00junk")}
	setName := func(addr, length, ptr uint64) [6]uint64 {
		return [6]uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, addr, length, ptr}
	}
	runUpdates(t, []updateCase{
		{
			name:   "name set, length rounded up",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   setName(0x10001000, 0x800, name),
			want: `10000000-10001000 rw-p 00000000 00:00 0
10001000-10002000 rw-p 00000000 00:00 0 [anon:buf]
10002000-10004000 rw-p 00000000 00:00 0`,
			spans: []Span{{0x10001000, 0x10002000}},
		},
		{
			name:   "name set on shared anonymous memory",
			before: "20000000-20002000 rw-s 00000000 00:01 4242 /dev/zero (deleted)",
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   setName(0x20000000, 0x2000, name),
			want:   "20000000-20002000 rw-s 00000000 00:01 4242 [anon_shmem:buf]",
			spans:  []Span{{0x20000000, 0x20002000}},
		},
		{
			name:   "name cleared (name pointer 0): merges back",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.SetName(0x10001000, 0x10002000, "buf") },
			nr:     unix.SYS_PRCTL,
			args:   setName(0x10001000, 0x1000, 0),
			want:   anon4,
			spans:  []Span{{0x10001000, 0x10002000}},
		},
		{
			name:   "failure: no change",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   setName(0x10001000, 0x1000, name),
			ret:    errno(unix.EINVAL),
		},
		{
			name:   "unreadable name: no change",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   setName(0x10001000, 0x1000, 0x9000),
		},
		{
			name:   "other PR_SET_VMA attribute ignored",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   [6]uint64{unix.PR_SET_VMA, 1, 0x10001000, 0x1000, name},
		},
		{
			name:   "other option ignored",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_PRCTL,
			args:   [6]uint64{unix.PR_SET_NAME, name},
		},
	})
}

// The ioctls reach uffdUpdate through the ioctl handler (the request
// decides), so it is called directly.
func TestUffdUpdate(t *testing.T) {
	const arg = 0x7000
	// struct uffdio_register: range {start, len}, mode, ioctls.
	mem := map[uint64][]byte{arg: le64(0x10001000, 0x2000, 1, 0)}
	split3 := `10000000-10001000 rw-p 00000000 00:00 0
10001000-10003000 rw-p 00000000 00:00 0
10003000-10004000 rw-p 00000000 00:00 0`
	armedAre := func(want ...bool) func(*testing.T, *mm.AddressSpace, *updateHost) {
		return func(t *testing.T, as *mm.AddressSpace, _ *updateHost) {
			var got []bool
			for _, v := range as.VMAs() {
				got = append(got, v.UffdArmed)
			}
			assert.Equal(t, want, got, "uffd armed per VMA: got %v, want %v", got, want)
		}
	}
	runUpdates(t, []updateCase{
		{
			name:   "UFFDIO_REGISTER arms the range read from memory",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_IOCTL,
			fn:     uffdUpdate,
			args:   [6]uint64{9, abi.UFFDIO_REGISTER, arg},
			want:   split3,
			spans:  []Span{{0x10001000, 0x10003000}},
			check:  armedAre(false, true, false),
		},
		{
			name:   "UFFDIO_UNREGISTER disarms it",
			before: anon4,
			setup:  func(as *mm.AddressSpace) { as.SetUffd(0x10000000, 0x10004000, true) },
			host:   updateHost{mem: mem},
			nr:     unix.SYS_IOCTL,
			fn:     uffdUpdate,
			args:   [6]uint64{9, abi.UFFDIO_UNREGISTER, arg},
			want:   split3,
			spans:  []Span{{0x10001000, 0x10003000}},
			check:  armedAre(true, false, true),
		},
		{
			name:   "failure: no change",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_IOCTL,
			fn:     uffdUpdate,
			args:   [6]uint64{9, abi.UFFDIO_REGISTER, arg},
			ret:    errno(unix.EINVAL),
		},
		{
			name:   "unreadable range: no change",
			before: anon4,
			host:   updateHost{mem: mem},
			nr:     unix.SYS_IOCTL,
			fn:     uffdUpdate,
			args:   [6]uint64{9, abi.UFFDIO_REGISTER, arg + 24}, // 8 bytes left
		},
	})
}
