package mm

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"go.uber.org/atomic"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/lockdep"
)

// The lockdep classes of mm's locks. See "Lock order" in the package doc.
var (
	// MmapLockClass is the lockdep class of mm->mmap_lock, the rwsem that
	// serializes changes to an address space's VMAs. The sentry holds it
	// for writing from a memory syscall's entry to its exit, across the
	// host's execution and the model update.
	MmapLockClass = lockdep.NewClass("mmap_lock")
	// VMALockClass is the class of the per-VMA locks (vma->vm_lock):
	// read-locked without mmap_lock by the per-VMA fast paths
	// (VMALock.TryReadVMA), write-marked under mmap_lock write
	// (MmapLock.MarkVMAWrite).
	VMALockClass = lockdep.NewClass("vma_lock")
	// MmuGatherClass is the class of the tlb_gather_mmu/tlb_finish_mmu
	// bracket (MmuGather), a scoped pseudo-lock.
	MmuGatherClass = lockdep.NewClass("mmu_gather")
	// MmuNotifierClass is the class of the
	// mmu_notifier_invalidate_range_start/_end bracket (MmuNotifier), a
	// scoped pseudo-lock.
	MmuNotifierClass = lockdep.NewClass("mmu_notifier")
)

// lockOrder is the declared lock order, outermost first, one chain per
// entry (together a tree; the package doc draws it). The kernel's order:
// vma_start_write runs under mmap_write_lock (mmap_lock -> vma_lock); the
// zaps build their mmu_gather under mmap_lock or the VMA's read lock
// (tlb_gather_mmu in madvise_do_behavior / zap_page_range_single); and
// zap_page_range_single_batched, unmap_vmas and madvise_free_single_vma call
// mmu_notifier_invalidate_range_start inside the gather (mmu_gather ->
// mmu_notifier). mmap_lock -> mmu_gather (the mmap_lock read fallback)
// follows from the chain.
var lockOrder = [][]*lockdep.Class{
	{MmapLockClass, VMALockClass, MmuGatherClass, MmuNotifierClass},
}

func init() {
	for _, chain := range lockOrder {
		lockdep.DeclareOrder(chain...)
	}
}

// MmapLock is one address space's mm->mmap_lock, with what hangs off it:
// the per-VMA locks of its VMAs (VMALock) and the write marks that
// MarkVMAWrite sets on them, and the mmu_gather and mmu_notifier brackets
// of the mm. Every operation names the holder (the task). Call Init (or
// use NewMmapLock) before use; an MmapLock must not be copied.
//
// The write marks model the kernel's vma_start_write / vm_lock_seq: they
// are made only under mmap_lock write, make TryReadVMA fail on the marked
// VMAs, and are all cleared when the write hold ends (Unlock, or Downgrade
// to read: vma_end_write_all in mmap_write_unlock and
// mmap_write_downgrade).
type MmapLock struct {
	sem      lockdep.RWSem
	vma      VMALock
	gather   MmuGather
	notifier MmuNotifier
	// queue are the callers that may not block waiting for the lock
	// (Enqueue), in arrival order. It is confined to the thread that
	// serves them (the sentry's engine thread).
	queue []Waiter
}

// Waiter is a caller that cannot block until the lock is free (the
// sentry's engine thread serves every task of the sandbox): it queues on
// the lock with Enqueue and is retried by WakeWaiters once the lock is
// released. Which waiter retries first is the caller's choice (its
// scheduler's): that order is the contention a deterministic schedule
// decides.
type Waiter interface {
	// Retry runs the waiter's attempt again. It may take the lock, or
	// queue again.
	Retry()
}

// NewMmapLock returns an initialized MmapLock.
func NewMmapLock() *MmapLock {
	l := &MmapLock{}
	l.Init()
	return l
}

// Init sets the classes of the lock and of its VMA locks and brackets.
func (l *MmapLock) Init() {
	l.sem.Init(MmapLockClass)
	l.vma.init()
	l.gather.scope.Init(MmuGatherClass)
	l.gather.mm = l
	l.notifier.scope.Init(MmuNotifierClass)
	l.notifier.mm = l
}

