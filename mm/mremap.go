package mm

import (
	"errors"

	"golang.org/x/sys/unix"
)

// mremap(2) on the model, in the order of the kernel's checks (mm/mremap.c
// of 6.18: check_mremap_params, then under mmap_lock either remap_move or
// vma_lookup, check_prep_vma and mremap_to / mremap_at). Where the call
// fails part-way, the model keeps what the kernel keeps: the target that
// MREMAP_FIXED unmapped, the split an unmap made before a seal refused it,
// the VMAs a multi-VMA move moved before it failed.

// ErrPlacement is Mremap's answer when the call would go on to a place
// the kernel chooses (get_unmapped_area) and the caller did not say where
// the host put it. Nothing is changed then.
var ErrPlacement = errors.New("mremap: new address chosen by the kernel")

// RemapStep is a change mremap made to the address space before it went
// on: what a host without the model's seals must be made to do when a
// seal ends the call after it.
type RemapStep struct {
	// Unmap: [Start, Start+Len) was unmapped (MREMAP_FIXED's target).
	// Otherwise [Start, Start+Len) moved to To with Flags (MREMAP_*).
	Unmap      bool
	Start, Len uint64
	To, Flags  uint64
}

// Mremap is mremap(addr, oldLen, newLen, flags, newAddr) on the model. For
// a move the kernel places (MREMAP_MAYMOVE without MREMAP_FIXED), placed is
// where the host put the range; 0 stops the call there with ErrPlacement.
// It returns the new address, the steps taken before a failure (or all of
// them), and the errno.
//
// Beyond the single-VMA cases of Remap: a move with MREMAP_FIXED and
// old_len == new_len may span several VMAs (Linux 6.17+), each moved to the
// same offset from newAddr, gaps kept; a gap at the start is EFAULT; a
// failure on a later VMA leaves the earlier ones moved. old_len 0 maps a
// second copy of a shared mapping (EINVAL for a private one).
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Mremap(addr, oldLen, newLen, flags, newAddr, placed uint64) (uint64, []RemapStep, error) {
	r := remapCall{as: as, flags: flags, placed: placed}
	ret, err := r.do(addr, oldLen, newLen, newAddr)
	return ret, r.steps, err
}

type remapCall struct {
	as     *AddressSpace
	flags  uint64
	placed uint64
	steps  []RemapStep
	// delta is vrm->delta: |new_len - old_len| of the call as made
	// (page-aligned), which a move charges even after a shrink made the
	// lengths equal.
	delta uint64
}

// charge is vrm_calc_charge: a move or an expansion of a VM_ACCOUNT VMA
// v is charged delta (the whole new length with MREMAP_DONTUNMAP, which
// keeps the old range), and fails with ENOMEM when the host's overcommit
// policy refuses it. A shrink then moved (MREMAP_FIXED with old_len >
// new_len) is charged what it shrank: 6.18 computes delta before the
// shrink, so a large enough old_len fails after the target and the tail
// were unmapped (found by the fuzzer, seed 1221).
func (r *remapCall) charge(v *VMA, newLen uint64) error {
	if v.Flags&VMAccount == 0 || r.as.EnoughMemory == nil {
		return nil
	}
	pages := r.delta >> PageShift
	if r.flags&unix.MREMAP_DONTUNMAP != 0 {
		pages = newLen >> PageShift
	}
	if !r.as.EnoughMemory(pages) {
		return unix.ENOMEM
	}
	return nil
}

