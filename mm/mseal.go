package mm

import "golang.org/x/sys/unix"

// Mseal is mseal(2) on the model (mm/mseal.c do_mseal), for hosts that
// lack it: flags must be 0 and start page aligned (EINVAL); len is rounded
// up to pages, and a length that rounds to 0 from a huge value, or a range
// that wraps, is EINVAL; len 0 is 0; a range with any unmapped page is
// ENOMEM, with nothing sealed; then every VMA in the range gets VM_SEALED,
// split at the range edges (ENOMEM once vm.max_map_count is reached).
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Mseal(start, lenIn, flags uint64) error {
	if flags != 0 || !pageAligned(start) {
		return unix.EINVAL
	}
	length := PageAlign(lenIn)
	if lenIn != 0 && length == 0 {
		return unix.EINVAL
	}
	end := start + length
	if end < start {
		return unix.EINVAL
	}
	if end == start {
		return nil
	}
	for addr := start; addr < end; {
		v := as.find(addr)
		if v == nil {
			return unix.ENOMEM
		}
		addr = v.End
	}
	return as.setFlags(start, end, VMSealed, 0, unix.ENOMEM)
}

// FirstSealed returns the start of the first sealed VMA overlapping
// [start, end), clipped to start.
func (as *AddressSpace) FirstSealed(start, end uint64) (uint64, bool) {
	for _, v := range as.overlapping(start, end) {
		if v.Flags&VMSealed != 0 {
			return max(v.Start, start), true
		}
	}
	return 0, false
}

// SealAction is what a seal makes of a memory syscall (SealCheck).
type SealAction int

const (
	// SealNone: no seal in the way; the host's call runs, with its own
	// errors for bad arguments.
	SealNone SealAction = iota
	// SealRefuse: the call fails with EPERM and changes nothing.
	SealRefuse
	// SealProtectBefore: mprotect/pkey_mprotect change [start, First)
	// (nothing when First is start), then fail with EPERM.
	SealProtectBefore
	// SealBrkUnchanged: brk does not move and returns Brk, the current
	// break.
	SealBrkUnchanged
)

// SealVerdict is SealCheck's answer.
type SealVerdict struct {
	Action SealAction
	// First is the first sealed address in an mprotect's range
	// (SealProtectBefore).
	First uint64
	// Brk is the break brk returns (SealBrkUnchanged).
	Brk uint64
}

// The seal checks, for hosts without mseal: what the seals in the model
// make of a memory syscall (mseal itself is Mseal). They come after the
// call's alignment and zero-length checks, so a range with an unaligned
// start, or one that is empty or wraps once rounded to pages, is left to
// the host's own EINVAL (SealNone).
//
// Preconditions (each): the caller holds mmap_lock for reading.

// SealCheckMunmap: munmap over a sealed VMA fails with EPERM before
// anything is unmapped (mm/vma.c vms_gather_munmap_vmas,
// vma_is_sealed).
func (as *AddressSpace) SealCheckMunmap(start, length uint64) SealVerdict {
	return as.refuseIfSealed(start, length)
}

// SealCheckMmap: MAP_FIXED unmaps what it replaces, as munmap
// (mmap_region -> vms_gather_munmap_vmas); MAP_FIXED_NOREPLACE replaces
// nothing.
func (as *AddressSpace) SealCheckMmap(addr, length, flags uint64) SealVerdict {
	if flags&unix.MAP_FIXED == 0 || flags&unix.MAP_FIXED_NOREPLACE != 0 {
		return SealVerdict{}
	}
	return as.refuseIfSealed(addr, length)
}

// SealCheckMremap: mremap may not move, grow or shrink a sealed VMA, nor
// unmap one at MREMAP_FIXED's new range (mm/mremap.c, vma_is_sealed; the
// new range's do_munmap). old_len 0 (duplicate a shared mapping) still
// names the VMA at the old address.
func (as *AddressSpace) SealCheckMremap(oldAddr, oldLen, newLen, flags, newAddr uint64) SealVerdict {
	if as.sealedIn(oldAddr, max(oldLen, 1)) || flags&unix.MREMAP_FIXED != 0 && as.sealedIn(newAddr, newLen) {
		return SealVerdict{Action: SealRefuse}
	}
	return SealVerdict{}
}

// SealCheckMprotect: do_mprotect_pkey changes each VMA in turn;
// mprotect_fixup fails with EPERM at the first sealed one
// (can_modify_vma), leaving the VMAs before it changed.
func (as *AddressSpace) SealCheckMprotect(start, length uint64) SealVerdict {
	if start, end, ok := sealRange(start, length); ok {
		if first, found := as.FirstSealed(start, end); found {
			return SealVerdict{Action: SealProtectBefore, First: first}
		}
	}
	return SealVerdict{}
}

// SealCheckBrk: a shrinking brk unmaps [newbrk, brk); when that fails on a
// seal brk restores the old break and returns it (mm/mmap.c brk,
// do_vmi_align_munmap).
func (as *AddressSpace) SealCheckBrk(newBrk uint64) SealVerdict {
	_, brk := as.Brk()
	if newBrk < brk && as.sealedIn(PageAlign(newBrk), PageAlign(brk)-PageAlign(newBrk)) {
		return SealVerdict{Action: SealBrkUnchanged, Brk: brk}
	}
	return SealVerdict{}
}

func (as *AddressSpace) refuseIfSealed(start, length uint64) SealVerdict {
	if as.sealedIn(start, length) {
		return SealVerdict{Action: SealRefuse}
	}
	return SealVerdict{}
}

// sealRange is [start, start+PageAlign(length)) when that is a range the
// call's own checks accept: start page aligned, not empty, not wrapping.
func sealRange(start, length uint64) (uint64, uint64, bool) {
	end := start + PageAlign(length)
	return start, end, pageAligned(start) && end > start
}

// sealedIn reports whether a sealed VMA overlaps the range sealRange
// accepts for start and length.
func (as *AddressSpace) sealedIn(start, length uint64) bool {
	start, end, ok := sealRange(start, length)
	if !ok {
		return false
	}
	_, found := as.FirstSealed(start, end)
	return found
}
