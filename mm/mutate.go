package mm

import (
	"golang.org/x/sys/unix"
)

// Errno decisions in this file cite the kernel function that makes them;
// the madvise ones come from shared/reference/madvise-facts.md.

func pageAligned(a uint64) bool { return a%PageSize == 0 }

// PageAlign rounds n up to a whole number of pages (PAGE_ALIGN; it wraps
// to 0 for n within a page of 2^64, as the kernel's does).
func PageAlign(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }

// checkRange rejects empty, unaligned or wrapping ranges. Callers validate
// user arguments first; this guards the model.
func checkRange(start, end uint64) error {
	if !pageAligned(start) || !pageAligned(end) || start >= end {
		return unix.EINVAL
	}
	return nil
}

// splitAt splits v at addr (v.Start < addr < v.End) as __split_vma does:
// both halves keep every field; the upper half's pgoff advances by its
// distance from v.Start and the guard pages are divided.
func (as *AddressSpace) splitAt(v *VMA, addr uint64) (lo, hi *VMA) {
	off := (addr - v.Start) >> PageShift
	l, h := *v, *v
	l.End = addr
	h.Start = addr
	h.PgOff = v.PgOff + off
	l.Guards = v.Guards.Slice(0, off)
	h.Guards = v.Guards.Slice(off, v.Pages())
	keepStart, keepEnd := as.unmergedOK[v.Start], as.unmergedOK[v.End]
	as.remove(v)
	as.insert(&l)
	as.insert(&h)
	as.restoreApart(v.Start, keepStart)
	as.restoreApart(v.End, keepEnd)
	return &l, &h
}

// restoreApart puts back the unmergedOK entry (why, 0 for none) that a
// remove dropped.
func (as *AddressSpace) restoreApart(addr uint64, why apartWhy) {
	if why != 0 {
		as.unmergedOK[addr] = why
	}
}

// mergePair replaces a and the VMA b that follows it by one VMA, as
// vma_merge does: a's pgoff, the first non-nil anon_vma, the union of the
// sticky flags, both guard sets.
func (as *AddressSpace) mergePair(a, b *VMA) *VMA {
	m := *a
	m.End = b.End
	m.Flags = a.Flags | b.Flags&VMSticky
	if m.AnonVMA == 0 {
		m.AnonVMA, m.AnonChained = b.AnonVMA, b.AnonChained
	}
	m.Guards = a.Guards.Union(b.Guards.Shift(a.Pages()))
	keepStart, keepEnd := as.unmergedOK[a.Start], as.unmergedOK[b.End]
	as.remove(a)
	as.remove(b)
	as.insert(&m)
	as.restoreApart(a.Start, keepStart)
	as.restoreApart(b.End, keepEnd)
	return &m
}

// tryMerge merges v with its previous and then its next neighbour where
// the kernel would, and returns the VMA now holding v's range.
func (as *AddressSpace) tryMerge(v *VMA) *VMA {
	if p := as.prev(v); p != nil && canMerge(p, v) {
		v = as.mergePair(p, v)
	}
	if n := as.next(v); n != nil && canMerge(v, n) {
		v = as.mergePair(v, n)
	}
	return v
}

// replace swaps v for a VMA with the same range and the state of nv,
// without splitting or merging (for state the kernel changes in place:
// anon_vma, sticky flags, guard markers).
func (as *AddressSpace) replace(v *VMA, nv VMA) {
	nv.Start, nv.End, nv.PgOff = v.Start, v.End, v.PgOff
	keepStart, keepEnd := as.unmergedOK[v.Start], as.unmergedOK[v.End]
	as.remove(v)
	as.insert(&nv)
	as.restoreApart(v.Start, keepStart)
	as.restoreApart(v.End, keepEnd)
}

// gapPolicy says what a range walk does at a hole.
type gapPolicy int

const (
	// gapSkip is madvise's walk: holes are skipped and ENOMEM is returned
	// at the end.
	gapSkip gapPolicy = iota
	// gapStop is mprotect's and mlock's: ENOMEM at the first hole, with
	// the VMAs before it already changed.
	gapStop
)

