package mm

import (
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/lockdep"
)

// This file is madvise(2) in the model: MM.Madvise decides what
// madvise(start, len, advice) returns and how the address space changes,
// taking the locks the spec prescribes. Every errno decision cites its rule:
// "facts" is shared/reference/madvise-facts.md (section and row), "spec" is
// the KAPI specification of sys_madvise (shared/seeds/000_1110c6a71111aa83.txt,
// its error:, lock: and constraint: sections).

// MM is one address space with its mmap_lock: the model's mm_struct.
type MM struct {
	// Lock is mm->mmap_lock, with the per-VMA locks and the mmu_gather and
	// mmu_notifier brackets of this mm.
	Lock *MmapLock
	// AS is the VMA tree. It is protected by Lock (see the package doc;
	// MM.Madvise takes Lock itself).
	AS *AddressSpace
}

// NewMM returns an MM over as with a fresh mmap_lock.
func NewMM(as *AddressSpace) *MM { return &MM{Lock: NewMmapLock(), AS: as} }

// ERESTARTNOINTR is the kernel-internal -ERESTARTNOINTR (513): the syscall
// exit path restarts the call transparently, so the program never sees it.
const ERESTARTNOINTR = unix.Errno(513)

// HugePMDSize is the size of a PMD-mapped transparent huge page on x86-64.
const HugePMDSize = 2 << 20

// MaxGuardRetries is MAX_MADVISE_GUARD_RETRIES: the install walks
// GUARD_INSTALL makes before it asks for a restart (facts "Per VMA",
// GUARD_INSTALL: "up to 3 tries").
const MaxGuardRetries = 3

// MadviseKconfig is the kernel configuration that decides which advice
// exists and how some behave.
type MadviseKconfig struct {
	// KSM is CONFIG_KSM (MERGEABLE, UNMERGEABLE).
	KSM bool
	// THP is CONFIG_TRANSPARENT_HUGEPAGE (HUGEPAGE, NOHUGEPAGE, COLLAPSE).
	THP bool
	// MemoryFailure is CONFIG_MEMORY_FAILURE (HWPOISON, SOFT_OFFLINE).
	MemoryFailure bool
	// Swap is CONFIG_SWAP: without it WILLNEED on a VMA with no file is
	// EBADF (facts "Per VMA": "no swap configured and not a file ->
	// EBADF"; spec "error: EBADF").
	Swap bool
}

// MadviseHost answers what only the host knows, at the point where the
// kernel would make the call and with the locks it holds then. MM.Madvise
// makes no host call itself; a nil MadviseHost makes every call succeed.
type MadviseHost interface {
	// PunchHole is MADV_REMOVE's vfs_fallocate(PUNCH_HOLE|KEEP_SIZE) on
	// the file behind r, called with mmap_lock dropped. Its errno ends the
	// walk (EOPNOTSUPP, EPERM, ETXTBSY, EIO, ...).
	PunchHole(r MadviseRange) unix.Errno
	// Readahead is WILLNEED's vfs_fadvise(WILLNEED) on a regular file,
	// called with mmap_lock dropped. Its result is ignored.
	Readahead(r MadviseRange)
	// Populate faults in r for reading or writing (POPULATE_*; r holds no
	// guard page and its VMA passed the permission checks). It returns 0,
	// or the errno of the first page that failed: EFAULT (SIGBUS, e.g.
	// beyond the end of the file), EHWPOISON, ENOMEM, EINTR; pages before
	// it stay populated.
	Populate(r MadviseRange, write bool) unix.Errno
	// Collapse collapses the aligned 2 MiB blocks of r into huge pages
	// (COLLAPSE) and returns 0 or the errno of the last failure (ENOMEM,
	// EBUSY, EAGAIN, EINVAL).
	Collapse(r MadviseRange) unix.Errno
	// InjectError is HWPOISON / SOFT_OFFLINE on the page at addr (already
	// found mapped and readable): memory_failure or soft_offline_page.
	InjectError(addr uint64, advice int) unix.Errno
}

// MadviseEnv is what the model needs to know about the caller and the host
// for one madvise call. DefaultMadviseEnv returns the test host's.
type MadviseEnv struct {
	// Caps are the caller's capabilities.
	Caps struct {
		// SysAdmin is CAP_SYS_ADMIN, needed by HWPOISON and SOFT_OFFLINE.
		SysAdmin bool
		// SysNice is CAP_SYS_NICE, needed by process_madvise on another
		// process's mm.
		SysNice bool
	}
	// Kconfig is the (emulated) kernel's configuration.
	Kconfig MadviseKconfig
	// OwnMM is true when the address space is the caller's own; false for
	// process_madvise on another process (no per-VMA fast path).
	OwnMM bool
	// HugeTLBPageSize is the huge page size of hugetlb VMAs (the model
	// does not record a VMA's hstate); 0 means 2 MiB.
	HugeTLBPageSize uint64
	// PkeyDeniesWrite, if set, reports whether the memory protection key
	// of the VMA at addr denies the caller writes (PKRU; the model does
	// not keep pkeys). nil: no pkeys.
	PkeyDeniesWrite func(addr uint64) bool
	// LoseGuardRaces is a fault-injection knob: the first LoseGuardRaces
	// GUARD_INSTALL install walks of this call find populated pages (a
	// racing fault), so the range is zapped and the walk tried again.
	// MaxGuardRetries lost walks on one VMA give Restart. A caller that
	// restarts passes LoseGuardRaces-MaxGuardRetries on the next try.
	LoseGuardRaces int
	// Host answers the host-dependent calls (nil: they all succeed).
	Host MadviseHost
}

