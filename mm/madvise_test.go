package mm

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/lockdep"
)

// Tests of MM.Madvise against shared/reference/madvise-facts.md ("facts")
// and the spec. Each row names the facts row it checks.

const rw = ProtRead | ProtWrite

func anonRW(lo, n uint64) VMA { return anonMap(lo, n, rw) }

func anonRO(lo, n uint64) VMA { return anonMap(lo, n, ProtRead) }

// with returns v with flags f added.
func with(v VMA, f VMFlags) VMA {
	v.Flags |= f
	return v
}

// guarded returns v with guard pages [a, b) (relative to v).
func guarded(v VMA, a, b uint64) VMA {
	v.Guards = v.Guards.Add(a, b)
	return v
}

func privFile(lo, n uint64, p Prot) VMA {
	return NewMmap(at(lo), pg(n), p, false, fileA, lo, false)
}

func sharedFile(lo, n uint64, p Prot, writable bool) VMA {
	b := fileA
	b.Writable = writable
	return NewMmap(at(lo), pg(n), p, true, b, lo, false)
}

func sharedAnon(lo, n uint64) VMA { return NewMmap(at(lo), pg(n), rw, true, Backing{}, 0, false) }

func memfdMap(lo, n uint64) VMA {
	b := Backing{Kind: BackingFile, DevMajor: 0, DevMinor: 1, Inode: 77, Path: "/memfd:buf (deleted)", Writable: true, FileID: 5}
	return NewMmap(at(lo), pg(n), rw, true, b, 0, false)
}

// hugetlbMap is a 2 MiB-page hugetlbfs mapping (VM_HUGETLB|VM_DONTEXPAND,
// as hugetlbfs_file_mmap sets) of n base pages.
func hugetlbMap(lo, n uint64) VMA {
	b := Backing{Kind: BackingFile, DevMajor: 0, DevMinor: 40, Inode: 9, Path: "/dev/hugepages/h", Writable: true, FileID: 9}
	return with(NewMmap(at(lo), pg(n), rw, true, b, lo, false), VMHugeTLB|VMDontExpand)
}

// newMM maps vmas (in order) into a fresh MM.
func newMM(t *testing.T, vmas ...VMA) *MM {
	t.Helper()
	as := NewAddressSpace()
	for _, v := range vmas {
		require.NoError(t, as.Map(v), "Map(%v)", v)
	}
	require.NoError(t, as.Validate())
	return NewMM(as)
}

func vmaAt(t *testing.T, m *MM, page uint64) VMA {
	t.Helper()
	v, ok := m.AS.Find(at(page))
	require.True(t, ok, "no VMA at page %d", page)
	return v
}

// pagesWith lists the pages in [0, 16) whose VMA has all of f.
func pagesWith(m *MM, f VMFlags) []uint64 {
	out := []uint64{}
	for p := uint64(0); p < 16; p++ {
		if v, ok := m.AS.Find(at(p)); ok && v.Flags&f == f {
			out = append(out, p)
		}
	}
	return out
}

// pieces renders Applied as "lo-hi" page ranges.
func pieces(r MadviseResult) []string {
	out := []string{}
	for _, a := range r.Applied {
		out = append(out, fmt.Sprintf("%d-%d", (a.Start-base)/PageSize, (a.End-base)/PageSize))
	}
	return out
}

func envWith(mods ...func(*MadviseEnv)) MadviseEnv {
	env := DefaultMadviseEnv()
	for _, f := range mods {
		f(&env)
	}
	return env
}

func sysAdminMF(e *MadviseEnv) {
	e.Caps.SysAdmin = true
	e.Kconfig.MemoryFailure = true
}

// fakeHost answers MadviseHost calls with set errnos and records them, with
// the depth of the caller's held-lock stack at the call.
type fakeHost struct {
	h                                 *lockdep.Holder
	punch, populate, collapse, inject unix.Errno
	calls                             []string
}

func (f *fakeHost) rec(op string, r MadviseRange) {
	f.calls = append(f.calls, fmt.Sprintf("%s %d-%d depth=%d", op, (r.Start-base)/PageSize, (r.End-base)/PageSize, f.h.Depth()))
}

func (f *fakeHost) PunchHole(r MadviseRange) unix.Errno { f.rec("punch", r); return f.punch }
func (f *fakeHost) Readahead(r MadviseRange)            { f.rec("readahead", r) }
func (f *fakeHost) Populate(r MadviseRange, write bool) unix.Errno {
	f.rec(fmt.Sprintf("populate(w=%v)", write), r)
	return f.populate
}
func (f *fakeHost) Collapse(r MadviseRange) unix.Errno { f.rec("collapse", r); return f.collapse }
func (f *fakeHost) InjectError(addr uint64, advice int) unix.Errno {
	f.rec("inject", MadviseRange{Start: addr, End: addr + PageSize})
	return f.inject
}

// madviseChecked runs Madvise under lockdep=panic and checks what every
// call must leave: a valid tree and no lock held.
func madviseChecked(t *testing.T, m *MM, h *lockdep.Holder, lo, n uint64, advice int, env MadviseEnv) MadviseResult {
	t.Helper()
	r := m.Madvise(h, at(lo), pg(n), advice, env)
	require.NoError(t, m.AS.Validate(), "after madvise(%d, %d, %d)", lo, n, advice)
	require.Zero(t, h.Depth(), "locks held after madvise")
	return r
}

// TestMadviseOrderOfChecks covers facts "madvise: order of checks".
func TestMadviseOrderOfChecks(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	noKSM := func(e *MadviseEnv) { e.Kconfig.KSM = false }
	noTHP := func(e *MadviseEnv) { e.Kconfig.THP = false }
	mf := func(e *MadviseEnv) { e.Kconfig.MemoryFailure = true }
	tests := []struct {
		name   string
		start  uint64
		length uint64
		advice int
		env    MadviseEnv
		want   unix.Errno
		locks  bool // any lock taken
	}{
		// 1. "Unknown advice, or one compiled out -> EINVAL, even with
		// len 0 or an unaligned start".
		{"unknown 5 len 0", at(0), 0, 5, envWith(), unix.EINVAL, false},
		{"unknown 6 unaligned", at(0) + 1, pg(1), 6, envWith(), unix.EINVAL, false},
		{"unknown 7", at(0), pg(1), 7, envWith(), unix.EINVAL, false},
		{"unknown 26", at(0), pg(1), 26, envWith(), unix.EINVAL, false},
		{"unknown 99", at(0), pg(1), 99, envWith(), unix.EINVAL, false},
		{"unknown 104", at(0), pg(1), 104, envWith(), unix.EINVAL, false},
		{"unknown -1", at(0), pg(1), -1, envWith(), unix.EINVAL, false},
		{"unknown big", at(0), pg(1), 1 << 20, envWith(), unix.EINVAL, false},
		{"MERGEABLE without KSM, len 0", at(0), 0, unix.MADV_MERGEABLE, envWith(noKSM), unix.EINVAL, false},
		{"UNMERGEABLE without KSM, unaligned", at(0) + 5, 0, unix.MADV_UNMERGEABLE, envWith(noKSM), unix.EINVAL, false},
		{"HUGEPAGE without THP", at(0), pg(1), unix.MADV_HUGEPAGE, envWith(noTHP), unix.EINVAL, false},
		{"NOHUGEPAGE without THP", at(0), pg(1), unix.MADV_NOHUGEPAGE, envWith(noTHP), unix.EINVAL, false},
		{"COLLAPSE without THP, len 0", at(0), 0, unix.MADV_COLLAPSE, envWith(noTHP), unix.EINVAL, false},
		{"HWPOISON without MEMORY_FAILURE (test host)", at(0), pg(1), unix.MADV_HWPOISON, envWith(), unix.EINVAL, false},
		{"SOFT_OFFLINE without MEMORY_FAILURE, len 0", at(0), 0, abi.MADV_SOFT_OFFLINE, envWith(), unix.EINVAL, false},
		// 2. "start not page aligned -> EINVAL (even with len 0)".
		{"unaligned start len 0", at(0) + 1, 0, unix.MADV_DONTNEED, envWith(), unix.EINVAL, false},
		{"unaligned start", at(0) + 8, pg(1), unix.MADV_NORMAL, envWith(), unix.EINVAL, false},
		{"unaligned start HWPOISON", at(0) + 8, 0, unix.MADV_HWPOISON, envWith(mf), unix.EINVAL, false},
		// 3. "len_in != 0 but PAGE_ALIGN(len_in) == 0 -> EINVAL; start +
		// aligned len wraps -> EINVAL".
		{"len rounds to 0", at(0), math.MaxUint64, unix.MADV_DONTNEED, envWith(), unix.EINVAL, false},
		{"len rounds to 0 (2^64-4095)", at(0), math.MaxUint64 - PageSize + 2, unix.MADV_NORMAL, envWith(), unix.EINVAL, false},
		{"start+len wraps", at(0), -at(0), unix.MADV_DONTNEED, envWith(), unix.EINVAL, false},
		{"start+len wraps after rounding", at(0), -at(0) - 1, unix.MADV_WILLNEED, envWith(), unix.EINVAL, false},
		{"start 0 len 2^64-4096 does not wrap", 0, math.MaxUint64 - PageSize + 1, unix.MADV_WILLNEED, envWith(), unix.ENOMEM, true},
		// 4. "len_in == 0 -> 0, with no lock, no walk, no capability check".
		{"len 0 DONTNEED unmapped", at(100), 0, unix.MADV_DONTNEED, envWith(), 0, false},
		{"len 0 HUGEPAGE", at(0), 0, unix.MADV_HUGEPAGE, envWith(), 0, false},
		{"len 0 HWPOISON without CAP_SYS_ADMIN", at(0), 0, unix.MADV_HWPOISON, envWith(mf), 0, false},
		{"len 0 at address 0", 0, 0, unix.MADV_REMOVE, envWith(), 0, false},
		// 5. HWPOISON / SOFT_OFFLINE: "no CAP_SYS_ADMIN -> EPERM".
		{"HWPOISON without CAP_SYS_ADMIN", at(0), pg(1), unix.MADV_HWPOISON, envWith(mf), unix.EPERM, false},
		{"SOFT_OFFLINE without CAP_SYS_ADMIN, unmapped", at(100), pg(1), abi.MADV_SOFT_OFFLINE, envWith(mf), unix.EPERM, false},
		{"HWPOISON mapped", at(0), pg(2), unix.MADV_HWPOISON, envWith(sysAdminMF), 0, false},
		{"HWPOISON unmapped -> EFAULT", at(100), pg(1), unix.MADV_HWPOISON, envWith(sysAdminMF), unix.EFAULT, false},
		{"SOFT_OFFLINE runs past the VMA -> EFAULT", at(2), pg(4), abi.MADV_SOFT_OFFLINE, envWith(sysAdminMF), unix.EFAULT, false},
		// 6. "No upper bound against TASK_SIZE: a range above all mappings
		// gives ENOMEM from the walk".
		{"above all mappings", at(100), pg(1), unix.MADV_DONTNEED, envWith(), unix.ENOMEM, true},
		{"above TASK_SIZE", 0xffff800000000000, pg(1), unix.MADV_NORMAL, envWith(), unix.ENOMEM, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMM(t, anonRW(0, 4))
			before := m.AS.VMAs()
			h := lockdep.NewHolder("madvise", 1)
			rec := record(h)
			got := m.Madvise(h, tt.start, tt.length, tt.advice, tt.env)
			assert.Equal(t, tt.want, got.Err, "madvise(%#x, %#x, %d): got %v, want %v", tt.start, tt.length, tt.advice, got.Err, tt.want)
			assert.False(t, got.Restart)
			if tt.locks {
				assert.NotEmpty(t, rec.events, "got no lock, want the walk's")
			} else {
				assert.Empty(t, rec.events, "got locks, want none")
			}
			if tt.advice != unix.MADV_HUGEPAGE && tt.advice != unix.MADV_NORMAL {
				assert.Equal(t, before, m.AS.VMAs(), "the model changed")
			}
			assert.Zero(t, h.Depth())
		})
	}
}