// LockMap returns mmap_lock's lockdep map, so that an MmapLock can be
// passed to Holder.AssertHeld, Pin, and the like.
func (l *MmapLock) LockMap() *lockdep.Map { return l.sem.LockMap() }

// VMALock returns the per-VMA locks of this address space.
func (l *MmapLock) VMALock() *VMALock { return &l.vma }

// MmuGather returns the mm's mmu_gather bracket.
func (l *MmapLock) MmuGather() *MmuGather { return &l.gather }

// MmuNotifier returns the mm's mmu_notifier invalidate bracket.
func (l *MmapLock) MmuNotifier() *MmuNotifier { return &l.notifier }

// Held reports whether anyone holds mmap_lock, in either mode. A caller
// that must not block checks it before an operation that takes the lock
// (MM.Madvise), and queues instead (Enqueue).
func (l *MmapLock) Held() bool { return l.sem.Held() }

// Enqueue adds w to the lock's queue of waiters that do not block.
func (l *MmapLock) Enqueue(w Waiter) { l.queue = append(l.queue, w) }

// Waiters returns the queued waiters in arrival order. The slice is the
// lock's own: read it, do not keep it.
func (l *MmapLock) Waiters() []Waiter { return l.queue }

// WakeWaiters retries the queued waiters after the lock's release, one at
// a time, in the order pick chooses (pick returns an index into the
// queue, which is never empty), until one of them holds the lock (the
// others stay queued) or none is left.
func (l *MmapLock) WakeWaiters(pick func(queue []Waiter) int) {
	for !l.Held() && len(l.queue) > 0 {
		i := pick(l.queue)
		w := l.queue[i]
		l.queue = slices.Delete(l.queue, i, i+1)
		w.Retry()
	}
}

// Read takes mmap_lock for reading (mmap_read_lock).
func (l *MmapLock) Read(h *lockdep.Holder) { l.sem.RLock(h) }

// TryRead takes mmap_lock for reading if no writer holds or waits for it
// (mmap_read_trylock) and reports whether it did.
func (l *MmapLock) TryRead(h *lockdep.Holder) bool { return l.sem.TryRLock(h) }

// RUnlock releases a read hold (mmap_read_unlock).
func (l *MmapLock) RUnlock(h *lockdep.Holder) { l.sem.RUnlock(h) }

// Write takes mmap_lock for writing (mmap_write_lock).
func (l *MmapLock) Write(h *lockdep.Holder) { l.sem.Lock(h) }

// WriteNested takes mmap_lock for writing as lockdep subclass sub: the
// child's mmap_lock during fork is taken as subclass 1 while the parent's
// is held (mmap_write_lock_nested(mm, SINGLE_DEPTH_NESTING) in dup_mmap).
func (l *MmapLock) WriteNested(h *lockdep.Holder, sub int) { l.sem.LockNested(h, sub) }

// WriteKillable takes mmap_lock for writing (mmap_write_lock_killable),
// unless a fatal signal is pending for h while it waits: then it returns
// unix.EINTR, does not hold the lock, and the caller returns EINTR before
// touching any VMA (madvise-facts.md "Locks": "EINTR only on a fatal
// signal, before any VMA is touched"; spec "signal: Any fatal signal").
// An uncontended acquisition succeeds even with a signal pending, as
// down_write_killable does.
func (l *MmapLock) WriteKillable(h *lockdep.Holder) error {
	if err := l.sem.LockKillable(h); err != nil {
		if errors.Is(err, lockdep.ErrKilled) {
			return unix.EINTR
		}
		panic(fmt.Sprintf("mm: mmap_lock write-killable by %v: unexpected error %v", h, err))
	}
	return nil
}

// TryWrite takes mmap_lock for writing if it is free (mmap_write_trylock)
// and reports whether it did.
func (l *MmapLock) TryWrite(h *lockdep.Holder) bool { return l.sem.TryLock(h) }