// DefaultMadviseEnv is the 6.18 test host's environment for a process's own
// madvise without privileges: KSM, THP and swap configured,
// MEMORY_FAILURE off (facts "madvise: order of checks" 1: "The test host
// has MEMORY_FAILURE off").
func DefaultMadviseEnv() MadviseEnv {
	var env MadviseEnv
	env.Kconfig = MadviseKconfig{KSM: true, THP: true, Swap: true}
	env.OwnMM = true
	return env
}

// MadviseRange is one piece of the range that an advice acted on: a part
// of one VMA.
type MadviseRange struct {
	// Start and End bound the piece [Start, End).
	Start, End uint64
	// VMA is the whole VMA the piece lies in, as the advice found it
	// (before any change the advice made): its flags, backing, pgoff and
	// guard pages tell the host side how to act.
	VMA VMA
}

// MadviseResult is the outcome of MM.Madvise.
type MadviseResult struct {
	// Err is 0 or the errno the program sees (a bare errno; ERESTARTNOINTR
	// when Restart is set).
	Err unix.Errno
	// Applied are the pieces the advice was applied to, in the order the
	// walk met them, each with the VMA state it found: the host memory of
	// exactly these pieces must be acted on (a failing walk leaves earlier
	// pieces applied). For VMA-flag advice a piece whose flags did not
	// change is listed too (the host's own call is then a no-op). Pieces
	// whose host call ran through MadviseHost (REMOVE, file WILLNEED,
	// POPULATE_*, COLLAPSE, HWPOISON, SOFT_OFFLINE) are listed as well.
	Applied []MadviseRange
	// Restart is set when GUARD_INSTALL lost its race MaxGuardRetries
	// times: the kernel returns -ERESTARTNOINTR and the call is restarted
	// transparently; the program never sees an errno from it.
	Restart bool
	// RacesLost is how many GUARD_INSTALL walks this call lost to
	// env.LoseGuardRaces.
	RacesLost int
}

// madvFlagAdvice reports whether advice changes VMA flags (the write-locked
// group; facts "Locks", last row).
func madvFlagAdvice(advice int) bool { return LockFor(advice) == LockMmapWriteKillable }

// adviceValid is madvise_behavior_valid: facts "madvise: order of checks"
// 1 ("Unknown advice, or one compiled out (KSM: MERGEABLE/UNMERGEABLE; THP:
// HUGEPAGE/NOHUGEPAGE/COLLAPSE; MEMORY_FAILURE: HWPOISON/SOFT_OFFLINE)").
func adviceValid(advice int, k MadviseKconfig) bool {
	switch advice {
	case unix.MADV_MERGEABLE, unix.MADV_UNMERGEABLE:
		return k.KSM
	case unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_COLLAPSE:
		return k.THP
	case unix.MADV_HWPOISON, abi.MADV_SOFT_OFFLINE:
		return k.MemoryFailure
	}
	_, known := adviceLocks[advice]
	return known
}

// isDiscard is the kernel's is_discard: the advice mseal refuses on sealed
// read-only anonymous memory (facts "Per VMA", mseal row; spec "constraint:
// mseal-protected discards").
func isDiscard(advice int) bool {
	switch advice {
	case unix.MADV_FREE, unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED, unix.MADV_REMOVE,
		unix.MADV_DONTFORK, unix.MADV_WIPEONFORK, unix.MADV_GUARD_INSTALL:
		return true
	}
	return false
}

// isShmem reports whether b is shmem (shmem_mapping): shared anonymous
// memory, memfd, /dev/shm and SysV shm. The model knows files by path, so
// this is decided from it.
func (b Backing) isShmem() bool {
	if b.Kind == BackingSharedAnon {
		return true
	}
	if b.Kind != BackingFile {
		return false
	}
	return strings.HasPrefix(b.Path, "/memfd:") || strings.HasPrefix(b.Path, "/dev/shm/") ||
		strings.HasPrefix(b.Path, "/SYSV")
}

// madvFind returns the VMA containing addr, or nil. The [vsyscall] page is
// a gate area, not a VMA of the mm: madvise never finds it.
func (as *AddressSpace) madvFind(addr uint64) *VMA {
	if v := as.find(addr); v != nil && v.Backing.Kind != BackingVsyscall {
		return v
	}
	return nil
}

// madvFindNext is find_vma for madvise (the [vsyscall] gate area, the
// highest mapping, is not found).
func (as *AddressSpace) madvFindNext(addr uint64) *VMA {
	if v := as.findNext(addr); v != nil && v.Backing.Kind != BackingVsyscall {
		return v
	}
	return nil
}