// TestMadviseInjectError covers facts "order of checks" 5 in detail: page
// by page over [start, start+len_in), EFAULT where get_user_pages fails,
// HWPOISON folds EOPNOTSUPP to 0, SOFT_OFFLINE does not.
func TestMadviseInjectError(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	tests := []struct {
		name   string
		vmas   []VMA
		lo     uint64
		length uint64
		advice int
		inject unix.Errno
		want   unix.Errno
		calls  int
		pieces []string
	}{
		{"one page, unaligned len", []VMA{anonRW(0, 4)}, 1, 1, unix.MADV_HWPOISON, 0, 0, 1, []string{"1-2"}},
		{"len 4097 is two pages", []VMA{anonRW(0, 4)}, 1, PageSize + 1, unix.MADV_HWPOISON, 0, 0, 2, []string{"1-3"}},
		{"across two VMAs", []VMA{anonRW(0, 2), privFile(2, 2, ProtRead)}, 1, pg(2), abi.MADV_SOFT_OFFLINE, 0, 0, 2, []string{"1-2", "2-3"}},
		{"hole in the middle -> EFAULT after the first pages", []VMA{anonRW(0, 2), anonRW(3, 2)}, 0, pg(4), unix.MADV_HWPOISON, 0, unix.EFAULT, 2, []string{"0-2"}},
		{"PROT_NONE -> EFAULT", []VMA{anonMap(0, 2, ProtNone)}, 0, pg(1), unix.MADV_HWPOISON, 0, unix.EFAULT, 0, []string{}},
		{"guard page -> EFAULT", []VMA{guarded(anonRW(0, 4), 1, 2)}, 0, pg(3), unix.MADV_HWPOISON, 0, unix.EFAULT, 1, []string{"0-1"}},
		{"PFNMAP -> EFAULT", []VMA{with(anonRW(0, 2), VMPFNMap|VMIO)}, 0, pg(1), abi.MADV_SOFT_OFFLINE, 0, unix.EFAULT, 0, []string{}},
		{"HWPOISON folds EOPNOTSUPP", []VMA{anonRW(0, 4)}, 0, pg(2), unix.MADV_HWPOISON, unix.EOPNOTSUPP, 0, 2, []string{"0-2"}},
		{"SOFT_OFFLINE returns EOPNOTSUPP", []VMA{anonRW(0, 4)}, 0, pg(2), abi.MADV_SOFT_OFFLINE, unix.EOPNOTSUPP, unix.EOPNOTSUPP, 1, []string{"0-1"}},
		{"HWPOISON returns EBUSY", []VMA{anonRW(0, 4)}, 0, pg(2), unix.MADV_HWPOISON, unix.EBUSY, unix.EBUSY, 1, []string{"0-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMM(t, tt.vmas...)
			h := lockdep.NewHolder("madvise", 1)
			rec := record(h)
			host := &fakeHost{h: h, inject: tt.inject}
			env := envWith(sysAdminMF, func(e *MadviseEnv) { e.Host = host })
			got := m.Madvise(h, at(tt.lo), tt.length, tt.advice, env)
			assert.Equal(t, tt.want, got.Err)
			assert.Len(t, host.calls, tt.calls, "host calls %v", host.calls)
			assert.Equal(t, tt.pieces, pieces(got))
			assert.Empty(t, rec.events, "HWPOISON/SOFT_OFFLINE take no lock")
		})
	}
}

// walkLayout: A anon rw [0,4), B private file r-- [4,8), gap [8,10),
// C anon rw [10,14), nothing above.
func walkLayout(t *testing.T) *MM {
	return newMM(t, anonRW(0, 4), privFile(4, 4, ProtRead), anonRW(10, 4))
}