// modifyRange walks the VMAs of [start, end). For each, fn gets a copy of
// the VMA's state and changes it (or fails, which aborts the walk: earlier
// VMAs stay changed). If the state changed, the part of the VMA inside the
// range takes it: the VMA is split at the range edges or merged with its
// neighbours as vma_modify does. splitErr is the errno for a split refused
// by vm.max_map_count.
func (as *AddressSpace) modifyRange(start, end uint64, gaps gapPolicy, splitErr error, fn func(nv *VMA) error) error {
	if err := checkRange(start, end); err != nil {
		return err
	}
	sawGap := false
	for addr := start; addr < end; {
		v := as.findNext(addr)
		if v == nil || v.Start >= end {
			sawGap = true
			break
		}
		if v.Start > addr {
			if gaps == gapStop {
				return unix.ENOMEM
			}
			sawGap = true
			addr = v.Start
		}
		e := min(end, v.End)
		nv := *v
		if err := fn(&nv); err != nil {
			return err
		}
		if !sameState(&nv, v) {
			if err := as.modifyVMA(v, addr, e, nv, splitErr); err != nil {
				return err
			}
		}
		addr = e
	}
	if sawGap {
		return unix.ENOMEM
	}
	return nil
}

// modifyVMA gives [s, e) (within v) the state nv, as vma_modify does: merge
// with a neighbour where possible, else split at the range edges
// (split_vma fails with ENOMEM once map_count reaches vm.max_map_count,
// and with EINVAL on a VMA that may not be split).
func (as *AddressSpace) modifyVMA(v *VMA, s, e uint64, nv VMA, splitErr error) error {
	piece := nv
	piece.Start, piece.End = s, e
	piece.PgOff = v.PgOff + (s-v.Start)>>PageShift
	piece.Guards = v.Guards.Slice((s-v.Start)>>PageShift, (e-v.Start)>>PageShift)
	needLo, needHi := s > v.Start, e < v.End
	splits := 0
	switch {
	case needLo && needHi:
		splits = 2
	case needLo:
		if n := as.next(v); n == nil || !canMerge(&piece, n) {
			splits = 1
		}
	case needHi:
		if p := as.prev(v); p == nil || !canMerge(p, &piece) {
			splits = 1
		}
	}
	for i := 0; i < splits; i++ {
		if as.stats.MapCount+i >= as.MaxMapCount {
			return splitErr
		}
	}
	if needLo && !v.maySplitAt(s) || needHi && !v.maySplitAt(e) {
		return unix.EINVAL
	}
	cur := v
	if needLo {
		_, cur = as.splitAt(cur, s)
	}
	if needHi {
		cur, _ = as.splitAt(cur, e)
	}
	as.remove(cur)
	p := &piece
	as.insert(p)
	as.tryMerge(p)
	return nil
}

// unmapRange removes [start, end) from the tree as do_vmi_munmap does
// (vms_gather_munmap_vmas). The first VMA, if the range starts inside it,
// is split first: ENOMEM when that takes one VMA to three with map_count
// at vm.max_map_count, EPERM if it is sealed, EINVAL if it may not be
// split. Then each VMA in turn: EPERM if sealed, and the last one is split
// at the end (EINVAL if it may not be). A failure after the first split
// leaves that split (the checked test host does; on EPERM the boundary is
// marked apartSealSplit); nothing else changes.
func (as *AddressSpace) unmapRange(start, end uint64) error {
	vs := as.overlapping(start, end)
	if len(vs) == 0 {
		return nil
	}
	split := vs[0].Start < start
	if first := vs[0]; split {
		if first.End > end && as.stats.MapCount >= as.MaxMapCount {
			return unix.ENOMEM
		}
		if first.Flags&VMSealed != 0 {
			return unix.EPERM
		}
		if !first.maySplitAt(start) {
			return unix.EINVAL
		}
		_, vs[0] = as.splitAt(first, start)
	}
	for i, v := range vs {
		if v.Flags&VMSealed != 0 {
			if split {
				as.unmergedOK[start] = apartSealSplit
			}
			return unix.EPERM
		}
		if v.End > end {
			if !v.maySplitAt(end) {
				return unix.EINVAL
			}
			vs[i], _ = as.splitAt(v, end)
		}
	}
	for _, v := range vs {
		as.remove(v)
	}
	return nil
}