// Downgrade turns h's write hold into a read hold (mmap_write_downgrade),
// letting waiting readers in. The VMA write marks h made are cleared first:
// a read holder modifies no VMA.
func (l *MmapLock) Downgrade(h *lockdep.Holder) {
	l.vma.clearMarks(h)
	l.sem.Downgrade(h)
}

// Unlock releases a write hold (mmap_write_unlock). The VMA write marks h
// made are cleared first, so the per-VMA readers may come back.
func (l *MmapLock) Unlock(h *lockdep.Holder) {
	l.vma.clearMarks(h)
	l.sem.Unlock(h)
}

// AssertHeld reports (lockdep) if h does not hold mmap_lock in any mode
// (mmap_assert_locked).
func (l *MmapLock) AssertHeld(h *lockdep.Holder) { h.AssertHeld(&l.sem) }

// AssertHeldW reports if h does not hold mmap_lock for writing
// (mmap_assert_write_locked).
func (l *MmapLock) AssertHeldW(h *lockdep.Holder) { h.AssertHeldW(&l.sem) }

// MarkVMAWrite write-marks v, as vma_start_write does before a VMA is
// modified, split, merged or removed: from now until h's write hold of
// mmap_lock ends, TryReadVMA fails on v and on every VMA that later starts
// inside [v.Start, v.End) (the parts a split makes). It waits until the
// readers that already hold v's read lock have left (new ones fail at
// once).
//
// A write section marks every VMA it will change or remove, and every VMA
// it creates, before the change is visible, as the kernel does (vma_modify,
// __split_vma, vma_merge, __mmap_new_vma call vma_start_write).
//
// Preconditions: h holds mmap_lock for writing (asserted with lockdep:
// calling it otherwise is reported as a failed AssertHeldW). h holds no
// per-VMA read lock (waiting for its own read lock would never end; lockdep
// reports it as recursive locking of vma_lock).
func (l *MmapLock) MarkVMAWrite(h *lockdep.Holder, v *VMA) {
	h.AssertHeldW(&l.sem)
	l.vma.markWrite(h, v.Start, v.End)
}

// assertMmOrVMALocked reports (as a failed AssertHeld of mmap_lock) if h
// holds neither mmap_lock nor one of this mm's per-VMA read locks: the
// zaps and their brackets run under one or the other.
func (l *MmapLock) assertMmOrVMALocked(h *lockdep.Holder) {
	if !lockdep.Enabled() {
		return
	}
	for _, hl := range h.HeldLocks() {
		if hl.Lock == l.sem.LockMap() || hl.Class == VMALockClass && l.vma.owns(hl.Lock) {
			return
		}
	}
	h.AssertHeld(&l.sem)
}

// VMAKey names the VMA whose per-VMA lock a reader takes: the VMA's start
// address (vm_start) when the reader looked it up.
//
// Why the start address: the model's VMAs have no identity that lives
// longer than their bounds (a split makes two VMA values, a merge one), so
// a lock cannot hang off a VMA value as vma->vm_lock hangs off a
// vm_area_struct. Instead the readers are keyed by start address and the
// write marks are address ranges, which survive split and merge honestly:
//
//   - a mark covers [Start, End) of the VMA as it was marked; a split of it
//     makes VMAs that start inside that range, so they are marked too;
//   - a merge is made of VMAs the writer marked (the kernel write-locks
//     every VMA it merges), so the result starts in a marked range;
//   - a VMA created in the write section (mmap, mremap's target) is marked
//     by the writer before it is visible.
//
// The price is that a mark may cover a fresh VMA that the writer created
// in an unmapped part of a marked range without marking it: its readers
// then fail and fall back to mmap_lock, which is safe. A reader whose key
// went stale (its VMA was split or moved between its lookup and
// TryReadVMA, in an earlier write section) may still succeed: like
// lock_vma_under_rcu, a reader re-checks after locking that the VMA at its
// address still starts at the key and covers its range, and otherwise
// unlocks and falls back.
type VMAKey uint64

// LockKey returns the key of v's per-VMA lock (its start address).
func (v *VMA) LockKey() VMAKey { return VMAKey(v.Start) }