// TestMadviseWalk covers facts "The walk over VMAs" over 1, 2 and 3 VMAs
// and gaps.
func TestMadviseWalk(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	tests := []struct {
		name    string
		layout  func(*testing.T) *MM
		advice  int
		lo, hi  uint64
		want    unix.Errno
		flag    VMFlags  // pages with this flag afterwards
		flagged []uint64 // nil: do not check
		pieces  []string
	}{
		// "Each VMA gets [max(start, vm_start), min(end, vm_end))".
		{"one VMA", walkLayout, unix.MADV_SEQUENTIAL, 1, 2, 0, VMSeqRead, []uint64{1}, []string{"1-2"}},
		{"two VMAs", walkLayout, unix.MADV_SEQUENTIAL, 2, 6, 0, VMSeqRead, []uint64{2, 3, 4, 5}, []string{"2-4", "4-6"}},
		// "A gap before the next VMA -> remember ENOMEM, skip the gap,
		// go on"; "At the end: ENOMEM if any gap was seen": "a range with
		// holes is fully applied to its mapped parts and still fails".
		{"three VMAs with a gap", walkLayout, unix.MADV_SEQUENTIAL, 2, 12, unix.ENOMEM, VMSeqRead, []uint64{2, 3, 4, 5, 6, 7, 10, 11}, []string{"2-4", "4-8", "10-12"}},
		{"everything", walkLayout, unix.MADV_DONTDUMP, 0, 14, unix.ENOMEM, VMDontDump, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13}, []string{"0-4", "4-8", "10-14"}},
		{"starts in the gap", walkLayout, unix.MADV_SEQUENTIAL, 8, 11, unix.ENOMEM, VMSeqRead, []uint64{10}, []string{"10-11"}},
		// "if the range ends inside the gap, stop".
		{"ends in the gap", walkLayout, unix.MADV_SEQUENTIAL, 2, 9, unix.ENOMEM, VMSeqRead, []uint64{2, 3, 4, 5, 6, 7}, []string{"2-4", "4-8"}},
		{"only the gap", walkLayout, unix.MADV_SEQUENTIAL, 8, 10, unix.ENOMEM, VMSeqRead, []uint64{}, []string{}},
		// "Nothing at or after the current start -> ENOMEM at once (VMAs
		// already processed stay processed)".
		{"above everything", walkLayout, unix.MADV_SEQUENTIAL, 20, 22, unix.ENOMEM, VMSeqRead, []uint64{}, []string{}},
		{"runs off the last VMA", walkLayout, unix.MADV_SEQUENTIAL, 12, 20, unix.ENOMEM, VMSeqRead, []uint64{12, 13}, []string{"12-14"}},
		// "The first per-VMA error aborts and is returned; earlier VMAs
		// stay changed".
		{"error in the second VMA", walkLayout, unix.MADV_WIPEONFORK, 2, 12, unix.EINVAL, VMWipeOnFork, []uint64{2, 3}, []string{"2-4"}},
		{"error in the first VMA", walkLayout, unix.MADV_WIPEONFORK, 4, 12, unix.EINVAL, VMWipeOnFork, []uint64{}, []string{}},
		{"error after a gap wins over ENOMEM", func(t *testing.T) *MM {
			return newMM(t, anonRW(0, 4), privFile(6, 2, ProtRead))
		}, unix.MADV_WIPEONFORK, 0, 8, unix.EINVAL, VMWipeOnFork, []uint64{0, 1, 2, 3}, []string{"0-4"}},
		{"hint over a gap", walkLayout, unix.MADV_WILLNEED, 0, 14, unix.ENOMEM, 0, nil, []string{"0-4", "4-8", "10-14"}},
		{"zap over a gap", walkLayout, unix.MADV_DONTNEED, 2, 12, unix.ENOMEM, 0, nil, []string{"2-4", "4-8", "10-12"}},
		{"guard install over a gap", walkLayout, unix.MADV_GUARD_INSTALL, 2, 12, unix.ENOMEM, VMMaybeGuard, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13}, []string{"2-4", "4-8", "10-12"}},
		// "POPULATE_* does not use this walk: it stops at the first hole
		// with ENOMEM".
		{"POPULATE stops at the hole", walkLayout, unix.MADV_POPULATE_READ, 0, 14, unix.ENOMEM, 0, nil, []string{"0-4", "4-8"}},
		{"POPULATE starting in a hole", walkLayout, unix.MADV_POPULATE_READ, 8, 14, unix.ENOMEM, 0, nil, []string{}},
		{"POPULATE over two VMAs", walkLayout, unix.MADV_POPULATE_READ, 2, 6, 0, 0, nil, []string{"2-4", "4-6"}},
		{"POPULATE runs off the last VMA", walkLayout, unix.MADV_POPULATE_WRITE, 12, 16, unix.ENOMEM, 0, nil, []string{"12-14"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.layout(t)
			h := lockdep.NewHolder("madvise", 1)
			got := madviseChecked(t, m, h, tt.lo, tt.hi-tt.lo, tt.advice, envWith())
			assert.Equal(t, tt.want, got.Err, "got %v, want %v", got.Err, tt.want)
			if tt.flagged != nil {
				assert.Equal(t, tt.flagged, pagesWith(m, tt.flag), "pages with %v", tt.flag)
			}
			assert.Equal(t, tt.pieces, pieces(got), "applied pieces")
		})
	}
}

// TestMadviseGuardsOverGap: the mapped parts get their markers (facts
// "Guard markers": "over gaps | applied to all mapped parts, then ENOMEM").
func TestMadviseGuardsOverGap(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := walkLayout(t)
	h := lockdep.NewHolder("madvise", 1)
	got := madviseChecked(t, m, h, 2, 10, unix.MADV_GUARD_INSTALL, envWith())
	require.Equal(t, unix.ENOMEM, got.Err)
	for _, p := range []uint64{2, 3, 4, 5, 6, 7, 10, 11} {
		v := vmaAt(t, m, p)
		assert.True(t, v.IsGuard(at(p)), "page %d is not a guard", p)
	}
	for _, p := range []uint64{0, 1, 12, 13} {
		v := vmaAt(t, m, p)
		assert.False(t, v.IsGuard(at(p)), "page %d is a guard", p)
	}
	assert.Equal(t, 3, m.AS.Len(), "guard markers split a VMA")
}

// perVMARow is one row of TestMadvisePerVMA: a layout, one call, the errno
// and a check of the model afterwards.
type perVMARow struct {
	name   string
	vmas   []VMA
	advice int
	lo, hi uint64
	env    func(*MadviseEnv)
	want   unix.Errno
	check  func(t *testing.T, m *MM, r MadviseResult)
}

func flagsAt(page uint64, set, clear VMFlags) func(t *testing.T, m *MM, r MadviseResult) {
	return func(t *testing.T, m *MM, r MadviseResult) {
		v := vmaAt(t, m, page)
		assert.Equal(t, set, v.Flags&set, "page %d: flags %v, want %v set", page, v.Flags, set)
		assert.Zero(t, v.Flags&clear, "page %d: flags %v, want %v clear", page, v.Flags, clear)
	}
}

func bounds(page, lo, hi uint64) func(t *testing.T, m *MM, r MadviseResult) {
	return func(t *testing.T, m *MM, r MadviseResult) {
		v := vmaAt(t, m, page)
		assert.Equal(t, [2]uint64{at(lo), at(hi)}, [2]uint64{v.Start, v.End}, "VMA at page %d", page)
	}
}

func applied(want ...string) func(t *testing.T, m *MM, r MadviseResult) {
	return func(t *testing.T, m *MM, r MadviseResult) {
		if want == nil {
			want = []string{}
		}
		assert.Equal(t, want, pieces(r), "applied pieces")
	}
}

func guards(page uint64, want string) func(t *testing.T, m *MM, r MadviseResult) {
	return func(t *testing.T, m *MM, r MadviseResult) {
		v := vmaAt(t, m, page)
		assert.Equal(t, want, v.Guards.String(), "guards of the VMA at page %d", page)
	}
}

func all(checks ...func(t *testing.T, m *MM, r MadviseResult)) func(t *testing.T, m *MM, r MadviseResult) {
	return func(t *testing.T, m *MM, r MadviseResult) {
		for _, c := range checks {
			c(t, m, r)
		}
	}
}

func sealedAnonRO() VMA { return with(anonRO(0, 4), VMSealed) }