// Madvise runs madvise(start, lenIn, advice) on m for the task h, as the
// kernel's do_madvise does, and returns the errno and the pieces the host
// must act on. The model is updated (flags, splits and merges, guard
// markers, anon_vma, VM_MAYBE_GUARD); nothing touches the host except
// through env.Host. The caller passes advice as the int the kernel sees
// (the syscall's third argument truncated to 32 bits, sign-extended).
//
// Locks (facts "Locks"; spec lock: sections): none for invalid advice, a
// zero length, HWPOISON and SOFT_OFFLINE; mmap_lock write-killable for
// the VMA-flag advice (EINTR, with no VMA touched, when a fatal signal
// ends the wait); mmap_lock read for REMOVE, WILLNEED, COLD, PAGEOUT,
// POPULATE_* and COLLAPSE (REMOVE and file WILLNEED drop and retake it
// around their file call, and the walk looks the VMA up again); the
// per-VMA read lock when FastPathAllowed, else mmap_lock read, for
// DONTNEED, DONTNEED_LOCKED, FREE and GUARD_*. DONTNEED, DONTNEED_LOCKED
// and FREE run in one mmu_gather; every zap is bracketed by the
// mmu_notifier.
//
// Preconditions: h holds none of m's locks. The tree is not searched
// concurrently with writers (see VMALock): the per-VMA fast path looks
// the VMA up without mmap_lock.
func (m *MM) Madvise(h *lockdep.Holder, start, lenIn uint64, advice int, env MadviseEnv) MadviseResult {
	c := newMadvCall(m, h, advice, env)
	c.res.Err = c.run(start, lenIn)
	if c.res.Err == ERESTARTNOINTR {
		c.res.Restart = true
	}
	c.res.RacesLost = env.LoseGuardRaces - c.racesLeft
	return c.res
}

// madvCall is one madvise call (or one process_madvise vector) in
// progress.
type madvCall struct {
	m      *MM
	h      *lockdep.Holder
	advice int
	env    MadviseEnv
	res    MadviseResult
	// racesLeft counts the GUARD_INSTALL walks still to lose.
	racesLeft int
	// mode is the lock the call holds now (madvise_lock's lock_mode):
	// LockVMAReadFirst until a fallback takes mmap_lock read.
	mode LockMode
	// gathering: the call's mmu_gather is open (madvise_init_tlb).
	gathering bool
}

func newMadvCall(m *MM, h *lockdep.Holder, advice int, env MadviseEnv) *madvCall {
	c := &madvCall{m: m, h: h, advice: advice, env: env, racesLeft: env.LoseGuardRaces}
	if c.env.HugeTLBPageSize == 0 {
		c.env.HugeTLBPageSize = HugePMDSize
	}
	return c
}

func (c *madvCall) run(start, lenIn uint64) unix.Errno {
	// facts "order of checks" 1: unknown or compiled-out advice -> EINVAL,
	// even with len 0 or an unaligned start (madvise_behavior_valid first).
	if !adviceValid(c.advice, c.env.Kconfig) {
		return unix.EINVAL
	}
	end, err := madvRange(start, lenIn)
	if err != 0 || end == start {
		return err
	}
	if err := c.lock(); err != 0 {
		return err
	}
	defer c.unlock()
	return c.do(start, end, lenIn)
}

// madvRange checks a range as madvise_should_skip does and returns its
// page-aligned end; end == start means there is nothing to do (len_in 0).
func madvRange(start, lenIn uint64) (end uint64, err unix.Errno) {
	// facts 2 / spec "param: start": start not page aligned -> EINVAL
	// (even with len 0).
	if !pageAligned(start) {
		return 0, unix.EINVAL
	}
	// facts 3 / spec "constraint: Length rounded up to PAGE_SIZE": a
	// non-zero len_in whose PAGE_ALIGN is 0 -> EINVAL; start + aligned len
	// wraps -> EINVAL. (uint64 wraps as the kernel's unsigned long does.)
	length := PageAlign(lenIn)
	if lenIn != 0 && length == 0 {
		return 0, unix.EINVAL
	}
	end = start + length
	if end < start {
		return 0, unix.EINVAL
	}
	// facts 4: len_in == 0 -> 0, with no lock, no walk, no capability
	// check.
	return end, 0
}

// lock is madvise_lock plus madvise_init_tlb: the lock LockFor(advice)
// names (the per-VMA read lock is tried later, per range, by do), and the
// call's mmu_gather for the batched advice.
func (c *madvCall) lock() unix.Errno {
	c.mode = LockFor(c.advice)
	switch c.mode {
	case LockMmapWriteKillable:
		// facts "Locks" / spec "lock: mm->mmap_lock (write mode;
		// killable)": EINTR before any VMA is touched.
		if err := c.m.Lock.WriteKillable(c.h); err != nil {
			c.mode = LockNone
			return unix.EINTR
		}
	case LockMmapRead:
		c.m.Lock.Read(c.h)
	}
	if c.mode != LockVMAReadFirst {
		c.startGather()
	}
	return 0
}

// unlock is madvise_finish_tlb plus madvise_unlock.
func (c *madvCall) unlock() {
	if c.gathering {
		c.gathering = false
		c.m.Lock.MmuGather().Finish(c.h)
	}
	switch c.mode {
	case LockMmapWriteKillable:
		c.m.Lock.Unlock(c.h)
	case LockMmapRead:
		c.m.Lock.RUnlock(c.h)
	}
	c.mode = LockNone
}

// startGather opens the call's mmu_gather if the advice batches its TLB
// flushes.
func (c *madvCall) startGather() {
	if c.batchedGather() && !c.gathering {
		c.gathering = true
		c.m.Lock.MmuGather().Gather(c.h)
	}
}