// VMALock is the per-VMA locks of one address space: read try-locks taken
// without mmap_lock (lock_vma_under_rcu / vma_start_read) and the write
// marks that MmapLock.MarkVMAWrite makes. Get it from MmapLock.VMALock.
//
// The per-VMA read lock protects the VMA it names (its bounds, flags,
// backing, guards) against writers: a writer marks the VMA and waits for
// its readers before changing it. It does not make the VMA tree safe to
// search: mm.AddressSpace is not safe for concurrent use, so a caller that
// looks a VMA up without mmap_lock serializes the lookup with writers by
// other means (the sentry runs every task's memory syscalls on its engine
// thread).
type VMALock struct {
	// hasMarks is true while marks is not empty (read without mu by
	// clearMarks).
	hasMarks atomic.Bool

	mu sync.Mutex
	// readers maps each read-locked key to its lock; protected by mu. An
	// entry lives while it has readers.
	readers map[VMAKey]*vmaReadLock
	// marks are the write-marked address ranges, sorted by start and
	// disjoint (adjacent ranges coalesced); protected by mu.
	marks []addrRange
	// markedBy is the holder whose write section made the marks;
	// protected by mu.
	markedBy *lockdep.Holder
	// drained, when not nil, is closed (and reset to nil) when a reader
	// leaves; a marking writer waits on it. Protected by mu.
	drained chan struct{}
	// wdep is the lockdep map of the write side: MarkVMAWrite acquires and
	// releases it at once, as vma_start_write does with vmlock_dep_map.
	wdep lockdep.Map
}

// vmaReadLock is one key's read lock.
type vmaReadLock struct {
	dep lockdep.Map
	// n is the number of readers; protected by VMALock.mu.
	n int
}

// addrRange is [start, end).
type addrRange struct{ start, end uint64 }

func (vl *VMALock) init() {
	vl.readers = make(map[VMAKey]*vmaReadLock)
	vl.wdep.Init(VMALockClass)
}

// TryReadVMA takes the read lock of the VMA keyed k without mmap_lock, as
// lock_vma_under_rcu does for the per-VMA fast path, and reports whether it
// did. It fails while a writer holding mmap_lock has write-marked that VMA
// (see MmapLock.MarkVMAWrite); the caller then falls back to mmap_lock read.
// On success the caller re-checks the VMA (see VMAKey) and releases it with
// ReadUnlock before returning to its tracee.
//
// A trylock never waits, so it is not checked against the lock order (and
// adds no edge into vma_lock); the locks taken under it depend on it. A
// failure is not seen by the holder's lockdep recorder (lockdep records
// failed trylocks only for its own lock types): the recorder sees the
// fallback's mmap_lock acquisition instead.
func (vl *VMALock) TryReadVMA(h *lockdep.Holder, k VMAKey) bool {
	vl.mu.Lock()
	if vl.markedLocked(uint64(k)) {
		vl.mu.Unlock()
		return false
	}
	r := vl.readers[k]
	if r == nil {
		r = &vmaReadLock{}
		r.dep.Init(VMALockClass)
		vl.readers[k] = r
	}
	r.n++
	vl.mu.Unlock()
	h.Acquire(&r.dep, 0, lockdep.Read|lockdep.Try)
	return true
}

// ReadUnlock releases h's read lock of the VMA keyed k (vma_end_read).
// With validation on, releasing a key h does not hold is reported (bad
// unlock balance, or a foreign unlock if another holder holds it) and, in
// Warn mode, not performed. With validation off, releasing a key nobody
// holds panics.
func (vl *VMALock) ReadUnlock(h *lockdep.Holder, k VMAKey) {
	vl.mu.Lock()
	r := vl.readers[k]
	vl.mu.Unlock()
	if r == nil {
		if lockdep.Enabled() {
			var m lockdep.Map
			m.Init(VMALockClass)
			h.Release(&m, lockdep.Read) // reports the bad unlock balance
			return
		}
		panic(fmt.Sprintf("mm: %v: ReadUnlock of VMA %#x, which is not read-locked", h, uint64(k)))
	}
	if !h.Release(&r.dep, lockdep.Read) {
		return
	}
	vl.mu.Lock()
	r.n--
	if r.n == 0 {
		delete(vl.readers, k)
	}
	if vl.drained != nil {
		close(vl.drained)
		vl.drained = nil
	}
	vl.mu.Unlock()
}