func (r *remapCall) fixedish() bool { return r.flags&(unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0 }

func (r *remapCall) do(addr, oldLen, newLen, newAddr uint64) (uint64, error) {
	// check_mremap_params: nothing is looked up yet.
	if r.flags&^(unix.MREMAP_FIXED|unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP) != 0 || !pageAligned(addr) {
		return 0, unix.EINVAL
	}
	oldLen, newLen = PageAlign(oldLen), PageAlign(newLen)
	if newLen == 0 || newLen > UserPtrMax {
		return 0, unix.EINVAL
	}
	r.delta = max(oldLen, newLen) - min(oldLen, newLen)
	if r.fixedish() {
		switch {
		case newAddr > UserPtrMax-newLen, !pageAligned(newAddr),
			r.flags&unix.MREMAP_MAYMOVE == 0,
			r.flags&unix.MREMAP_DONTUNMAP != 0 && oldLen != newLen,
			addr+oldLen > newAddr && newAddr+newLen > addr:
			return 0, unix.EINVAL
		}
	}
	if r.flags&unix.MREMAP_FIXED != 0 && oldLen == newLen {
		return r.move(addr, oldLen, newAddr)
	}
	v := r.as.find(addr)
	if err := r.checkVMA(v, addr, oldLen, newLen); err != nil {
		return 0, err
	}
	if r.fixedish() {
		return r.to(addr, oldLen, newLen, newAddr)
	}
	return r.at(v, addr, oldLen, newLen)
}

// checkVMA is check_prep_vma for the VMA v found at addr.
func (r *remapCall) checkVMA(v *VMA, addr, oldLen, newLen uint64) error {
	if v == nil {
		return unix.EFAULT
	}
	if v.Flags&VMSealed != 0 {
		return unix.EPERM
	}
	if newLen <= oldLen && !r.fixedish() {
		return nil // a shrink (or nothing): no new range is mapped
	}
	if oldLen == 0 && v.Flags&(VMShared|VMMayShare) == 0 {
		return unix.EINVAL
	}
	if r.flags&unix.MREMAP_DONTUNMAP != 0 && v.Flags&(VMDontExpand|VMPFNMap) != 0 {
		return unix.EINVAL
	}
	// A shrink may unmap across VMA ends; what moves may not.
	if min(oldLen, newLen) > v.End-addr {
		return unix.EFAULT
	}
	if newLen > oldLen && v.Flags&(VMDontExpand|VMPFNMap) != 0 {
		return unix.EFAULT
	}
	return nil
}

// move is remap_move: MREMAP_FIXED with old_len == new_len, VMA by VMA.
func (r *remapCall) move(start, length, newAddr uint64) (uint64, error) {
	end := start + length
	target, lastEnd := newAddr, uint64(0)
	var ret uint64
	seen := false
	for cur := start; cur < end; {
		v := r.as.findNext(cur)
		if v == nil || v.Start >= end {
			break
		}
		if !seen && start < v.Start {
			return 0, unix.EFAULT // no gap at the start
		}
		addr, vEnd := max(v.Start, start), v.End
		l := min(end, vEnd) - addr
		to := target
		if seen {
			to += v.Start - lastEnd // the gap between the source VMAs
		}
		lastEnd = vEnd
		if !v.multiMoveAllowed() && (seen || vEnd < end) {
			return 0, unix.EFAULT
		}
		if err := r.checkVMA(v, addr, l, l); err != nil {
			return 0, err
		}
		if _, err := r.to(addr, l, l, to); err != nil {
			return 0, err
		}
		if !seen {
			ret = to
		}
		seen = true
		target = to + l
		cur = addr + l
	}
	if !seen {
		return 0, unix.EFAULT
	}
	return ret, nil
}

// multiMoveAllowed is vma_multi_allowed: whether v may move as one of
// several VMAs. A uffd-armed VMA may not (its notification drops
// mmap_lock), nor one whose file places its own mappings
// (f_op->get_unmapped_area, which MREMAP_FIXED might not obey) unless it
// is shmem, hugetlbfs or uses thp_get_unmapped_area (regular files):
// of the model's mappings, a private mapping of /dev/zero
// (get_unmapped_area_zero; a shared one is shmem). Found by the fuzzer
// (seed 1155): the model moved it, the host stopped with EFAULT.
func (v *VMA) multiMoveAllowed() bool {
	return !v.UffdArmed && !(v.Backing.Kind == BackingAnon && v.Backing.HasVMFile())
}

// to is mremap_to: the target is unmapped (MREMAP_FIXED), a shrink unmaps
// the tail, then the range moves.
func (r *remapCall) to(addr, oldLen, newLen, newAddr uint64) (uint64, error) {
	as := r.as
	if r.flags&unix.MREMAP_FIXED != 0 {
		if err := as.unmapRange(newAddr, newAddr+newLen); err != nil {
			return 0, err
		}
		r.steps = append(r.steps, RemapStep{Unmap: true, Start: newAddr, Len: newLen})
		if as.find(addr) == nil {
			return 0, unix.EFAULT
		}
	}
	if newLen < oldLen {
		if err := r.shrink(addr, oldLen, newLen); err != nil {
			return 0, err
		}
		oldLen = newLen
	}
	if r.flags&unix.MREMAP_FIXED == 0 {
		if r.placed == 0 {
			return 0, ErrPlacement
		}
		newAddr = r.placed
	}
	if err := r.moveVMA(addr, oldLen, newAddr, newLen); err != nil {
		return 0, err
	}
	return newAddr, nil
}

// shrink unmaps the tail [addr+newLen, addr+oldLen) as do_vmi_munmap
// does, with its argument check: old_len is the caller's, and a tail
// past the top of the address space (or wrapping) is EINVAL, after the
// MREMAP_FIXED target was unmapped.
func (r *remapCall) shrink(addr, oldLen, newLen uint64) error {
	start := addr + newLen
	if start > UserPtrMax || oldLen-newLen > UserPtrMax-start {
		return unix.EINVAL
	}
	return r.as.unmapRange(start, addr+oldLen)
}

// at is mremap_at: resize in place, or move where the kernel places it.
func (r *remapCall) at(v *VMA, addr, oldLen, newLen uint64) (uint64, error) {
	as := r.as
	switch {
	case newLen == oldLen:
		return addr, nil
	case newLen < oldLen:
		return addr, r.shrink(addr, oldLen, newLen)
	}
	if oldLen != 0 && v.End-addr == oldLen {
		if n := as.next(v); (n == nil || n.Start >= v.End+newLen-oldLen) && v.End+newLen-oldLen <= UserPtrMax {
			// expand_vma_in_place charges the growth first.
			if err := r.charge(v, newLen); err != nil {
				return 0, err
			}
			return addr, as.Remap(addr, oldLen, addr, newLen)
		}
	}
	if r.flags&unix.MREMAP_MAYMOVE == 0 {
		return 0, unix.ENOMEM
	}
	if r.placed == 0 {
		return 0, ErrPlacement
	}
	if err := r.moveVMA(addr, oldLen, r.placed, newLen); err != nil {
		return 0, err
	}
	return r.placed, nil
}

// moveVMA is move_vma: [addr, addr+oldLen) of one VMA (oldLen 0: none of
// it, a duplicate) becomes a VMA of newLen at newAddr, which is free.
func (r *remapCall) moveVMA(addr, oldLen, newAddr, newLen uint64) error {
	as := r.as
	if as.stats.MapCount >= as.MaxMapCount-3 {
		return unix.ENOMEM // prep_move_vma
	}
	v := as.find(addr)
	if v == nil {
		return unix.EFAULT
	}
	if err := r.charge(v, newLen); err != nil {
		return err
	}
	if v.Start != addr && !v.maySplitAt(addr) || v.End != addr+oldLen && !v.maySplitAt(addr+oldLen) {
		return unix.EINVAL
	}
	if r.flags&unix.MREMAP_DONTUNMAP != 0 {
		if err := as.RemapDontUnmap(addr, oldLen, newAddr); err != nil {
			return err
		}
	} else {
		nv := movedCopy(v, addr, oldLen, newAddr, newLen)
		as.insert(&nv)
		as.tryMerge(&nv)
		if oldLen > 0 {
			if err := as.unmapRange(addr, addr+oldLen); err != nil {
				return err
			}
		}
	}
	r.steps = append(r.steps, RemapStep{Start: addr, Len: oldLen, To: newAddr, Flags: r.flags})
	return nil
}