// Map inserts the new mapping v (see NewMmap), first removing whatever it
// overlaps (MAP_FIXED), then merging it with its neighbours as
// mmap_region does.
//
// Errors: EINVAL for an empty or unaligned range; ENOMEM when map_count
// already exceeds vm.max_map_count (do_mmap) or the unmap needs a split it
// cannot make; EPERM when a sealed VMA is in the way.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Map(v VMA) error {
	if err := checkRange(v.Start, v.End); err != nil {
		return err
	}
	if as.stats.MapCount > as.MaxMapCount {
		return unix.ENOMEM
	}
	if err := v.Guards.valid(v.Pages()); err != nil {
		return unix.EINVAL
	}
	if err := as.unmapRange(v.Start, v.End); err != nil {
		return err
	}
	nv := v
	as.insert(&nv)
	as.tryMerge(&nv)
	return nil
}

// Unmap removes [start, end) (munmap). Holes are fine; guard pages in the
// range go with it.
//
// Errors: EINVAL for an empty or unaligned range; EPERM when a sealed VMA
// overlaps (nothing is unmapped, but a VMA the range starts inside is left
// split there, see unmapRange); ENOMEM when splitting one VMA in two would
// exceed vm.max_map_count.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Unmap(start, end uint64) error {
	if err := checkRange(start, end); err != nil {
		return err
	}
	return as.unmapRange(start, end)
}

// Protect changes the access bits of [start, end) to prot, as mprotect
// does (without pkeys or PROT_GROWSDOWN/UP).
//
// Hidden state, as mprotect_fixup: a private mapping without VM_ACCOUNT,
// VM_WRITE, VM_HUGETLB, VM_SHARED and VM_NORESERVE that becomes writable
// gains VM_ACCOUNT (and keeps it); an anonymous mapping with no anon_vma
// (never written) that becomes non-writable loses it.
//
// Errors (mprotect's loop): ENOMEM when start is unmapped or at the first
// hole (VMAs before it stay changed); EACCES when prot exceeds the VMA's
// VM_MAY* bits; EPERM on a sealed VMA; ENOMEM on a split beyond
// vm.max_map_count.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Protect(start, end uint64, prot Prot) error {
	access := ProtToVM(prot)
	return as.modifyRange(start, end, gapStop, unix.ENOMEM, func(nv *VMA) error {
		old := nv.Flags
		nf := old&^VMAccessFlags | access
		if nf&^(nf>>4)&VMAccessFlags != 0 {
			return unix.EACCES
		}
		if old&VMSealed != 0 {
			return unix.EPERM
		}
		if nf&VMWrite != 0 {
			if old&(VMAccount|VMWrite|VMHugeTLB|VMShared|VMNoReserve) == 0 {
				nf |= VMAccount
			}
		} else if old&VMAccount != 0 && nv.IsAnonymous() && nv.AnonVMA == 0 {
			nf &^= VMAccount
		}
		nv.Flags = nf
		return nil
	})
}

// SetFlags sets and clears VM_* flags on [start, end), splitting at the
// range edges and merging with neighbours (madvise flag advice, mlock,
// mseal). VMAs whose flags do not change are not touched. The caller
// decides which VMAs qualify (errno rules of the advice).
//
// Errors: ENOMEM if the range has holes (the mapped parts are changed,
// madvise's walk) or a split exceeds vm.max_map_count. Use MadviseFlags
// for madvise's EAGAIN.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SetFlags(start, end uint64, set, clear VMFlags) error {
	return as.setFlags(start, end, set, clear, unix.ENOMEM)
}

// MadviseFlags is SetFlags with madvise's error translation: a split
// refused by vm.max_map_count is EAGAIN (madvise_update_vma); holes are
// still ENOMEM.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) MadviseFlags(start, end uint64, set, clear VMFlags) error {
	return as.setFlags(start, end, set, clear, unix.EAGAIN)
}

func (as *AddressSpace) setFlags(start, end uint64, set, clear VMFlags, splitErr error) error {
	return as.modifyRange(start, end, gapSkip, splitErr, func(nv *VMA) error {
		nv.Flags = (nv.Flags | set) &^ clear
		return nil
	})
}