// WriteMarked reports whether the VMA keyed k is write-marked (a
// TryReadVMA on it would fail).
func (vl *VMALock) WriteMarked(k VMAKey) bool {
	vl.mu.Lock()
	defer vl.mu.Unlock()
	return vl.markedLocked(uint64(k))
}

// Readers returns the number of read holds of the VMA keyed k.
func (vl *VMALock) Readers(k VMAKey) int {
	vl.mu.Lock()
	defer vl.mu.Unlock()
	if r := vl.readers[k]; r != nil {
		return r.n
	}
	return 0
}

// markWrite marks [start, end) for h's write section and waits for the
// readers of the keys in it to leave.
func (vl *VMALock) markWrite(h *lockdep.Holder, start, end uint64) {
	// vma_start_write: a write acquisition of vma_lock under mmap_lock,
	// released at once (the mark, not the lockdep hold, lasts).
	h.Acquire(&vl.wdep, 0, lockdep.Write)
	vl.mu.Lock()
	vl.addMarkLocked(start, end)
	vl.markedBy = h
	vl.hasMarks.Store(true)
	for vl.readersInLocked(start, end) {
		if vl.drained == nil {
			vl.drained = make(chan struct{})
		}
		ch := vl.drained
		vl.mu.Unlock()
		<-ch
		vl.mu.Lock()
	}
	vl.mu.Unlock()
	h.Release(&vl.wdep, lockdep.Write)
}

// clearMarks drops the marks of h's write section (vma_end_write_all).
// Marks made by another holder stay: h is not the writer, and lockdep
// reports its unlock.
func (vl *VMALock) clearMarks(h *lockdep.Holder) {
	if !vl.hasMarks.Load() {
		return
	}
	vl.mu.Lock()
	if vl.markedBy == h {
		vl.marks = vl.marks[:0]
		vl.markedBy = nil
		vl.hasMarks.Store(false)
	}
	vl.mu.Unlock()
}

// owns reports whether m is the map of one of vl's read locks.
func (vl *VMALock) owns(m *lockdep.Map) bool {
	vl.mu.Lock()
	defer vl.mu.Unlock()
	for _, r := range vl.readers {
		if &r.dep == m {
			return true
		}
	}
	return false
}

// markedLocked reports whether addr lies in a marked range.
//
// Preconditions: vl.mu is held.
func (vl *VMALock) markedLocked(addr uint64) bool {
	i := sort.Search(len(vl.marks), func(i int) bool { return vl.marks[i].end > addr })
	return i < len(vl.marks) && vl.marks[i].start <= addr
}

// addMarkLocked adds [start, end) to the marks, coalescing it with the
// ranges it overlaps or touches.
//
// Preconditions: vl.mu is held.
func (vl *VMALock) addMarkLocked(start, end uint64) {
	if start >= end {
		return
	}
	// [i, j) are the ranges that overlap or touch [start, end).
	i := sort.Search(len(vl.marks), func(i int) bool { return vl.marks[i].end >= start })
	j := i
	for j < len(vl.marks) && vl.marks[j].start <= end {
		start = min(start, vl.marks[j].start)
		end = max(end, vl.marks[j].end)
		j++
	}
	if i == j {
		vl.marks = append(vl.marks, addrRange{})
		copy(vl.marks[i+1:], vl.marks[i:])
	} else {
		vl.marks = append(vl.marks[:i+1], vl.marks[j:]...)
	}
	vl.marks[i] = addrRange{start, end}
}

// readersInLocked reports whether a key in [start, end) is read-locked.
//
// Preconditions: vl.mu is held.
func (vl *VMALock) readersInLocked(start, end uint64) bool {
	for k := range vl.readers {
		if start <= uint64(k) && uint64(k) < end {
			return true
		}
	}
	return false
}