// do is madvise_do_behavior for [start, end) (lenIn is the caller's
// unrounded length, which HWPOISON and SOFT_OFFLINE use).
//
// Preconditions: c.lock succeeded.
func (c *madvCall) do(start, end, lenIn uint64) unix.Errno {
	// facts 5: HWPOISON / SOFT_OFFLINE take no lock and do not walk the
	// VMAs; the raw start (x86-64 untagging is the identity) and the
	// unaligned end start + len_in.
	if c.advice == unix.MADV_HWPOISON || c.advice == abi.MADV_SOFT_OFFLINE {
		return c.injectError(start, start+lenIn)
	}
	// facts 6: no upper bound against TASK_SIZE; the walk says ENOMEM.
	if c.mode == LockVMAReadFirst {
		if err, ok := c.tryFastPath(start, end); ok {
			return err
		}
		// Fallback: mmap_lock read (spec "lock: per-VMA read lock":
		// "Otherwise the code falls back to the mmap read lock"), kept
		// for the rest of the call (try_vma_read_lock sets lock_mode).
		c.m.Lock.Read(c.h)
		c.mode = LockMmapRead
		c.startGather()
	}
	if c.advice == unix.MADV_POPULATE_READ || c.advice == unix.MADV_POPULATE_WRITE {
		return c.populate(start, end)
	}
	return c.walk(start, end)
}

// batchedGather reports whether the advice runs in one mmu_gather
// (madvise_batch_tlb_flush; spec "lock: mmu_gather TLB batch": "For
// MADV_DONTNEED, MADV_DONTNEED_LOCKED and MADV_FREE the syscall wraps the
// per-VMA work in tlb_gather_mmu() / tlb_finish_mmu()").
func (c *madvCall) batchedGather() bool {
	switch c.advice {
	case unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED, unix.MADV_FREE:
		return true
	}
	return false
}

// tryFastPath runs the advice under the per-VMA read lock of the VMA
// containing start if FastPathAllowed (try_vma_read_lock). ok is false when
// the caller must fall back to mmap_lock read.
func (c *madvCall) tryFastPath(start, end uint64) (err unix.Errno, ok bool) {
	as, vl := c.m.AS, c.m.Lock.VMALock()
	v := as.madvFind(start)
	if v == nil || !FastPathAllowed(c.advice, start, end, v, c.env.OwnMM) {
		return 0, false
	}
	key := v.LockKey()
	if !vl.TryReadVMA(c.h, key) {
		return 0, false
	}
	defer vl.ReadUnlock(c.h, key)
	// Re-check after locking, as lock_vma_under_rcu does (see VMAKey).
	v = as.madvFind(start)
	if v == nil || v.LockKey() != key || !FastPathAllowed(c.advice, start, end, v, c.env.OwnMM) {
		return 0, false
	}
	if c.batchedGather() {
		g := c.m.Lock.MmuGather()
		g.Gather(c.h)
		defer g.Finish(c.h)
	}
	_, err = c.vmaBehavior(v, start, end)
	return err, true
}

// walk is madvise_walk_vmas (facts "The walk over VMAs").
//
// Preconditions: mmap_lock is held as LockFor(advice) says.
func (c *madvCall) walk(start, end uint64) unix.Errno {
	var unmapped unix.Errno
	for addr := start; addr < end; {
		v := c.m.AS.madvFindNext(addr)
		if v == nil {
			// facts "walk": "Nothing at or after the current start ->
			// ENOMEM at once (VMAs already processed stay processed)".
			return unix.ENOMEM
		}
		if addr < v.Start {
			// facts "walk": "A gap before the next VMA -> remember
			// ENOMEM, skip the gap, go on; if the range ends inside the
			// gap, stop".
			unmapped = unix.ENOMEM
			addr = v.Start
			if addr >= end {
				break
			}
		}
		// facts "walk": "Each VMA gets [max(start, vm_start), min(end,
		// vm_end))".
		next, err := c.vmaBehavior(v, addr, min(end, v.End))
		if err != 0 {
			// facts "walk": "The first per-VMA error aborts and is
			// returned; earlier VMAs stay changed".
			return err
		}
		addr = next
	}
	// facts "walk": "At the end: ENOMEM if any gap was seen, else 0".
	return unmapped
}

// apply records that the advice acted on [s, e) of v.
func (c *madvCall) apply(v *VMA, s, e uint64) {
	c.res.Applied = append(c.res.Applied, MadviseRange{Start: s, End: e, VMA: *v})
}

// dropLock drops mmap_lock read around a file call and retakes it
// (mmap_read_unlock ... mmap_read_lock); the walk then looks the VMAs up
// again (it always continues by address).
func (c *madvCall) dropLock(call func()) {
	c.m.Lock.RUnlock(c.h)
	call()
	c.m.Lock.Read(c.h)
}

// vmaBehavior is madvise_vma_behavior for [s, e) within v. It returns the
// address the walk continues from.
func (c *madvCall) vmaBehavior(v *VMA, s, e uint64) (uint64, unix.Errno) {
	// facts "Per VMA": "mseal first (64-bit): EPERM when the VMA is sealed
	// AND the advice discards (...) AND the VMA is anonymous AND not
	// writable (no VM_WRITE, or a pkey denies write)".
	if v.Flags&VMSealed != 0 && isDiscard(c.advice) && v.IsAnonymous() &&
		(v.Flags&VMWrite == 0 || c.env.PkeyDeniesWrite != nil && c.env.PkeyDeniesWrite(s)) {
		return 0, unix.EPERM
	}
	if madvFlagAdvice(c.advice) {
		return c.flagAdvice(v, s, e)
	}
	var err unix.Errno
	switch c.advice {
	case unix.MADV_REMOVE:
		err = c.remove(v, s, e)
	case unix.MADV_WILLNEED:
		err = c.willneed(v, s, e)
	case unix.MADV_COLD, unix.MADV_PAGEOUT:
		err = c.coldPageout(v, s, e)
	case unix.MADV_DONTNEED, unix.MADV_DONTNEED_LOCKED, unix.MADV_FREE:
		err = c.dontneedFree(v, s, e)
	case unix.MADV_COLLAPSE:
		err = c.collapse(v, s, e)
	case unix.MADV_GUARD_INSTALL:
		err = c.guardInstall(v, s, e)
	case unix.MADV_GUARD_REMOVE:
		err = c.guardRemove(v, s, e)
	default:
		panic("mm: madvise: no handler for a valid advice")
	}
	return e, err
}