// SetName sets the anonymous VMA name of [start, end) ("" clears it), as
// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) does.
//
// Errors: EBADF on a file mapping that is not shared anonymous memory
// (madvise_vma_anon_name; VMAs before it stay named); ENOMEM if the range
// has holes or a split exceeds vm.max_map_count.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SetName(start, end uint64, name string) error {
	return as.modifyRange(start, end, gapSkip, unix.ENOMEM, func(nv *VMA) error {
		if nv.Backing.Kind == BackingFile {
			return unix.EBADF
		}
		nv.Name = name
		return nil
	})
}

// SetUffd marks [start, end) as registered (armed) or not with a
// userfaultfd, splitting and merging like the kernel's
// userfaultfd_register/unregister.
//
// Errors: ENOMEM if the range has holes or a split exceeds
// vm.max_map_count. (UFFDIO_REGISTER's own checks are the caller's.)
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SetUffd(start, end uint64, armed bool) error {
	return as.modifyRange(start, end, gapSkip, unix.ENOMEM, func(nv *VMA) error {
		nv.UffdArmed = armed
		return nil
	})
}

// UffdReleased unregisters, in address order, every armed VMA whose start
// registered reports is no longer registered on the host, each merging
// with its neighbours: what userfaultfd_release does to the VMAs of a
// userfaultfd whose last reference went away (at a close, an exit, an
// exec...: calls that are not memory calls). It reports whether any armed
// VMA remains, and whether any was unregistered.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) UffdReleased(registered func(start uint64) bool) (remain, changed bool) {
	var gone [][2]uint64
	as.tree.Ascend(func(v *VMA) bool {
		if v.UffdArmed {
			if registered(v.Start) {
				remain = true
			} else {
				gone = append(gone, [2]uint64{v.Start, v.End})
			}
		}
		return true
	})
	for _, r := range gone {
		// Each range is one whole VMA: nothing splits, so nothing fails.
		as.SetUffd(r[0], r[1], false)
	}
	return remain, len(gone) > 0
}

// anonVMACompatible is the kernel's anon_vma_compatible(a, b) for a VMA a
// followed by b.
func anonVMACompatible(a, b *VMA) bool {
	return a.End == b.Start && a.Backing == b.Backing &&
		(a.Flags^b.Flags)&^(VMAccessFlags|VMSticky) == 0 &&
		b.PgOff == a.PgOff+a.Pages()
}

// anonVMAFor picks the anon_vma anon_vma_prepare gives v: the next VMA's,
// then the previous one's, when compatible (find_mergeable_anon_vma), else
// a new one.
func (as *AddressSpace) anonVMAFor(v *VMA) AnonVMAID {
	// Pieces of one host VMA (split by a hidden flag only) have the host
	// VMA's anon_vma, whichever piece asked first (fuzzer seeds 2005,
	// 2009, 2016: after mlockall the pieces got two, and the model's
	// rendering of the host kept them apart).
	if n := as.next(v); n != nil && n.AnonVMA != 0 && as.hostSiblings(v, n) {
		return n.AnonVMA
	}
	if p := as.prev(v); p != nil && p.AnonVMA != 0 && as.hostSiblings(p, v) {
		return p.AnonVMA
	}
	if n := as.next(v); n != nil && n.AnonVMA != 0 && !n.AnonChained && anonVMACompatible(v, n) {
		return n.AnonVMA
	}
	if p := as.prev(v); p != nil && p.AnonVMA != 0 && !p.AnonChained && anonVMACompatible(p, v) {
		return p.AnonVMA
	}
	return as.newAnonVMA()
}

// hostSiblings reports whether a and the VMA b that follows it are one VMA
// on the host: they differ only in HiddenFlags.
func (as *AddressSpace) hostSiblings(a, b *VMA) bool {
	return as.HiddenFlags != 0 && a.End == b.Start && a.Backing == b.Backing &&
		(a.Flags^b.Flags)&^as.HiddenFlags == 0 && b.PgOff == a.PgOff+a.Pages() &&
		a.UffdArmed == b.UffdArmed
}