// TestMadvisePerVMA covers every row of facts "Per VMA".
func TestMadvisePerVMA(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	noSwap := func(e *MadviseEnv) { e.Kconfig.Swap = false }
	var rows []perVMARow

	// mseal: "EPERM when the VMA is sealed AND the advice discards (FREE,
	// DONTNEED, DONTNEED_LOCKED, REMOVE, DONTFORK, WIPEONFORK,
	// GUARD_INSTALL) AND the VMA is anonymous AND not writable".
	for _, a := range []int{unix.MADV_FREE, unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED, unix.MADV_REMOVE,
		unix.MADV_DONTFORK, unix.MADV_WIPEONFORK, unix.MADV_GUARD_INSTALL} {
		rows = append(rows,
			perVMARow{fmt.Sprintf("mseal: %d on sealed anon r--", a), []VMA{sealedAnonRO()}, a, 1, 2, nil, unix.EPERM, applied()},
			perVMARow{fmt.Sprintf("mseal: %d on sealed anon PROT_NONE", a), []VMA{with(anonMap(0, 4, ProtNone), VMSealed)}, a, 1, 2, nil, unix.EPERM, applied()})
	}
	rows = append(rows,
		// "Sealed file-backed or writable anon VMAs are allowed".
		perVMARow{"mseal: DONTNEED on sealed anon rw", []VMA{with(anonRW(0, 4), VMSealed)}, unix.MADV_DONTNEED, 1, 2, nil, 0, applied("1-2")},
		perVMARow{"mseal: DONTNEED on sealed private file r--", []VMA{with(privFile(0, 4, ProtRead), VMSealed)}, unix.MADV_DONTNEED, 1, 2, nil, 0, applied("1-2")},
		perVMARow{"mseal: DONTFORK on sealed anon rw", []VMA{with(anonRW(0, 4), VMSealed)}, unix.MADV_DONTFORK, 0, 4, nil, 0, flagsAt(0, VMDontCopy, 0)},
		// "GUARD_REMOVE and the hints are always allowed".
		perVMARow{"mseal: GUARD_REMOVE on sealed anon r--", []VMA{guarded(sealedAnonRO(), 1, 2)}, unix.MADV_GUARD_REMOVE, 0, 4, nil, 0, guards(0, "{}")},
		perVMARow{"mseal: COLD on sealed anon r--", []VMA{sealedAnonRO()}, unix.MADV_COLD, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"mseal: WILLNEED on sealed anon r--", []VMA{sealedAnonRO()}, unix.MADV_WILLNEED, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"mseal: DOFORK on sealed anon r--", []VMA{with(sealedAnonRO(), VMDontCopy)}, unix.MADV_DOFORK, 0, 4, nil, 0, flagsAt(0, 0, VMDontCopy)},
		perVMARow{"mseal: SEQUENTIAL splits a sealed VMA", []VMA{sealedAnonRO()}, unix.MADV_SEQUENTIAL, 1, 2, nil, 0, all(flagsAt(1, VMSeqRead|VMSealed, 0), bounds(1, 1, 2))},
		perVMARow{"mseal: KEEPONFORK on sealed anon r--", []VMA{sealedAnonRO()}, unix.MADV_KEEPONFORK, 0, 4, nil, 0, nil},

		// Flag advice.
		perVMARow{"NORMAL clears RAND/SEQ", []VMA{with(anonRW(0, 4), VMSeqRead)}, unix.MADV_NORMAL, 0, 4, nil, 0, flagsAt(0, 0, VMSeqRead|VMRandRead)},
		perVMARow{"NORMAL clears RAND", []VMA{with(anonRW(0, 4), VMRandRead)}, unix.MADV_NORMAL, 0, 4, nil, 0, flagsAt(0, 0, VMSeqRead|VMRandRead)},
		perVMARow{"SEQUENTIAL sets SEQ clears RAND", []VMA{with(anonRW(0, 4), VMRandRead)}, unix.MADV_SEQUENTIAL, 0, 4, nil, 0, flagsAt(0, VMSeqRead, VMRandRead)},
		perVMARow{"RANDOM sets RAND clears SEQ", []VMA{with(anonRW(0, 4), VMSeqRead)}, unix.MADV_RANDOM, 0, 4, nil, 0, flagsAt(0, VMRandRead, VMSeqRead)},
		perVMARow{"DONTFORK sets DONTCOPY", []VMA{anonRW(0, 4)}, unix.MADV_DONTFORK, 0, 4, nil, 0, flagsAt(0, VMDontCopy, 0)},
		perVMARow{"DOFORK clears DONTCOPY", []VMA{with(anonRW(0, 4), VMDontCopy)}, unix.MADV_DOFORK, 0, 4, nil, 0, flagsAt(0, 0, VMDontCopy)},
		perVMARow{"DOFORK on VM_IO", []VMA{with(anonRW(0, 4), VMIO|VMDontCopy)}, unix.MADV_DOFORK, 0, 4, nil, unix.EINVAL, flagsAt(0, VMDontCopy, 0)},
		perVMARow{"DOFORK on VM_PFNMAP [new]", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_DOFORK, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DOFORK on VM_MIXEDMAP [new]", []VMA{with(anonRW(0, 4), VMMixedMap)}, unix.MADV_DOFORK, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DOFORK on VM_DONTEXPAND [new]", []VMA{with(anonRW(0, 4), VMDontExpand)}, unix.MADV_DOFORK, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"WIPEONFORK on private anon", []VMA{anonRW(0, 4)}, unix.MADV_WIPEONFORK, 0, 4, nil, 0, flagsAt(0, VMWipeOnFork, 0)},
		perVMARow{"WIPEONFORK on private file", []VMA{privFile(0, 4, rw)}, unix.MADV_WIPEONFORK, 0, 4, nil, unix.EINVAL, flagsAt(0, 0, VMWipeOnFork)},
		perVMARow{"WIPEONFORK on shared anon", []VMA{sharedAnon(0, 4)}, unix.MADV_WIPEONFORK, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"WIPEONFORK on memfd", []VMA{memfdMap(0, 4)}, unix.MADV_WIPEONFORK, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"KEEPONFORK clears WIPEONFORK", []VMA{with(anonRW(0, 4), VMWipeOnFork)}, unix.MADV_KEEPONFORK, 0, 4, nil, 0, flagsAt(0, 0, VMWipeOnFork)},
		perVMARow{"KEEPONFORK on VM_DROPPABLE", []VMA{with(anonRW(0, 4), VMDroppable|VMWipeOnFork)}, unix.MADV_KEEPONFORK, 0, 4, nil, unix.EINVAL, flagsAt(0, VMWipeOnFork, 0)},
		perVMARow{"DONTDUMP sets DONTDUMP", []VMA{anonRW(0, 4)}, unix.MADV_DONTDUMP, 0, 4, nil, 0, flagsAt(0, VMDontDump, 0)},
		perVMARow{"DODUMP clears DONTDUMP", []VMA{with(anonRW(0, 4), VMDontDump)}, unix.MADV_DODUMP, 0, 4, nil, 0, flagsAt(0, 0, VMDontDump)},
		perVMARow{"DODUMP on VM_SPECIAL", []VMA{with(anonRW(0, 4), VMPFNMap|VMIO|VMDontDump)}, unix.MADV_DODUMP, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DODUMP on VM_DROPPABLE", []VMA{with(anonRW(0, 4), VMDroppable|VMDontDump)}, unix.MADV_DODUMP, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DODUMP on hugetlb (VM_DONTEXPAND)", []VMA{with(hugetlbMap(0, 1024), VMDontDump)}, unix.MADV_DODUMP, 0, 512, nil, 0, flagsAt(0, 0, VMDontDump)},
		perVMARow{"MERGEABLE on private anon", []VMA{anonRW(0, 4)}, unix.MADV_MERGEABLE, 0, 4, nil, 0, flagsAt(0, VMMergeable, 0)},
		perVMARow{"MERGEABLE on shared anon: silently left alone", []VMA{sharedAnon(0, 4)}, unix.MADV_MERGEABLE, 0, 4, nil, 0, flagsAt(0, 0, VMMergeable)},
		perVMARow{"MERGEABLE on VM_PFNMAP: silently left alone", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_MERGEABLE, 1, 2, nil, 0, all(flagsAt(0, 0, VMMergeable), bounds(1, 0, 4))},
		perVMARow{"UNMERGEABLE clears", []VMA{with(anonRW(0, 4), VMMergeable)}, unix.MADV_UNMERGEABLE, 0, 4, nil, 0, flagsAt(0, 0, VMMergeable)},
		perVMARow{"UNMERGEABLE when not mergeable: ignored", []VMA{anonRW(0, 4)}, unix.MADV_UNMERGEABLE, 1, 2, nil, 0, bounds(1, 0, 4)},
		perVMARow{"HUGEPAGE sets one, clears the other", []VMA{with(anonRW(0, 4), VMNoHugePage)}, unix.MADV_HUGEPAGE, 0, 4, nil, 0, flagsAt(0, VMHugePage, VMNoHugePage)},
		perVMARow{"NOHUGEPAGE sets one, clears the other", []VMA{with(anonRW(0, 4), VMHugePage)}, unix.MADV_NOHUGEPAGE, 0, 4, nil, 0, flagsAt(0, VMNoHugePage, VMHugePage)},
		// "A flag change that does not change the flags touches nothing.
		// Otherwise the VMA is merged with neighbours or split at the
		// range edges".
		perVMARow{"no change: no split", []VMA{with(anonRW(0, 4), VMSeqRead)}, unix.MADV_SEQUENTIAL, 1, 2, nil, 0, all(bounds(1, 0, 4), applied("1-2"))},
		perVMARow{"split in three", []VMA{anonRW(0, 4)}, unix.MADV_DONTDUMP, 1, 3, nil, 0, all(bounds(0, 0, 1), bounds(1, 1, 3), bounds(3, 3, 4), flagsAt(2, VMDontDump, 0), flagsAt(3, 0, VMDontDump))},
		perVMARow{"merge with the previous VMA", []VMA{with(anonRW(0, 4), VMDontDump), anonRW(4, 4)}, unix.MADV_DONTDUMP, 4, 8, nil, 0, bounds(5, 0, 8)},
		perVMARow{"merge both ways", []VMA{with(anonRW(0, 4), VMDontDump), anonRW(4, 4), with(anonRW(8, 4), VMDontDump)}, unix.MADV_DONTDUMP, 4, 8, nil, 0, all(bounds(5, 0, 12), applied("4-8"))},
		perVMARow{"merge with the next VMA: the walk skips it", []VMA{anonRW(0, 4), with(anonRW(4, 4), VMDontDump)}, unix.MADV_DONTDUMP, 2, 6, nil, 0, all(bounds(5, 2, 8), applied("2-4"))},

		// WILLNEED.
		perVMARow{"WILLNEED on anon", []VMA{anonRW(0, 4)}, unix.MADV_WILLNEED, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"WILLNEED on anon without swap", []VMA{anonRW(0, 4)}, unix.MADV_WILLNEED, 0, 4, noSwap, unix.EBADF, applied()},
		perVMARow{"WILLNEED on a file", []VMA{privFile(0, 4, ProtRead)}, unix.MADV_WILLNEED, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"WILLNEED on a file without swap", []VMA{privFile(0, 4, ProtRead)}, unix.MADV_WILLNEED, 0, 4, noSwap, 0, applied("0-4")},
		perVMARow{"WILLNEED on shared anon without swap (a file)", []VMA{sharedAnon(0, 4)}, unix.MADV_WILLNEED, 0, 4, noSwap, 0, applied("0-4")},
		perVMARow{"WILLNEED on PROT_NONE", []VMA{anonMap(0, 4, ProtNone)}, unix.MADV_WILLNEED, 0, 4, nil, 0, nil},

		// COLD, PAGEOUT.
		perVMARow{"COLD on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked)}, unix.MADV_COLD, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"PAGEOUT on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked|VMLockOnFault)}, unix.MADV_PAGEOUT, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"COLD on VM_PFNMAP", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_COLD, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"PAGEOUT on hugetlb", []VMA{hugetlbMap(0, 512)}, unix.MADV_PAGEOUT, 0, 512, nil, unix.EINVAL, nil},
		perVMARow{"COLD on VM_IO (not PFNMAP): 0", []VMA{with(anonRW(0, 4), VMIO)}, unix.MADV_COLD, 0, 4, nil, 0, nil},
		perVMARow{"PAGEOUT keeps guard markers", []VMA{guarded(anonRW(0, 4), 1, 3)}, unix.MADV_PAGEOUT, 0, 4, nil, 0, guards(0, "{1-3}")},

		// DONTNEED, DONTNEED_LOCKED, FREE.
		perVMARow{"DONTNEED on VM_PFNMAP", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_DONTNEED, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"DONTNEED_LOCKED on VM_PFNMAP", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_DONTNEED_LOCKED, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DONTNEED on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked)}, unix.MADV_DONTNEED, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"FREE on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked)}, unix.MADV_FREE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"DONTNEED_LOCKED on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked)}, unix.MADV_DONTNEED_LOCKED, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"DONTNEED on a private file", []VMA{privFile(0, 4, rw)}, unix.MADV_DONTNEED, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"DONTNEED keeps guard markers", []VMA{guarded(anonRW(0, 4), 1, 3)}, unix.MADV_DONTNEED, 0, 4, nil, 0, guards(0, "{1-3}")},
		perVMARow{"FREE keeps guard markers", []VMA{guarded(anonRW(0, 4), 1, 3)}, unix.MADV_FREE, 0, 4, nil, 0, guards(0, "{1-3}")},
		perVMARow{"FREE on private anon", []VMA{anonRW(0, 4)}, unix.MADV_FREE, 1, 3, nil, 0, applied("1-3")},
		perVMARow{"FREE on a private file", []VMA{privFile(0, 4, rw)}, unix.MADV_FREE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"FREE on shared anon", []VMA{sharedAnon(0, 4)}, unix.MADV_FREE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"FREE on memfd", []VMA{memfdMap(0, 4)}, unix.MADV_FREE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"FREE on hugetlb", []VMA{hugetlbMap(0, 1024)}, unix.MADV_FREE, 0, 512, nil, unix.EINVAL, nil},
		perVMARow{"DONTNEED on hugetlb, aligned", []VMA{hugetlbMap(0, 1024)}, unix.MADV_DONTNEED, 0, 512, nil, 0, applied("0-512")},
		perVMARow{"DONTNEED on hugetlb, unaligned start", []VMA{hugetlbMap(0, 1024)}, unix.MADV_DONTNEED, 1, 512, nil, unix.EINVAL, applied()},
		perVMARow{"DONTNEED on hugetlb, end rounds down", []VMA{hugetlbMap(0, 1024)}, unix.MADV_DONTNEED, 0, 700, nil, 0, applied("0-512")},
		perVMARow{"DONTNEED on hugetlb, less than a huge page", []VMA{hugetlbMap(0, 1024)}, unix.MADV_DONTNEED, 0, 10, nil, 0, applied()},
		perVMARow{"DONTNEED_LOCKED on locked hugetlb", []VMA{with(hugetlbMap(0, 1024), VMLocked)}, unix.MADV_DONTNEED_LOCKED, 512, 1024, nil, 0, applied("512-1024")},

		// REMOVE.
		perVMARow{"REMOVE on VM_LOCKED private file: EINVAL first", []VMA{with(privFile(0, 4, ProtRead), VMLocked)}, unix.MADV_REMOVE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"REMOVE on VM_LOCKED shared file", []VMA{with(sharedFile(0, 4, rw, true), VMLocked)}, unix.MADV_REMOVE, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"REMOVE on private anon", []VMA{anonRW(0, 4)}, unix.MADV_REMOVE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"REMOVE on a private file", []VMA{privFile(0, 4, rw)}, unix.MADV_REMOVE, 0, 4, nil, unix.EACCES, nil},
		perVMARow{"REMOVE on a read-only shared file", []VMA{sharedFile(0, 4, ProtRead, false)}, unix.MADV_REMOVE, 0, 4, nil, unix.EACCES, nil},
		perVMARow{"REMOVE on a shared file", []VMA{sharedFile(0, 4, rw, true)}, unix.MADV_REMOVE, 1, 3, nil, 0, applied("1-3")},
		perVMARow{"REMOVE on a shared file mapped r-- (may write)", []VMA{sharedFile(0, 4, ProtRead, true)}, unix.MADV_REMOVE, 0, 4, nil, 0, nil},
		perVMARow{"REMOVE on shared anon", []VMA{sharedAnon(0, 4)}, unix.MADV_REMOVE, 0, 4, nil, 0, nil},
		perVMARow{"REMOVE keeps guard markers", []VMA{guarded(sharedFile(0, 4, rw, true), 0, 1)}, unix.MADV_REMOVE, 0, 4, nil, 0, guards(0, "{0-1}")},

		// POPULATE_READ / POPULATE_WRITE.
		perVMARow{"POPULATE_READ on PROT_NONE", []VMA{anonMap(0, 4, ProtNone)}, unix.MADV_POPULATE_READ, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"POPULATE_WRITE on PROT_NONE", []VMA{anonMap(0, 4, ProtNone)}, unix.MADV_POPULATE_WRITE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"POPULATE_WRITE on r--", []VMA{anonRO(0, 4)}, unix.MADV_POPULATE_WRITE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"POPULATE_READ on -w- (no VM_READ)", []VMA{anonMap(0, 4, ProtWrite)}, unix.MADV_POPULATE_READ, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"POPULATE_READ on r--", []VMA{anonRO(0, 4)}, unix.MADV_POPULATE_READ, 0, 4, nil, 0, applied("0-4")},
		perVMARow{"POPULATE_READ on VM_IO", []VMA{with(anonRW(0, 4), VMIO)}, unix.MADV_POPULATE_READ, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"POPULATE_WRITE on VM_PFNMAP", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_POPULATE_WRITE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"POPULATE_READ on a guard: EFAULT after the pages before", []VMA{guarded(anonRW(0, 4), 2, 3)}, unix.MADV_POPULATE_READ, 0, 4, nil, unix.EFAULT, applied("0-2")},
		perVMARow{"POPULATE_WRITE starting on a guard", []VMA{guarded(anonRW(0, 4), 0, 1)}, unix.MADV_POPULATE_WRITE, 0, 4, nil, unix.EFAULT, applied()},
		perVMARow{"POPULATE_WRITE attaches an anon_vma", []VMA{anonRW(0, 4)}, unix.MADV_POPULATE_WRITE, 0, 4, nil, 0, func(t *testing.T, m *MM, r MadviseResult) {
			assert.NotZero(t, vmaAt(t, m, 0).AnonVMA)
		}},
		perVMARow{"POPULATE_READ attaches none", []VMA{anonRW(0, 4)}, unix.MADV_POPULATE_READ, 0, 4, nil, 0, func(t *testing.T, m *MM, r MadviseResult) {
			assert.Zero(t, vmaAt(t, m, 0).AnonVMA)
		}},
		perVMARow{"POPULATE on a sealed anon r--: not a discard", []VMA{sealedAnonRO()}, unix.MADV_POPULATE_READ, 0, 4, nil, 0, nil},

		// COLLAPSE (2 MiB = 512 pages; base is 2 MiB aligned).
		perVMARow{"COLLAPSE on a VMA smaller than a block", []VMA{anonRW(0, 4)}, unix.MADV_COLLAPSE, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"COLLAPSE on VM_NOHUGEPAGE", []VMA{with(anonRW(0, 1024), VMNoHugePage)}, unix.MADV_COLLAPSE, 0, 1024, nil, unix.EINVAL, nil},
		perVMARow{"COLLAPSE on hugetlb", []VMA{hugetlbMap(0, 1024)}, unix.MADV_COLLAPSE, 0, 1024, nil, unix.EINVAL, nil},
		perVMARow{"COLLAPSE range smaller than a block", []VMA{anonRW(0, 1024)}, unix.MADV_COLLAPSE, 10, 500, nil, 0, applied()},
		perVMARow{"COLLAPSE one block", []VMA{anonRW(0, 1024)}, unix.MADV_COLLAPSE, 10, 1024, nil, 0, applied("512-1024")},
		perVMARow{"COLLAPSE over a guard marker", []VMA{guarded(anonRW(0, 1024), 600, 601)}, unix.MADV_COLLAPSE, 0, 1024, nil, unix.EINVAL, guards(0, "{600-601}")},
		perVMARow{"COLLAPSE on a misaligned file", []VMA{NewMmap(at(0), pg(1024), ProtRead, false, fileA, 1, false)}, unix.MADV_COLLAPSE, 0, 1024, nil, unix.EINVAL, nil},

		// GUARD_INSTALL.
		perVMARow{"GUARD_INSTALL on VM_IO", []VMA{with(anonRW(0, 4), VMIO)}, unix.MADV_GUARD_INSTALL, 0, 4, nil, unix.EINVAL, applied()},
		perVMARow{"GUARD_INSTALL on VM_MIXEDMAP", []VMA{with(anonRW(0, 4), VMMixedMap)}, unix.MADV_GUARD_INSTALL, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"GUARD_INSTALL on hugetlb", []VMA{hugetlbMap(0, 512)}, unix.MADV_GUARD_INSTALL, 0, 512, nil, unix.EINVAL, nil},
		perVMARow{"GUARD_INSTALL on VM_LOCKED", []VMA{with(anonRW(0, 4), VMLocked)}, unix.MADV_GUARD_INSTALL, 0, 4, nil, unix.EINVAL, flagsAt(0, 0, VMMaybeGuard)},
		perVMARow{"GUARD_INSTALL on anon", []VMA{anonRW(0, 4)}, unix.MADV_GUARD_INSTALL, 1, 3, nil, 0, all(
			guards(0, "{1-3}"), flagsAt(0, VMMaybeGuard, 0), bounds(0, 0, 4), applied("1-3"),
			func(t *testing.T, m *MM, r MadviseResult) { assert.NotZero(t, vmaAt(t, m, 0).AnonVMA, "no anon_vma") })},
		perVMARow{"GUARD_INSTALL on a read-only file", []VMA{privFile(0, 4, ProtRead)}, unix.MADV_GUARD_INSTALL, 0, 2, nil, 0, all(guards(0, "{0-2}"), flagsAt(0, VMMaybeGuard, 0))},
		perVMARow{"GUARD_INSTALL on shared anon", []VMA{sharedAnon(0, 4)}, unix.MADV_GUARD_INSTALL, 0, 4, nil, 0, guards(0, "{0-4}")},
		perVMARow{"GUARD_INSTALL is idempotent", []VMA{guarded(anonRW(0, 4), 1, 3)}, unix.MADV_GUARD_INSTALL, 1, 3, nil, 0, guards(0, "{1-3}")},
		perVMARow{"GUARD_INSTALL on sealed anon rw", []VMA{with(anonRW(0, 4), VMSealed)}, unix.MADV_GUARD_INSTALL, 0, 1, nil, 0, guards(0, "{0-1}")},
		perVMARow{"GUARD_INSTALL loses 2 races, then installs", []VMA{anonRW(0, 4)}, unix.MADV_GUARD_INSTALL, 0, 4, func(e *MadviseEnv) { e.LoseGuardRaces = 2 }, 0, guards(0, "{0-4}")},

		// GUARD_REMOVE.
		perVMARow{"GUARD_REMOVE on VM_PFNMAP", []VMA{with(anonRW(0, 4), VMPFNMap)}, unix.MADV_GUARD_REMOVE, 0, 4, nil, unix.EINVAL, nil},
		perVMARow{"GUARD_REMOVE on hugetlb", []VMA{hugetlbMap(0, 512)}, unix.MADV_GUARD_REMOVE, 0, 512, nil, unix.EINVAL, nil},
		perVMARow{"GUARD_REMOVE on VM_LOCKED is fine", []VMA{guarded(with(anonRW(0, 4), VMLocked), 0, 4)}, unix.MADV_GUARD_REMOVE, 1, 3, nil, 0, guards(0, "{0-1,3-4}")},
		perVMARow{"GUARD_REMOVE keeps VM_MAYBE_GUARD", []VMA{with(guarded(anonRW(0, 4), 0, 4), VMMaybeGuard)}, unix.MADV_GUARD_REMOVE, 0, 4, nil, 0, all(guards(0, "{}"), flagsAt(0, VMMaybeGuard, 0))},
		perVMARow{"GUARD_REMOVE over non-guard pages", []VMA{anonRW(0, 4)}, unix.MADV_GUARD_REMOVE, 0, 4, nil, 0, all(guards(0, "{}"), flagsAt(0, 0, VMMaybeGuard))},
	)

	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			m := newMM(t, tt.vmas...)
			before := m.AS.VMAs()
			h := lockdep.NewHolder("madvise", 1)
			env := envWith()
			if tt.env != nil {
				tt.env(&env)
			}
			got := madviseChecked(t, m, h, tt.lo, tt.hi-tt.lo, tt.advice, env)
			assert.Equal(t, tt.want, got.Err, "got %v, want %v", got.Err, tt.want)
			assert.False(t, got.Restart)
			if tt.want != 0 && tt.want != unix.EFAULT {
				assert.Equal(t, before, m.AS.VMAs(), "a failing single-VMA call changed the model")
			}
			if tt.check != nil {
				tt.check(t, m, got)
			}
		})
	}
}

