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
	// SealRefuse: the call fails with EPERM; with Replay set, after it
	// changed the model (see Replay).
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
	// First is the first sealed address in an mprotect's range, From
	// where its walk starts (SealProtectBefore; From is below the range's
	// start for PROT_GROWSDOWN).
	First, From uint64
	// Brk is the break brk returns (SealBrkUnchanged).
	Brk uint64
	// Replay (SealRefuse): the call changed the address space before the
	// seal refused it, so the caller runs it on the model (Unmap for
	// munmap and mmap MAP_FIXED, Mremap) and carries out the RemapSteps
	// Mremap returns on the host. Only the model sees a split: the host
	// never refused.
	Replay bool
}

// The seal checks, for hosts without mseal: what the seals in the model
// make of a memory syscall (mseal itself is Mseal). They come after the
// call's alignment and zero-length checks, so a range with an unaligned
// start, or one that is empty or wraps once rounded to pages, is left to
// the host's own EINVAL (SealNone).
//
// Preconditions (each): the caller holds mmap_lock for reading.

// SealCheckMunmap: munmap over a sealed VMA fails with EPERM before
// anything is unmapped, but after the VMA the range starts inside, if not
// sealed itself, was split there (mm/vma.c vms_gather_munmap_vmas,
// vma_is_sealed; see Unmap).
func (as *AddressSpace) SealCheckMunmap(start, length uint64) SealVerdict {
	return as.refuseUnmap(start, length)
}

// SealCheckMmap: MAP_FIXED unmaps what it replaces, as munmap
// (mmap_region -> vms_gather_munmap_vmas); MAP_FIXED_NOREPLACE replaces
// nothing.
func (as *AddressSpace) SealCheckMmap(addr, length, flags uint64) SealVerdict {
	if flags&unix.MAP_FIXED == 0 || flags&unix.MAP_FIXED_NOREPLACE != 0 {
		return SealVerdict{}
	}
	return as.refuseUnmap(addr, length)
}

// SealCheckMremap: mremap fails with EPERM when, in the kernel's order
// of checks (Mremap), it meets a sealed VMA: the VMA at the old address,
// a seal in MREMAP_FIXED's target or in a shrink's tail (after the split
// at its start), a later VMA of a multi-VMA move (after the earlier ones
// moved). Its own EINVAL and EFAULT come first.
func (as *AddressSpace) SealCheckMremap(oldAddr, oldLen, newLen, flags, newAddr uint64) SealVerdict {
	if _, found := as.FirstSealed(0, ^uint64(0)); !found {
		return SealVerdict{}
	}
	c := as.Clone()
	_, steps, err := c.Mremap(oldAddr, oldLen, newLen, flags, newAddr, 0)
	if err != unix.EPERM {
		return SealVerdict{}
	}
	return SealVerdict{Action: SealRefuse, Replay: len(steps) > 0 || c.Len() != as.Len()}
}

// SealCheckMprotect: do_mprotect_pkey checks its arguments and the first
// VMA, then changes each VMA in turn: a hole ends the walk with ENOMEM, a
// prot beyond the VMA's VM_MAY* bits with EACCES, and a sealed VMA
// (can_modify_vma, checked after EACCES) with EPERM, the VMAs before it
// changed. Only a walk that reaches a sealed VMA is the seal's to decide.
func (as *AddressSpace) SealCheckMprotect(start, length, prot uint64) SealVerdict {
	const grows = unix.PROT_GROWSDOWN | unix.PROT_GROWSUP
	const protSem = 0x8 // PROT_SEM, which x86's arch_validate_prot accepts
	if !pageAligned(start) || length == 0 {
		return SealVerdict{}
	}
	end := start + PageAlign(length)
	if end <= start || prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|protSem|grows) != 0 ||
		prot&grows == grows || prot&unix.PROT_GROWSUP != 0 {
		return SealVerdict{} // EINVAL or ENOMEM (x86 has no VM_GROWSUP)
	}
	v := as.findNext(start)
	if v == nil || v.Start >= end {
		return SealVerdict{}
	}
	if prot&unix.PROT_GROWSDOWN != 0 {
		if v.Flags&VMGrowsDown == 0 {
			return SealVerdict{}
		}
		start = v.Start
	} else if v.Start > start {
		return SealVerdict{}
	}
	access := ProtToVM(Prot(prot) & (ProtRead | ProtWrite | ProtExec))
	for addr := start; v != nil && addr < end; v = as.next(v) {
		if v.Start > addr || access&^(v.Flags>>4)&VMAccessFlags != 0 {
			return SealVerdict{} // a hole or EACCES: the host stops there too
		}
		if v.Flags&VMSealed != 0 {
			return SealVerdict{Action: SealProtectBefore, First: addr, From: start}
		}
		addr = v.End
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

// refuseUnmap is the verdict on unmapping [start, start+PAGE_ALIGN(length))
// (Unmap on a copy): EPERM from a seal, with Replay if it split first.
func (as *AddressSpace) refuseUnmap(start, length uint64) SealVerdict {
	if !as.sealedIn(start, length) {
		return SealVerdict{}
	}
	c := as.Clone()
	if c.Unmap(start, start+PageAlign(length)) != unix.EPERM {
		return SealVerdict{}
	}
	return SealVerdict{Action: SealRefuse, Replay: c.Len() != as.Len()}
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