// MmuGather is an mm's tlb_gather_mmu / tlb_finish_mmu bracket, a lockdep
// scoped pseudo-lock of class mmu_gather: it never blocks, and lockdep
// checks that Gather and Finish pair up and nest properly with the other
// brackets, and learns the locks taken inside it. DONTNEED,
// DONTNEED_LOCKED and FREE wrap their per-VMA work in one; COLD and PAGEOUT
// build one inside the handler; GUARD_INSTALL builds one each time it has
// to zap (spec "lock: mmu_gather TLB batch").
type MmuGather struct {
	scope lockdep.Scope
	mm    *MmapLock
}

// Gather opens the bracket (tlb_gather_mmu).
//
// Preconditions: h holds mmap_lock or a per-VMA read lock of this mm
// (reported otherwise, as a failed AssertHeld of mmap_lock).
func (g *MmuGather) Gather(h *lockdep.Holder) {
	g.mm.assertMmOrVMALocked(h)
	g.scope.Enter(h)
}

// Finish closes the bracket (tlb_finish_mmu). Finishing a gather that h
// did not open, or while a bracket opened inside it is still open, is
// reported.
func (g *MmuGather) Finish(h *lockdep.Holder) { g.scope.Exit(h) }

// LockMap returns the bracket's lockdep map.
func (g *MmuGather) LockMap() *lockdep.Map { return g.scope.LockMap() }

// MmuNotifier is an mm's mmu_notifier_invalidate_range_start / _end
// bracket, a lockdep scoped pseudo-lock of class mmu_notifier. Every zap
// (DONTNEED, DONTNEED_LOCKED, FREE's walk, GUARD_INSTALL's zap branch) is
// bracketed by one, inside its mmu_gather (spec "lock: mmu_notifier
// invalidate range").
type MmuNotifier struct {
	scope lockdep.Scope
	mm    *MmapLock
}

// InvalidateStart opens the bracket (mmu_notifier_invalidate_range_start).
//
// Preconditions: h holds mmap_lock or a per-VMA read lock of this mm.
func (n *MmuNotifier) InvalidateStart(h *lockdep.Holder) {
	n.mm.assertMmOrVMALocked(h)
	n.scope.Enter(h)
}

// InvalidateEnd closes the bracket (mmu_notifier_invalidate_range_end).
func (n *MmuNotifier) InvalidateEnd(h *lockdep.Holder) { n.scope.Exit(h) }

// LockMap returns the bracket's lockdep map.
func (n *MmuNotifier) LockMap() *lockdep.Map { return n.scope.LockMap() }

// LockMode is the lock a madvise advice takes on the address space.
type LockMode uint8

// Lock modes (madvise-facts.md "Locks"; the spec's `lock:` sections).
const (
	// LockNone: no mmap_lock and no VMA lock (HWPOISON, SOFT_OFFLINE,
	// and unknown advice, refused with EINVAL before any lock).
	LockNone LockMode = iota
	// LockMmapRead: mmap_lock for reading.
	LockMmapRead
	// LockVMAReadFirst: the per-VMA read lock is tried first (when
	// FastPathAllowed), else mmap_lock for reading.
	LockVMAReadFirst
	// LockMmapWriteKillable: mmap_lock for writing, killable (EINTR on a
	// fatal signal, before any VMA is touched).
	LockMmapWriteKillable
)

var lockModeNames = [...]string{"none", "mmap_lock read", "per-VMA read first", "mmap_lock write killable"}

// String returns e.g. "mmap_lock read".
func (m LockMode) String() string {
	if int(m) < len(lockModeNames) {
		return lockModeNames[m]
	}
	return fmt.Sprintf("LockMode(%d)", uint8(m))
}