// flagAdvice is the VMA-flag group: compute the new flags (with the
// advice's errno rules), then madvise_update_vma.
//
// Preconditions: mmap_lock is write-held.
func (c *madvCall) flagAdvice(v *VMA, s, e uint64) (uint64, unix.Errno) {
	f := v.Flags
	nf := f
	switch c.advice {
	case unix.MADV_NORMAL:
		// facts "Per VMA": "NORMAL clears RAND/SEQ".
		nf &^= VMRandRead | VMSeqRead
	case unix.MADV_SEQUENTIAL:
		// facts: "SEQUENTIAL sets SEQ clears RAND".
		nf = nf&^VMRandRead | VMSeqRead
	case unix.MADV_RANDOM:
		// facts: "RANDOM the reverse".
		nf = nf&^VMSeqRead | VMRandRead
	case unix.MADV_DONTFORK:
		// facts: "DONTFORK sets DONTCOPY".
		nf |= VMDontCopy
	case unix.MADV_DOFORK:
		// facts: "DOFORK clears it, EINVAL on VM_SPECIAL (IO,
		// DONTEXPAND, PFNMAP, MIXEDMAP) [new]".
		if f&VMSpecial != 0 {
			return 0, unix.EINVAL
		}
		nf &^= VMDontCopy
	case unix.MADV_WIPEONFORK:
		// facts: "WIPEONFORK EINVAL on file-backed or shared"; spec
		// "constraint: MADV_WIPEONFORK requires private anonymous
		// mappings" (!vma->vm_file && !VM_SHARED).
		if v.Backing.HasVMFile() || f&VMShared != 0 {
			return 0, unix.EINVAL
		}
		nf |= VMWipeOnFork
	case unix.MADV_KEEPONFORK:
		// facts: "KEEPONFORK EINVAL on VM_DROPPABLE, clears it".
		if f&VMDroppable != 0 {
			return 0, unix.EINVAL
		}
		nf &^= VMWipeOnFork
	case unix.MADV_DONTDUMP:
		// facts: "DONTDUMP sets DONTDUMP".
		nf |= VMDontDump
	case unix.MADV_DODUMP:
		// facts: "DODUMP EINVAL on (non-hugetlb VM_SPECIAL) or
		// VM_DROPPABLE, clears it".
		if f&VMHugeTLB == 0 && f&VMSpecial != 0 || f&VMDroppable != 0 {
			return 0, unix.EINVAL
		}
		nf &^= VMDontDump
	case unix.MADV_MERGEABLE:
		// facts: "MERGEABLE/UNMERGEABLE go through KSM (incompatible VMAs
		// silently left alone)" (ksm_madvise, vma_ksm_compatible).
		if f&VMMergeable == 0 && ksmCompatible(v) {
			nf |= VMMergeable
		}
	case unix.MADV_UNMERGEABLE:
		nf &^= VMMergeable
	case unix.MADV_HUGEPAGE:
		// facts: "HUGEPAGE/NOHUGEPAGE set one and clear the other".
		nf = nf&^VMNoHugePage | VMHugePage
	case unix.MADV_NOHUGEPAGE:
		nf = nf&^VMHugePage | VMNoHugePage
	}
	if nf == f {
		// facts: "A flag change that does not change the flags touches
		// nothing".
		c.apply(v, s, e)
		return e, 0
	}
	found := *v
	nv := *v
	nv.Flags = nf
	c.markForModify(v, s, e, nv)
	// facts: "Otherwise the VMA is merged with neighbours or split at the
	// range edges; an ENOMEM there (including vm.max_map_count) is
	// returned as EAGAIN" (spec "error: EAGAIN").
	if err := c.m.AS.modifyVMA(v, s, e, nv, unix.EAGAIN); err != nil {
		return 0, err.(unix.Errno)
	}
	c.res.Applied = append(c.res.Applied, MadviseRange{Start: s, End: e, VMA: found})
	// If the piece merged with the next VMA, that VMA already had the new
	// flags: the walk goes on after it (madvise_walk_vmas moves range->end
	// to the merged VMA's end).
	next := e
	if cur := c.m.AS.find(e - 1); cur != nil && cur.End > e {
		next = cur.End
	}
	return next, 0
}

// markForModify write-marks the VMAs a flag change of [s, e) in v will
// modify, split or merge with (vma_start_write in vma_modify).
//
// Preconditions: mmap_lock is write-held.
func (c *madvCall) markForModify(v *VMA, s, e uint64, nv VMA) {
	c.m.Lock.MarkVMAWrite(c.h, v)
	piece := nv
	piece.Start, piece.End = s, e
	piece.PgOff = v.PgOff + (s-v.Start)>>PageShift
	if s == v.Start {
		if p := c.m.AS.prev(v); p != nil && canMerge(p, &piece) {
			c.m.Lock.MarkVMAWrite(c.h, p)
		}
	}
	if e == v.End {
		if n := c.m.AS.next(v); n != nil && canMerge(&piece, n) {
			c.m.Lock.MarkVMAWrite(c.h, n)
		}
	}
}