// prepareAnonVMA attaches an anon_vma to v if it has none and is private.
func (as *AddressSpace) prepareAnonVMA(v *VMA) {
	if v.AnonVMA != 0 || v.Flags&VMMayShare != 0 || v.Backing.Kind.special() {
		return
	}
	nv := *v
	nv.AnonVMA = as.anonVMAFor(v)
	as.replace(v, nv)
}

// PrepareAnonVMA attaches an anon_vma to every private VMA overlapping
// [start, end) that has none, as anon_vma_prepare does on the first write
// fault (and on MADV_POPULATE_WRITE, write-populating mlock, guard
// install, ...). An anon_vma decides later merges and what mremap does
// with pgoff. Holes are ignored.
//
// Preconditions: the caller holds mmap_lock (for reading suffices in the
// kernel: the anon_vma is set under the page table lock).
func (as *AddressSpace) PrepareAnonVMA(start, end uint64) {
	for _, v := range as.overlapping(start, end) {
		as.prepareAnonVMA(v)
	}
}

// AddGuards installs guard markers on every page of [start, end), as
// MADV_GUARD_INSTALL does: no split; VM_MAYBE_GUARD set on each VMA
// touched (sticky); anonymous VMAs get an anon_vma.
//
// Errors (per VMA, madvise walk, earlier VMAs stay guarded): EINVAL on
// VM_SPECIAL, VM_HUGETLB or VM_LOCKED; ENOMEM if the range has holes (the
// mapped parts are guarded).
//
// Preconditions: the caller holds mmap_lock for reading (or the VMA's
// read lock, see madvise-facts.md).
func (as *AddressSpace) AddGuards(start, end uint64) error {
	return as.guardOp(start, end, true)
}

// RemoveGuards removes guard markers from [start, end)
// (MADV_GUARD_REMOVE). VM_MAYBE_GUARD stays.
//
// Errors (per VMA): EINVAL on VM_SPECIAL or VM_HUGETLB (mlocked is fine);
// ENOMEM if the range has holes.
//
// Preconditions: as AddGuards.
func (as *AddressSpace) RemoveGuards(start, end uint64) error {
	return as.guardOp(start, end, false)
}

func (as *AddressSpace) guardOp(start, end uint64, install bool) error {
	if err := checkRange(start, end); err != nil {
		return err
	}
	sawGap := false
	for addr := start; addr < end; {
		v := as.findNext(addr)
		if v == nil || v.Start >= end {
			sawGap = true
			break
		}
		if v.Start > addr {
			sawGap = true
			addr = v.Start
		}
		e := min(end, v.End)
		bad := VMSpecial | VMHugeTLB
		if install {
			bad |= VMLocked
		}
		if v.Flags&bad != 0 || v.Backing.Kind.special() {
			return unix.EINVAL
		}
		lo, hi := (addr-v.Start)>>PageShift, (e-v.Start)>>PageShift
		if install {
			if v.IsAnonymous() {
				as.prepareAnonVMA(v)
				v = as.find(addr)
			}
			nv := *v
			nv.Guards = v.Guards.Add(lo, hi)
			nv.Flags |= VMMaybeGuard
			as.replace(v, nv)
		} else if !v.Guards.Slice(lo, hi).Empty() {
			nv := *v
			nv.Guards = v.Guards.Remove(lo, hi)
			as.replace(v, nv)
		}
		addr = e
	}
	if sawGap {
		return unix.ENOMEM
	}
	return nil
}