// adviceLocks is the spec's table of which advice takes which lock
// (madvise-facts.md "Locks", the rows quoted per group). All 27 advice
// values appear; any other value takes no lock.
var adviceLocks = map[int]LockMode{
	// "HWPOISON, SOFT_OFFLINE | none"
	unix.MADV_HWPOISON:    LockNone,
	abi.MADV_SOFT_OFFLINE: LockNone,
	// "REMOVE, WILLNEED, COLD, PAGEOUT, POPULATE_*, COLLAPSE | mmap_lock read"
	unix.MADV_REMOVE:         LockMmapRead,
	unix.MADV_WILLNEED:       LockMmapRead,
	unix.MADV_COLD:           LockMmapRead,
	unix.MADV_PAGEOUT:        LockMmapRead,
	unix.MADV_POPULATE_READ:  LockMmapRead,
	unix.MADV_POPULATE_WRITE: LockMmapRead,
	unix.MADV_COLLAPSE:       LockMmapRead,
	// "DONTNEED, DONTNEED_LOCKED, FREE, GUARD_INSTALL, GUARD_REMOVE |
	// per-VMA read lock tried first, else mmap_lock read"
	unix.MADV_DONTNEED:        LockVMAReadFirst,
	unix.MADV_DONTNEED_LOCKED: LockVMAReadFirst,
	unix.MADV_FREE:            LockVMAReadFirst,
	unix.MADV_GUARD_INSTALL:   LockVMAReadFirst,
	unix.MADV_GUARD_REMOVE:    LockVMAReadFirst,
	// "every VMA-flag advice (...) | mmap_lock write, killable"
	unix.MADV_NORMAL:      LockMmapWriteKillable,
	unix.MADV_RANDOM:      LockMmapWriteKillable,
	unix.MADV_SEQUENTIAL:  LockMmapWriteKillable,
	unix.MADV_DONTFORK:    LockMmapWriteKillable,
	unix.MADV_DOFORK:      LockMmapWriteKillable,
	unix.MADV_DONTDUMP:    LockMmapWriteKillable,
	unix.MADV_DODUMP:      LockMmapWriteKillable,
	unix.MADV_WIPEONFORK:  LockMmapWriteKillable,
	unix.MADV_KEEPONFORK:  LockMmapWriteKillable,
	unix.MADV_MERGEABLE:   LockMmapWriteKillable,
	unix.MADV_UNMERGEABLE: LockMmapWriteKillable,
	unix.MADV_HUGEPAGE:    LockMmapWriteKillable,
	unix.MADV_NOHUGEPAGE:  LockMmapWriteKillable,
}

// LockFor returns the lock that madvise (and process_madvise, once for the
// whole vector) takes for advice. An unknown advice takes none: it is
// refused with EINVAL before any lock (madvise_behavior_valid).
func LockFor(advice int) LockMode { return adviceLocks[advice] }

// FastPathAllowed reports whether a madvise of [start, end) with advice
// may take the per-VMA read lock of v, the VMA that contains start (nil if
// none does), instead of mmap_lock read (spec "lock: per-VMA read lock";
// madvise-facts.md "Locks"; the kernel's try_vma_read_lock). It is true
// only when:
//
//   - the advice tries the per-VMA lock first (LockFor is
//     LockVMAReadFirst);
//   - v contains start and the whole range lies in v (end <= v.End);
//   - ownMM: the address space is the caller's own (not another process's,
//     as process_madvise may name);
//   - v is not userfaultfd-armed;
//   - for GUARD_INSTALL on anonymous memory, v already has an anon_vma
//     (installing markers establishes page tables, and anon_vma_prepare
//     needs mmap_lock; the spec's "behaviors that establish page tables").
//
// Otherwise the caller falls back to mmap_lock read. It is a pure function:
// the caller looks v up, and re-checks it after TryReadVMA (see VMAKey).
func FastPathAllowed(advice int, start, end uint64, v *VMA, ownMM bool) bool {
	if LockFor(advice) != LockVMAReadFirst || v == nil || !ownMM {
		return false
	}
	if !v.Contains(start) || end > v.End || end < start {
		return false
	}
	if v.UffdArmed {
		return false
	}
	if advice == unix.MADV_GUARD_INSTALL && v.IsAnonymous() && v.AnonVMA == 0 {
		return false
	}
	return true
}