// ksmCompatible is vma_ksm_compatible (DAX, VM_SAO and VM_SPARC_ADI do not
// exist in the model).
func ksmCompatible(v *VMA) bool {
	return v.Flags&(VMShared|VMMayShare|VMSpecial|VMHugeTLB|VMDroppable) == 0 && !v.Backing.Kind.special()
}

// remove is madvise_remove.
//
// Preconditions: mmap_lock is read-held; it is dropped around the file
// call.
func (c *madvCall) remove(v *VMA, s, e uint64) unix.Errno {
	// facts "Per VMA": "REMOVE: EINVAL on VM_LOCKED (checked before the
	// rest)".
	if v.Flags&VMLocked != 0 {
		return unix.EINVAL
	}
	// facts: "EINVAL with no file (private anon)"; spec "constraint:
	// MADV_REMOVE requires a writable shared file mapping".
	if !v.Backing.HasVMFile() {
		return unix.EINVAL
	}
	// facts: "EACCES unless shared and may-write" (vma_is_shared_maywrite;
	// spec "error: EACCES").
	if v.Flags&(VMShared|VMMayWrite) != VMShared|VMMayWrite {
		return unix.EACCES
	}
	// facts: "then punch a hole in the file (its error returned:
	// EOPNOTSUPP, EPERM, ETXTBSY, EIO...)", with mmap_lock dropped (facts
	// "Locks": "WILLNEED (file) and REMOVE drop and retake mmap_lock
	// around their file calls").
	r := MadviseRange{Start: s, End: e, VMA: *v}
	c.res.Applied = append(c.res.Applied, r)
	var err unix.Errno
	c.dropLock(func() {
		if c.env.Host != nil {
			err = c.env.Host.PunchHole(r)
		}
	})
	return err
}

// willneed is madvise_willneed.
//
// Preconditions: mmap_lock is read-held; it is dropped around the file
// call.
func (c *madvCall) willneed(v *VMA, s, e uint64) unix.Errno {
	if !v.Backing.HasVMFile() {
		// facts "Per VMA": "WILLNEED: anonymous -> 0 (swap readahead); no
		// swap configured and not a file -> EBADF" (spec "error: EBADF").
		if !c.env.Kconfig.Swap {
			return unix.EBADF
		}
		c.apply(v, s, e)
		return 0
	}
	if c.env.Kconfig.Swap && v.Backing.isShmem() {
		// shmem_swapin_range under mmap_lock: no file call, no drop.
		c.apply(v, s, e)
		return 0
	}
	// facts: "file -> readahead, result ignored, 0" (DAX, also 0, is not
	// modelled), with mmap_lock dropped around vfs_fadvise.
	r := MadviseRange{Start: s, End: e, VMA: *v}
	c.res.Applied = append(c.res.Applied, r)
	c.dropLock(func() {
		if c.env.Host != nil {
			c.env.Host.Readahead(r)
		}
	})
	return 0
}

// coldPageout is madvise_cold and madvise_pageout.
//
// Preconditions: mmap_lock is read-held.
func (c *madvCall) coldPageout(v *VMA, s, e uint64) unix.Errno {
	// facts "Per VMA": "COLD, PAGEOUT: EINVAL on VM_LOCKED, VM_PFNMAP,
	// VM_HUGETLB" (spec "constraint: MADV_COLD / MADV_PAGEOUT VMA
	// filter").
	if v.Flags&(VMLocked|VMPFNMap|VMHugeTLB) != 0 {
		return unix.EINVAL
	}
	// facts: "otherwise 0 (pages that do not qualify are skipped
	// silently; guard markers untouched)". The handler builds its own
	// gather (spec "lock: mmu_gather TLB batch").
	g := c.m.Lock.MmuGather()
	g.Gather(c.h)
	c.apply(v, s, e)
	g.Finish(c.h)
	return 0
}

// dontneedFree is madvise_dontneed_free (with
// madvise_dontneed_free_valid_vma, madvise_dontneed_single_vma and
// madvise_free_single_vma).
//
// Preconditions: mmap_lock is read-held or v's per-VMA read lock is
// held, inside the call's mmu_gather.
func (c *madvCall) dontneedFree(v *VMA, s, e uint64) unix.Errno {
	if v.Flags&VMHugeTLB != 0 {
		// facts "Per VMA": "hugetlb: FREE -> EINVAL, start must be
		// huge-page aligned, end rounds down".
		if c.advice == unix.MADV_FREE {
			return unix.EINVAL
		}
		hp := c.env.HugeTLBPageSize
		if s%hp != 0 {
			return unix.EINVAL
		}
		e &^= hp - 1
	} else {
		// facts: "EINVAL on VM_PFNMAP, and on VM_LOCKED unless
		// DONTNEED_LOCKED".
		forbidden := VMPFNMap
		if c.advice != unix.MADV_DONTNEED_LOCKED {
			forbidden |= VMLocked
		}
		if v.Flags&forbidden != 0 {
			return unix.EINVAL
		}
	}
	if s >= e {
		return 0
	}
	// facts: "FREE requires anonymous private memory (file, shmem, shared
	// anon -> EINVAL)" (spec "constraint: MADV_FREE requires anonymous
	// mappings").
	if c.advice == unix.MADV_FREE && !v.IsAnonymous() {
		return unix.EINVAL
	}
	// The zap (or FREE's walk) is bracketed by the mmu_notifier (spec
	// "lock: mmu_notifier invalidate range"). Guard markers stay.
	n := c.m.Lock.MmuNotifier()
	n.InvalidateStart(c.h)
	c.apply(v, s, e)
	n.InvalidateEnd(c.h)
	return 0
}