// TestMadviseMaxMapCount: "an ENOMEM there (including vm.max_map_count) is
// returned as EAGAIN. No other ENOMEM is translated."
func TestMadviseMaxMapCount(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, anonRW(0, 4), privFile(4, 4, ProtRead))
	m.AS.MaxMapCount = 2
	h := lockdep.NewHolder("madvise", 1)
	before := m.AS.VMAs()

	got := madviseChecked(t, m, h, 1, 2, unix.MADV_DONTDUMP, envWith())
	assert.Equal(t, unix.EAGAIN, got.Err)
	assert.Equal(t, before, m.AS.VMAs())
	assert.Empty(t, pieces(got))

	// The first VMA changes whole, the second needs a split: EAGAIN, the
	// first stays changed.
	got = madviseChecked(t, m, h, 0, 6, unix.MADV_SEQUENTIAL, envWith())
	assert.Equal(t, unix.EAGAIN, got.Err)
	assert.Equal(t, []uint64{0, 1, 2, 3}, pagesWith(m, VMSeqRead))
	assert.Equal(t, []string{"0-4"}, pieces(got))

	// No split needed: fine at the limit.
	got = madviseChecked(t, m, h, 0, 8, unix.MADV_DONTDUMP, envWith())
	assert.Equal(t, unix.Errno(0), got.Err)

	// A gap's ENOMEM is not translated.
	got = madviseChecked(t, m, h, 0, 10, unix.MADV_DODUMP, envWith())
	assert.Equal(t, unix.ENOMEM, got.Err)
	assert.Equal(t, []uint64{}, pagesWith(m, VMDontDump))
}