// Remap applies the result of a successful mremap(oldStart, oldLen,
// newLen, ..., newStart): the caller (the mremap logic) has chosen
// newStart and checked the arguments.
//
//   - newStart == oldStart, newLen <= oldLen: shrink in place (the tail is
//     unmapped, with its guard markers).
//   - newStart == oldStart, newLen > oldLen: grow in place; the old range
//     must end its VMA and the growth must be free. The VMA is extended and
//     merges with the next VMA when compatible (checked on the 6.18 host).
//   - otherwise, move: the target is unmapped first (MREMAP_FIXED), a
//     shrink drops the tail, then the old range (within one VMA) moves to
//     newStart with its flags, anon_vma, name, uffd state and guard markers;
//     its pgoff is kept, except that an anonymous VMA without anon_vma gets
//     newStart>>PageShift (copy_vma). The new VMA merges with its new
//     neighbours; the old range is unmapped.
//
// Errors: EINVAL for bad ranges, a range not within one VMA (move, grow)
// or a grow whose old range does not end its VMA; ENOMEM if the growth is
// not free; EPERM if a sealed VMA is involved; ENOMEM from splits.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Remap(oldStart, oldLen, newStart, newLen uint64) error {
	if err := checkRange(oldStart, oldStart+oldLen); err != nil {
		return err
	}
	if err := checkRange(newStart, newStart+newLen); err != nil {
		return err
	}
	oldEnd := oldStart + oldLen
	for _, v := range as.overlapping(oldStart, oldEnd) {
		if v.Flags&VMSealed != 0 {
			return unix.EPERM
		}
	}
	if newStart == oldStart {
		if newLen <= oldLen {
			if newLen == oldLen {
				return nil
			}
			return as.unmapRange(oldStart+newLen, oldEnd)
		}
		v := as.find(oldStart)
		if v == nil || v.End != oldEnd {
			return unix.EINVAL
		}
		newEnd := oldStart + newLen
		if n := as.next(v); n != nil && n.Start < newEnd {
			return unix.ENOMEM
		}
		nv := *v
		nv.End = newEnd
		as.remove(v)
		as.insert(&nv)
		as.tryMerge(&nv)
		return nil
	}
	// Move.
	if newStart < oldEnd && oldStart < newStart+newLen {
		return unix.EINVAL
	}
	if err := as.unmapRange(newStart, newStart+newLen); err != nil {
		return err
	}
	if newLen < oldLen {
		if err := as.unmapRange(oldStart+newLen, oldEnd); err != nil {
			return err
		}
		oldLen, oldEnd = newLen, oldStart+newLen
	}
	v := as.find(oldStart)
	if v == nil || v.End < oldEnd {
		return unix.EINVAL
	}
	nv := movedCopy(v, oldStart, oldLen, newStart, newLen)
	as.insert(&nv)
	as.tryMerge(&nv)
	return as.unmapRange(oldStart, oldEnd)
}

// movedCopy is copy_vma: the VMA that [oldStart, oldStart+oldLen) of v
// becomes at newStart (newLen long), with v's flags, anon_vma, name, uffd
// state and the range's guard markers; its pgoff is kept, except that an
// anonymous VMA without anon_vma gets newStart>>PageShift.
func movedCopy(v *VMA, oldStart, oldLen, newStart, newLen uint64) VMA {
	off := (oldStart - v.Start) >> PageShift
	nv := *v
	nv.Start, nv.End = newStart, newStart+newLen
	nv.PgOff = v.PgOff + off
	if v.IsAnonymous() && v.AnonVMA == 0 {
		nv.PgOff = newStart >> PageShift
	}
	nv.Guards = v.Guards.Slice(off, off+oldLen>>PageShift)
	return nv
}

// LearnMovedPgOff corrects the VMA that an mremap moved to start when the
// host shows another pgoff for it (hostPgOff, asked only for such a VMA):
// the pgoff of a private /dev/zero mapping is visible, and a move gives an
// anonymous VMA the new address as pgoff only if it had no anon_vma, which
// a page fault the model did not see may have attached. The VMA then gets
// the host's pgoff and an anon_vma. It reports whether it changed
// anything.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) LearnMovedPgOff(start uint64, hostPgOff func() (uint64, bool)) bool {
	v := as.find(start)
	if v == nil || v.Start != start || !v.IsAnonymous() || !v.Backing.HasVMFile() || v.AnonVMA != 0 {
		return false
	}
	pgoff, ok := hostPgOff()
	if !ok || pgoff == v.PgOff {
		return false
	}
	nv := *v
	nv.PgOff, nv.AnonVMA = pgoff, as.newAnonVMA()
	keepStart, keepEnd := as.unmergedOK[v.Start], as.unmergedOK[v.End]
	as.remove(v)
	as.insert(&nv)
	as.restoreApart(nv.Start, keepStart)
	as.restoreApart(nv.End, keepEnd)
	return true
}