// collapse is madvise_collapse. The eligibility rules the model can see
// are decided here; the collapse itself (and the eligibility that depends
// on the host's THP settings for files) is the host's.
//
// Preconditions: mmap_lock is read-held; for file-backed VMAs it is
// dropped around the collapse (spec "lock: mm->mmap_lock (read mode)":
// "MADV_COLLAPSE on file-backed ranges around the page migration
// pipeline").
func (c *madvCall) collapse(v *VMA, s, e uint64) unix.Errno {
	// facts "Per VMA": "COLLAPSE: no eligible huge-page order -> EINVAL"
	// (thp_vma_allowable_order: VM_NOHUGEPAGE, VM_SPECIAL, VM_HUGETLB,
	// special mappings, and a VMA that holds no aligned 2 MiB block).
	if v.Flags&(VMNoHugePage|VMSpecial|VMHugeTLB) != 0 || v.Backing.Kind.special() || !pmdSuitable(v) {
		return unix.EINVAL
	}
	// facts: "range smaller than one aligned 2 MiB block -> 0".
	hs := (s + HugePMDSize - 1) &^ (HugePMDSize - 1)
	he := e &^ (HugePMDSize - 1)
	if hs >= he {
		return 0
	}
	r := MadviseRange{Start: hs, End: he, VMA: *v}
	c.res.Applied = append(c.res.Applied, r)
	guards := v.Guards.Slice((hs-v.Start)>>PageShift, (he-v.Start)>>PageShift)
	var err unix.Errno
	call := func() {
		if c.env.Host != nil {
			err = c.env.Host.Collapse(r)
		}
	}
	if v.Backing.Kind.hasFile() {
		c.dropLock(call)
	} else {
		call()
	}
	// facts: "fails (non-zero) over guard markers" (the scan meets a
	// marker; madvise_collapse_errno's default: "else EINVAL").
	if !guards.Empty() {
		return unix.EINVAL
	}
	return err
}

// pmdSuitable reports whether v can hold a PMD-mapped huge page
// (thp_vma_suitable_order at the highest address): an aligned 2 MiB block
// inside v, and for a file the file offset aligned like the address.
func pmdSuitable(v *VMA) bool {
	hs := (v.Start + HugePMDSize - 1) &^ (HugePMDSize - 1)
	if hs < v.Start || hs+HugePMDSize > v.End {
		return false
	}
	if v.Backing.Kind.hasFile() {
		return ((v.Start>>PageShift)-v.PgOff)%(HugePMDSize>>PageShift) == 0
	}
	return true
}

// guardInstall is madvise_guard_install.
//
// Preconditions: mmap_lock is read-held or v's per-VMA read lock is held.
func (c *madvCall) guardInstall(v *VMA, s, e uint64) unix.Errno {
	// facts "Per VMA": "GUARD_INSTALL: EINVAL on VM_SPECIAL, VM_HUGETLB or
	// VM_LOCKED" (spec "error: EINVAL": "GUARD_* on VM_SPECIAL or
	// VM_HUGETLB, GUARD_INSTALL on VM_LOCKED").
	if v.Flags&(VMSpecial|VMHugeTLB|VMLocked) != 0 || v.Backing.Kind.special() {
		return unix.EINVAL
	}
	// facts: "sets the sticky VM_MAYBE_GUARD flag [new]"; an anonymous
	// VMA gets its anon_vma (anon_vma_prepare; never fails in the model).
	found := *v
	nv := *v
	nv.Flags |= VMMaybeGuard
	if nv.IsAnonymous() && nv.AnonVMA == 0 {
		nv.AnonVMA = c.m.AS.anonVMAFor(v)
	}
	if !sameState(&nv, v) {
		c.m.AS.replace(v, nv)
		v = c.m.AS.find(s)
	}
	// facts: "then up to 3 tries: walk the range turning empty PTEs into
	// guard markers; if any page is populated, zap the range (markers
	// survive a zap) and try again; after 3 lost races return
	// -ERESTARTNOINTR". Which pages are populated is the host's; the
	// model loses exactly the races env.LoseGuardRaces asks for.
	for try := 0; try < MaxGuardRetries; try++ {
		if c.racesLeft > 0 {
			c.racesLeft--
			// zap_page_range_single: its own gather and the notifier
			// (spec "lock: mmu_gather TLB batch", "lock: mmu_notifier").
			g, n := c.m.Lock.MmuGather(), c.m.Lock.MmuNotifier()
			g.Gather(c.h)
			n.InvalidateStart(c.h)
			n.InvalidateEnd(c.h)
			g.Finish(c.h)
			continue
		}
		lo, hi := (s-v.Start)>>PageShift, (e-v.Start)>>PageShift
		gv := *v
		gv.Guards = v.Guards.Add(lo, hi)
		c.m.AS.replace(v, gv)
		c.res.Applied = append(c.res.Applied, MadviseRange{Start: s, End: e, VMA: found})
		return 0
	}
	// spec notes: "If those retries are exhausted the handler returns
	// -ERESTARTNOINTR via restart_syscall()".
	return ERESTARTNOINTR
}