// TestMadviseHostCalls: REMOVE's hole punch error ends the walk; WILLNEED's
// readahead result is ignored; both run with mmap_lock dropped; POPULATE's
// and COLLAPSE's host errors.
func TestMadviseHostCalls(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	twoShared := func(t *testing.T) *MM {
		a := sharedFile(0, 4, rw, true)
		b := sharedFile(4, 4, rw, true)
		b.Backing.FileID = 2 // another open: no merge
		return newMM(t, a, b)
	}
	tests := []struct {
		name   string
		layout func(*testing.T) *MM
		advice int
		lo, hi uint64
		host   fakeHost
		want   unix.Errno
		calls  []string
	}{
		{"REMOVE punches each piece without mmap_lock", twoShared, unix.MADV_REMOVE, 2, 6, fakeHost{}, 0,
			[]string{"punch 2-4 depth=0", "punch 4-6 depth=0"}},
		{"REMOVE stops at the first punch error", twoShared, unix.MADV_REMOVE, 2, 6, fakeHost{punch: unix.EOPNOTSUPP}, unix.EOPNOTSUPP,
			[]string{"punch 2-4 depth=0"}},
		{"REMOVE: ETXTBSY passes through", twoShared, unix.MADV_REMOVE, 0, 2, fakeHost{punch: unix.ETXTBSY}, unix.ETXTBSY,
			[]string{"punch 0-2 depth=0"}},
		{"WILLNEED on files: readahead without mmap_lock", twoShared, unix.MADV_WILLNEED, 2, 6, fakeHost{}, 0,
			[]string{"readahead 2-4 depth=0", "readahead 4-6 depth=0"}},
		{"WILLNEED on memfd (shmem): no file call", func(t *testing.T) *MM { return newMM(t, memfdMap(0, 4)) }, unix.MADV_WILLNEED, 0, 4, fakeHost{}, 0,
			[]string{}},
		{"POPULATE: EFAULT beyond EOF", twoShared, unix.MADV_POPULATE_READ, 0, 8, fakeHost{populate: unix.EFAULT}, unix.EFAULT,
			[]string{"populate(w=false) 0-4 depth=1"}},
		{"POPULATE: EHWPOISON", twoShared, unix.MADV_POPULATE_WRITE, 0, 8, fakeHost{populate: unix.EHWPOISON}, unix.EHWPOISON,
			[]string{"populate(w=true) 0-4 depth=1"}},
		{"POPULATE: anything else is ENOMEM", twoShared, unix.MADV_POPULATE_READ, 0, 8, fakeHost{populate: unix.EIO}, unix.ENOMEM,
			[]string{"populate(w=false) 0-4 depth=1"}},
		{"COLLAPSE: the host's errno", func(t *testing.T) *MM { return newMM(t, anonRW(0, 1024)) }, unix.MADV_COLLAPSE, 0, 1024, fakeHost{collapse: unix.EBUSY}, unix.EBUSY,
			[]string{"collapse 0-1024 depth=1"}},
		{"COLLAPSE of a file drops mmap_lock", func(t *testing.T) *MM { return newMM(t, privFile(0, 1024, ProtRead)) }, unix.MADV_COLLAPSE, 0, 1024, fakeHost{collapse: unix.EAGAIN}, unix.EAGAIN,
			[]string{"collapse 0-1024 depth=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.layout(t)
			h := lockdep.NewHolder("madvise", 1)
			host := tt.host
			host.h = h
			env := envWith(func(e *MadviseEnv) { e.Host = &host })
			got := madviseChecked(t, m, h, tt.lo, tt.hi-tt.lo, tt.advice, env)
			assert.Equal(t, tt.want, got.Err)
			calls := host.calls
			if calls == nil {
				calls = []string{}
			}
			assert.Equal(t, tt.calls, calls)
		})
	}
}