// Fork returns the address space a child gets from fork (dup_mmap):
// VM_DONTCOPY VMAs are absent; VM_WIPEONFORK VMAs are present with no
// anon_vma and no guard markers; other VMAs keep their guard markers and
// get a fresh anon_vma each if they had one (anon_vma_fork); VM_LOCKED and
// VM_LOCKONFAULT are cleared (mlock is not inherited); userfaultfd
// registrations are dropped (no UFFD_FEATURE_EVENT_FORK). Nothing merges.
//
// Preconditions: the caller holds mmap_lock for writing (dup_mmap takes
// the parent's for writing).
func (as *AddressSpace) Fork() *AddressSpace {
	c := NewAddressSpace()
	c.startBrk, c.brk, c.startStack = as.startBrk, as.brk, as.startStack
	c.MaxMapCount, c.EnoughMemory, c.HiddenFlags = as.MaxMapCount, as.EnoughMemory, as.HiddenFlags
	// mm_init keeps only VM_INIT_DEF_MASK (VM_NOHUGEPAGE) of def_flags:
	// mlockall(MCL_FUTURE) is not inherited.
	c.DefFlags = as.DefFlags & VMNoHugePage
	c.lastAnonVMA = as.lastAnonVMA
	var prev *VMA
	var prevParentAnon AnonVMAID
	as.tree.Ascend(func(v *VMA) bool {
		if v.Flags&VMDontCopy != 0 {
			return true
		}
		nv := *v
		nv.Flags &^= VMLockedMask
		nv.UffdArmed = false
		switch {
		case nv.Flags&VMWipeOnFork != 0:
			nv.AnonVMA, nv.AnonChained = 0, false
			nv.Guards = GuardSet{}
		case nv.AnonVMA != 0 && prev != nil && prev.End == nv.Start && prevParentAnon == v.AnonVMA &&
			prev.Flags^nv.Flags == VMSealed:
			// Halves of one VMA that mseal split: natively two VMAs with
			// an anon_vma each, which the seal keeps apart for good, so
			// one identity is the same to the kernel; it is right where
			// mseal is emulated and the host has one VMA.
			nv.AnonVMA, nv.AnonChained = prev.AnonVMA, true
		case nv.AnonVMA != 0:
			nv.AnonVMA, nv.AnonChained = c.newAnonVMA(), true
		}
		prevParentAnon = v.AnonVMA
		c.insert(&nv)
		if prev != nil && canMerge(prev, &nv) {
			c.unmergedOK[nv.Start] = apartKernel
		}
		prev = &nv
		return true
	})
	return c
}

// RemapDontUnmap is mremap(MREMAP_MAYMOVE|MREMAP_DONTUNMAP) after the
// kernel accepted it (old and new length equal): the pages move to
// newStart as for a move (Remap), but the old range stays mapped, empty,
// without its anon_vma when the whole VMA moved (its pages went with the
// new one), and the VMA that holds it loses VM_LOCKED and VM_LOCKONFAULT,
// all of it.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) RemapDontUnmap(oldStart, length, newStart uint64) error {
	if err := checkRange(oldStart, oldStart+length); err != nil {
		return err
	}
	oldEnd := oldStart + length
	v := as.find(oldStart)
	if v == nil || v.End < oldEnd {
		return unix.EINVAL
	}
	if err := as.unmapRange(newStart, newStart+length); err != nil {
		return err
	}
	v = as.find(oldStart)
	nv := movedCopy(v, oldStart, length, newStart, length)
	whole := v.Start == oldStart && v.End == oldEnd
	as.insert(&nv)
	as.tryMerge(&nv)
	if whole && v.AnonVMA != 0 {
		ov := *v
		ov.AnonVMA, ov.AnonChained = 0, false
		as.replace(v, ov)
	}
	// dontunmap_complete clears VM_LOCKED and VM_LOCKONFAULT on the whole
	// old VMA, not only on the moved range: no split, no merge.
	if v = as.find(oldStart); v != nil && v.Flags&VMLockedMask != 0 {
		ov := *v
		ov.Flags &^= VMLockedMask
		as.replace(v, ov)
	}
	return nil
}