// guardRemove is madvise_guard_remove.
//
// Preconditions: mmap_lock is read-held or v's per-VMA read lock is held.
func (c *madvCall) guardRemove(v *VMA, s, e uint64) unix.Errno {
	// facts "Per VMA": "GUARD_REMOVE: EINVAL on VM_SPECIAL or VM_HUGETLB
	// (mlocked is fine)".
	if v.Flags&(VMSpecial|VMHugeTLB) != 0 || v.Backing.Kind.special() {
		return unix.EINVAL
	}
	// facts: "clears markers only; ... Over non-guard pages it is a
	// no-op". VM_MAYBE_GUARD stays (sticky).
	c.apply(v, s, e)
	lo, hi := (s-v.Start)>>PageShift, (e-v.Start)>>PageShift
	if !v.Guards.Slice(lo, hi).Empty() {
		nv := *v
		nv.Guards = v.Guards.Remove(lo, hi)
		c.m.AS.replace(v, nv)
	}
	return 0
}

// populate is madvise_populate: its own walk, which stops at the first
// hole (facts "The walk over VMAs": "POPULATE_* does not use this walk: it
// stops at the first hole with ENOMEM").
//
// Preconditions: mmap_lock is read-held.
func (c *madvCall) populate(start, end uint64) unix.Errno {
	write := c.advice == unix.MADV_POPULATE_WRITE
	for addr := start; addr < end; {
		// facts "Per VMA", POPULATE: "EINTR on a fatal signal" (the gup
		// loop checks fatal_signal_pending before each page; spec
		// "signal: Any fatal signal").
		if c.h.FatalSignalPending() {
			return unix.EINTR
		}
		v := c.m.AS.madvFind(addr)
		if v == nil {
			// facts: "ENOMEM at a hole" (pages before it stay
			// populated).
			return unix.ENOMEM
		}
		// facts: "EINVAL if the VMA lacks read (write) permission, is
		// PROT_NONE, VM_IO or VM_PFNMAP" (check_vma_flags).
		need := VMRead
		if write {
			need = VMWrite
		}
		if v.Flags&(VMIO|VMPFNMap) != 0 || v.Flags&need == 0 {
			return unix.EINVAL
		}
		e := min(end, v.End)
		// facts: "EFAULT on a guard marker": the pages before it are
		// faulted in first.
		stop, guard := e, false
		lo, hi := (addr-v.Start)>>PageShift, (e-v.Start)>>PageShift
		if rs := v.Guards.Slice(lo, hi).Ranges(); len(rs) > 0 {
			stop, guard = addr+rs[0][0]<<PageShift, true
		}
		if stop > addr {
			r := MadviseRange{Start: addr, End: stop, VMA: *v}
			c.res.Applied = append(c.res.Applied, r)
			if write && v.Flags&VMMayShare == 0 {
				// A write fault on private memory attaches an anon_vma.
				c.m.AS.prepareAnonVMA(v)
			}
			if c.env.Host != nil {
				if err := c.env.Host.Populate(r, write); err != 0 {
					// facts: "EFAULT on ... a page beyond the end of a
					// file; EHWPOISON on a poisoned page; ... EINTR on a
					// fatal signal; anything else ENOMEM".
					switch err {
					case unix.EINTR, unix.EINVAL, unix.EHWPOISON, unix.EFAULT:
						return err
					}
					return unix.ENOMEM
				}
			}
		}
		if guard {
			return unix.EFAULT
		}
		addr = e
	}
	return 0
}

// injectError is madvise_inject_error: no lock, no VMA walk, page by page
// over [start, end) (end = start + len_in, unaligned).
func (c *madvCall) injectError(start, end uint64) unix.Errno {
	// facts "order of checks" 5: "no CAP_SYS_ADMIN -> EPERM" (spec
	// "capability: CAP_SYS_ADMIN").
	if !c.env.Caps.SysAdmin {
		return unix.EPERM
	}
	for addr := start; addr < end; addr += PageSize {
		// facts 5: "per page, unmapped -> EFAULT" (get_user_pages_fast:
		// no VMA, a guard marker, no VM_READ, VM_IO or VM_PFNMAP all
		// fail with EFAULT). Hugetlb pages are stepped as base pages.
		v := c.m.AS.madvFind(addr)
		if v == nil || v.IsGuard(addr) || v.Flags&VMRead == 0 || v.Flags&(VMIO|VMPFNMap) != 0 {
			return unix.EFAULT
		}
		c.applyPage(v, addr)
		if c.env.Host == nil {
			continue
		}
		err := c.env.Host.InjectError(addr, c.advice)
		// facts 5: "HWPOISON folds EOPNOTSUPP to 0".
		if c.advice == unix.MADV_HWPOISON && err == unix.EOPNOTSUPP {
			err = 0
		}
		if err != 0 {
			return err
		}
	}
	return 0
}

// applyPage records the page at addr of v, coalescing with the previous
// piece when it continues it in the same VMA.
func (c *madvCall) applyPage(v *VMA, addr uint64) {
	if n := len(c.res.Applied); n > 0 {
		last := &c.res.Applied[n-1]
		if last.End == addr && last.VMA.Start == v.Start {
			last.End = addr + PageSize
			return
		}
	}
	c.apply(v, addr, addr+PageSize)
}