// TestMadvisePopulateFatalSignal: "EINTR on a fatal signal" (spec "signal:
// Any fatal signal": faultin_page_range).
func TestMadvisePopulateFatalSignal(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, anonRW(0, 4))
	h := lockdep.NewHolder("madvise", 1)
	h.SignalFatal()
	got := madviseChecked(t, m, h, 0, 4, unix.MADV_POPULATE_WRITE, envWith())
	assert.Equal(t, unix.EINTR, got.Err)
	assert.Empty(t, pieces(got))
}

// TestMadviseGuardRestart: "after 3 lost races return -ERESTARTNOINTR,
// which restarts the syscall transparently"; the restarted call installs
// every marker ("Net: every page becomes a guard ... idempotent").
func TestMadviseGuardRestart(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, anonRW(0, 4), privFile(4, 4, ProtRead))
	h := lockdep.NewHolder("madvise", 1)
	rec := record(h)
	env := envWith(func(e *MadviseEnv) { e.LoseGuardRaces = 4 })

	got := madviseChecked(t, m, h, 0, 8, unix.MADV_GUARD_INSTALL, env)
	require.True(t, got.Restart, "got no restart after 3 lost races")
	assert.Equal(t, ERESTARTNOINTR, got.Err)
	assert.Empty(t, pieces(got))
	// VM_MAYBE_GUARD and the anon_vma are set before the tries.
	v := vmaAt(t, m, 0)
	assert.NotZero(t, v.Flags&VMMaybeGuard)
	assert.NotZero(t, v.AnonVMA)
	assert.True(t, v.Guards.Empty())
	zaps := strings.Count(strings.Join(rec.events, ","), "acquire mmu_notifier")
	assert.Equal(t, 3, zaps, "got %d zaps, want one per lost race: %v", zaps, rec.events)

	// The sentry restarts it: one race left to lose, then it completes.
	env.LoseGuardRaces -= MaxGuardRetries
	got = madviseChecked(t, m, h, 0, 8, unix.MADV_GUARD_INSTALL, env)
	assert.False(t, got.Restart)
	assert.Equal(t, unix.Errno(0), got.Err)
	assert.Equal(t, []string{"0-4", "4-8"}, pieces(got))
	assert.Equal(t, "{0-4}", vmaAt(t, m, 0).Guards.String())
	assert.Equal(t, "{0-4}", vmaAt(t, m, 4).Guards.String())
}

// TestMadviseLockSequences records the locks of the spec's examples (issue
// 3's protocol check): facts "Locks" and the spec's lock: sections.
func TestMadviseLockSequences(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	zap := []string{"acquire mmu_notifier W", "release mmu_notifier W"}
	cat := func(parts ...[]string) []string {
		out := []string{}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	s := func(e ...string) []string { return append([]string{}, e...) }
	twoFiles := func(t *testing.T) *MM {
		a := sharedFile(0, 4, rw, true)
		b := sharedFile(4, 4, rw, true)
		b.Backing.FileID = 2
		return newMM(t, a, b)
	}
	tests := []struct {
		name   string
		layout func(*testing.T) *MM
		advice int
		lo, hi uint64
		env    func(*MadviseEnv)
		want   []string
	}{
		{"DONTNEED in one VMA: per-VMA read lock only", walkLayout, unix.MADV_DONTNEED, 1, 3, nil,
			cat(s("acquire vma_lock R|try", "acquire mmu_gather W"), zap, s("release mmu_gather W", "release vma_lock R"))},
		{"DONTNEED across two VMAs: mmap_lock read", walkLayout, unix.MADV_DONTNEED, 2, 6, nil,
			cat(s("acquire mmap_lock R", "acquire mmu_gather W"), zap, zap, s("release mmu_gather W", "release mmap_lock R"))},
		{"FREE in one VMA", walkLayout, unix.MADV_FREE, 0, 4, nil,
			cat(s("acquire vma_lock R|try", "acquire mmu_gather W"), zap, s("release mmu_gather W", "release vma_lock R"))},
		{"DONTNEED_LOCKED over a gap", walkLayout, unix.MADV_DONTNEED_LOCKED, 2, 12, nil,
			cat(s("acquire mmap_lock R", "acquire mmu_gather W"), zap, zap, zap, s("release mmu_gather W", "release mmap_lock R"))},
		{"DONTNEED refused: the gather still brackets the walk", func(t *testing.T) *MM { return newMM(t, with(anonRW(0, 4), VMLocked)) }, unix.MADV_DONTNEED, 0, 4, nil,
			s("acquire vma_lock R|try", "acquire mmu_gather W", "release mmu_gather W", "release vma_lock R")},
		{"HUGEPAGE: mmap_lock write-killable", walkLayout, unix.MADV_HUGEPAGE, 1, 2, nil,
			s("acquire mmap_lock W|killable", "acquire vma_lock W", "release vma_lock W", "release mmap_lock W")},
		{"HUGEPAGE with no change: no VMA write-marked", func(t *testing.T) *MM { return newMM(t, with(anonRW(0, 4), VMHugePage)) }, unix.MADV_HUGEPAGE, 1, 2, nil,
			s("acquire mmap_lock W|killable", "release mmap_lock W")},
		{"HWPOISON: none", walkLayout, unix.MADV_HWPOISON, 0, 2, sysAdminMF, s()},
		{"SOFT_OFFLINE: none", walkLayout, abi.MADV_SOFT_OFFLINE, 0, 2, sysAdminMF, s()},
		{"REMOVE: drop and retake around each file call", twoFiles, unix.MADV_REMOVE, 2, 6, nil,
			s("acquire mmap_lock R", "release mmap_lock R", "acquire mmap_lock R", "release mmap_lock R", "acquire mmap_lock R", "release mmap_lock R")},
		{"WILLNEED on a file: drop and retake", func(t *testing.T) *MM { return newMM(t, privFile(0, 4, ProtRead)) }, unix.MADV_WILLNEED, 0, 4, nil,
			s("acquire mmap_lock R", "release mmap_lock R", "acquire mmap_lock R", "release mmap_lock R")},
		{"WILLNEED on anon: no drop", walkLayout, unix.MADV_WILLNEED, 0, 4, nil,
			s("acquire mmap_lock R", "release mmap_lock R")},
		{"COLD: mmap_lock read, a gather per VMA", walkLayout, unix.MADV_COLD, 2, 6, nil,
			s("acquire mmap_lock R", "acquire mmu_gather W", "release mmu_gather W", "acquire mmu_gather W", "release mmu_gather W", "release mmap_lock R")},
		{"POPULATE_READ: mmap_lock read", walkLayout, unix.MADV_POPULATE_READ, 0, 8, nil,
			s("acquire mmap_lock R", "release mmap_lock R")},
		{"GUARD_INSTALL on anon without anon_vma: mmap_lock read", walkLayout, unix.MADV_GUARD_INSTALL, 0, 2, nil,
			s("acquire mmap_lock R", "release mmap_lock R")},
		{"GUARD_INSTALL on a file: per-VMA read lock", walkLayout, unix.MADV_GUARD_INSTALL, 4, 6, nil,
			s("acquire vma_lock R|try", "release vma_lock R")},
		{"GUARD_INSTALL losing a race: a zap in its own gather", walkLayout, unix.MADV_GUARD_INSTALL, 4, 6, func(e *MadviseEnv) { e.LoseGuardRaces = 1 },
			cat(s("acquire vma_lock R|try", "acquire mmu_gather W"), zap, s("release mmu_gather W", "release vma_lock R"))},
		{"GUARD_REMOVE in one VMA: per-VMA read lock, no zap", walkLayout, unix.MADV_GUARD_REMOVE, 0, 2, nil,
			s("acquire vma_lock R|try", "release vma_lock R")},
		{"another mm: mmap_lock read", walkLayout, unix.MADV_DONTNEED, 0, 2, func(e *MadviseEnv) { e.OwnMM = false },
			cat(s("acquire mmap_lock R", "acquire mmu_gather W"), zap, s("release mmu_gather W", "release mmap_lock R"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.layout(t)
			h := lockdep.NewHolder("madvise", 1)
			rec := record(h)
			env := envWith()
			if tt.env != nil {
				tt.env(&env)
			}
			madviseChecked(t, m, h, tt.lo, tt.hi-tt.lo, tt.advice, env)
			got := rec.events
			if got == nil {
				got = []string{}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// allAdvice is the 27 advice values (facts "Values").
var allAdvice = abi.AdviceValues

// TestMadviseLockProtocol is issue 3's protocol check: every advice (all 27
// and unknown ones) over one VMA, several VMAs, a gap, a uffd-armed VMA, an
// anonymous VMA without anon_vma and another process's mm; the recorded
// sequence must match LockFor and FastPathAllowed, every lock must be
// released, and the order lockdep learns must agree with the declared one.
func TestMadviseLockProtocol(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	lockdep.ResetGraph()
	t.Cleanup(lockdep.ResetGraph)
	require.Len(t, allAdvice, 27)

	// Shared file VMAs with anon_vma-free anon around them; the anon VMAs
	// have an anon_vma except in "anon without anon_vma".
	type scenario struct {
		name   string
		setup  func(t *testing.T) *MM
		lo, hi uint64
		ownMM  bool
	}
	withAnonVMA := func(t *testing.T, vmas ...VMA) *MM {
		m := newMM(t, vmas...)
		m.AS.PrepareAnonVMA(at(0), at(64))
		return m
	}
	scenarios := []scenario{
		{"one VMA", func(t *testing.T) *MM { return withAnonVMA(t, anonRW(0, 8)) }, 2, 4, true},
		{"several VMAs", func(t *testing.T) *MM { return withAnonVMA(t, anonRW(0, 4), sharedFile(4, 4, rw, true), anonRO(8, 4)) }, 2, 10, true},
		{"a gap", func(t *testing.T) *MM { return withAnonVMA(t, anonRW(0, 4), anonRO(6, 4)) }, 2, 8, true},
		{"uffd-armed", func(t *testing.T) *MM {
			m := withAnonVMA(t, anonRW(0, 8))
			require.NoError(t, m.AS.SetUffd(at(0), at(8), true))
			return m
		}, 2, 4, true},
		{"anon without anon_vma", func(t *testing.T) *MM { return newMM(t, anonRW(0, 8)) }, 2, 4, true},
		{"another mm", func(t *testing.T) *MM { return withAnonVMA(t, anonRW(0, 8)) }, 2, 4, false},
	}
	advice := append(append([]int{}, allAdvice...), 5, 6, 7, 26, 99, 104, -1)
	for _, sc := range scenarios {
		for _, a := range advice {
			t.Run(fmt.Sprintf("%s/%d", sc.name, a), func(t *testing.T) {
				m := sc.setup(t)
				h := lockdep.NewHolder("madvise", 1)
				rec := record(h)
				env := envWith(sysAdminMF, func(e *MadviseEnv) { e.OwnMM = sc.ownMM })
				v, _ := m.AS.Find(at(sc.lo))
				fast := FastPathAllowed(a, at(sc.lo), at(sc.hi), &v, sc.ownMM)
				got := madviseChecked(t, m, h, sc.lo, sc.hi-sc.lo, a, env)
				require.False(t, got.Restart)
				h.CheckNoneHeld("madvise")

				ev := rec.events
				var first string
				if len(ev) > 0 {
					first = ev[0]
				}
				has := func(s string) bool { return strings.Contains(strings.Join(ev, ","), s) }
				switch LockFor(a) {
				case LockNone:
					assert.Empty(t, ev, "%v takes no lock", a)
				case LockMmapRead:
					assert.Equal(t, "acquire mmap_lock R", first, "events %v", ev)
					assert.False(t, has("vma_lock"), "events %v", ev)
				case LockVMAReadFirst:
					if fast {
						assert.Equal(t, "acquire vma_lock R|try", first, "events %v", ev)
						assert.False(t, has("mmap_lock"), "events %v", ev)
					} else {
						assert.Equal(t, "acquire mmap_lock R", first, "events %v", ev)
						assert.False(t, has("vma_lock"), "events %v", ev)
					}
				case LockMmapWriteKillable:
					assert.Equal(t, "acquire mmap_lock W|killable", first, "events %v", ev)
					assert.False(t, has("mmap_lock R"), "events %v", ev)
				}
				if LockFor(a) != LockNone {
					assert.NotEqual(t, "", first)
				}
			})
		}
	}
	require.NoError(t, lockdep.CheckOrder())
}

// TestMadviseKillable: "a fatal signal while waiting for the killable
// mmap_lock write ends the call with EINTR" before any VMA is touched
// (facts "Locks"; spec "lock: mm->mmap_lock (write mode; killable)").
func TestMadviseKillable(t *testing.T) {
	for _, mode := range []lockdep.Mode{lockdep.Off, lockdep.Panic} {
		t.Run(mode.String(), func(t *testing.T) {
			withLockdep(t, mode)
			m := newMM(t, anonRW(0, 4), privFile(4, 4, ProtRead))
			writer := lockdep.NewHolder("writer", 1)
			victim := lockdep.NewHolder("madvise", 2)
			blocked := newBlockSignal()
			victim.SetWaiter(blocked)
			rec := record(victim)

			m.Lock.Write(writer)
			before := m.AS.VMAs()
			done := make(chan MadviseResult, 1)
			go func() { done <- m.Madvise(victim, at(1), pg(5), unix.MADV_DONTFORK, envWith()) }()
			select {
			case <-blocked.waiting:
			case r := <-done:
				t.Fatalf("got %v before the writer unlocked, want a wait", r.Err)
			}
			victim.SignalFatal()
			r := <-done
			assert.Equal(t, unix.EINTR, r.Err)
			assert.Empty(t, r.Applied)
			assert.Equal(t, before, m.AS.VMAs(), "the killed call changed the model")
			assert.Zero(t, victim.Depth())
			if mode != lockdep.Off {
				assert.Equal(t, []string{"killed mmap_lock W|killable"}, rec.events)
			}
			m.Lock.Unlock(writer)

			// Without the signal the same call goes through.
			victim.ClearFatalSignal()
			r = m.Madvise(victim, at(1), pg(5), unix.MADV_DONTFORK, envWith())
			assert.Equal(t, unix.Errno(0), r.Err)
			assert.Equal(t, []uint64{1, 2, 3, 4, 5}, pagesWith(m, VMDontCopy))
		})
	}
}

// TestMadviseFastPathFallsBackWhenMarked: a VMA write-marked by a writer
// makes the per-VMA try fail; the call falls back to mmap_lock read.
func TestMadviseFastPathFallsBackWhenMarked(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, anonRW(0, 4))
	writer := lockdep.NewHolder("writer", 1)
	h := lockdep.NewHolder("madvise", 2)
	v := vmaAt(t, m, 0)
	m.Lock.Write(writer)
	m.Lock.MarkVMAWrite(writer, &v)
	done := make(chan MadviseResult, 1)
	rec := record(h)
	blocked := newBlockSignal()
	h.SetWaiter(blocked)
	go func() { done <- m.Madvise(h, at(1), pg(1), unix.MADV_DONTNEED, envWith()) }()
	<-blocked.waiting // the try failed; it waits for mmap_lock read
	m.Lock.Unlock(writer)
	r := <-done
	assert.Equal(t, unix.Errno(0), r.Err)
	require.NotEmpty(t, rec.events)
	assert.Equal(t, "acquire mmap_lock R", rec.events[0])
}

// TestMadviseVsyscall: the [vsyscall] gate area is not a VMA of the mm.
func TestMadviseVsyscall(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	lines, err := ParseMaps("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n")
	require.NoError(t, err)
	m := NewMM(FromMaps(lines))
	h := lockdep.NewHolder("madvise", 1)
	r := m.Madvise(h, 0xffffffffff600000, PageSize, unix.MADV_DONTDUMP, envWith())
	assert.Equal(t, unix.ENOMEM, r.Err)
	r = m.Madvise(h, 0xffffffffff600000, PageSize, unix.MADV_POPULATE_READ, envWith())
	assert.Equal(t, unix.ENOMEM, r.Err)
}

// TestSpecialMappingNoSplit: the kernel's special mappings refuse to be
// split (special_mapping_split): a flag advice over part of [vvar] is
// EINVAL, over all of it succeeds; munmap and mprotect of a part are
// EINVAL too.
func TestSpecialMappingNoSplit(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	vvar := VMA{Start: at(0), End: at(4), Flags: VMRead | VMMayRead | VMIO | VMPFNMap | VMDontDump | VMDontExpand,
		Backing: Backing{Kind: BackingVVar}}
	m := newMM(t, vvar)
	h := lockdep.NewHolder("madvise", 1)
	got := madviseChecked(t, m, h, 0, 1, unix.MADV_WIPEONFORK, envWith())
	assert.Equal(t, unix.EINVAL, got.Err)
	assert.Equal(t, uint64(at(4)), vmaAt(t, m, 0).End, "split")
	got = madviseChecked(t, m, h, 0, 4, unix.MADV_WIPEONFORK, envWith())
	assert.Equal(t, unix.Errno(0), got.Err)
	assert.NotZero(t, vmaAt(t, m, 0).Flags&VMWipeOnFork)
	assert.Equal(t, unix.EINVAL, m.AS.Unmap(at(1), at(2)))
	assert.Equal(t, unix.EINVAL, m.AS.Protect(at(0), at(1), ProtNone))
	assert.Equal(t, 1, m.AS.Len())
	require.NoError(t, m.AS.Unmap(at(0), at(4)))
}
