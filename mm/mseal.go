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

// SealCheck decides, for hosts without mseal, what the seals in the model
// make of syscall nr with arguments a (a syscall number and raw registers,
// as syscalls.ModelUpdate takes them). mseal itself is Mseal. The seal
// checks come after the call's alignment and zero-length checks, so a
// range with an unaligned start, or one that is empty or wraps once
// rounded to pages, is left to the host's own EINVAL (SealNone).
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) SealCheck(nr uintptr, a [6]uint64) SealVerdict {
	refuse := SealVerdict{Action: SealRefuse}
	switch nr {
	case unix.SYS_MUNMAP:
		// munmap over a sealed VMA: EPERM before anything is unmapped
		// (mm/vma.c vms_gather_munmap_vmas, vma_is_sealed).
		if as.sealedIn(a[0], a[1]) {
			return refuse
		}
	case unix.SYS_MMAP:
		// MAP_FIXED unmaps what it replaces, as munmap (mmap_region ->
		// vms_gather_munmap_vmas); MAP_FIXED_NOREPLACE replaces nothing.
		if a[3]&unix.MAP_FIXED != 0 && a[3]&unix.MAP_FIXED_NOREPLACE == 0 && as.sealedIn(a[0], a[1]) {
			return refuse
		}
	case unix.SYS_MREMAP:
		// mremap may not move, grow or shrink a sealed VMA, nor unmap one
		// at MREMAP_FIXED's new range (mm/mremap.c, vma_is_sealed; the
		// new range's do_munmap). old_len 0 (duplicate a shared mapping)
		// still names the VMA at the old address.
		if as.sealedIn(a[0], max(a[1], 1)) || a[3]&unix.MREMAP_FIXED != 0 && as.sealedIn(a[4], a[2]) {
			return refuse
		}
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		// do_mprotect_pkey changes each VMA in turn; mprotect_fixup fails
		// with EPERM at the first sealed one (can_modify_vma), leaving the
		// VMAs before it changed.
		if start, end, ok := sealRange(a[0], a[1]); ok {
			if first, found := as.FirstSealed(start, end); found {
				return SealVerdict{Action: SealProtectBefore, First: first}
			}
		}
	case unix.SYS_BRK:
		// A shrinking brk unmaps [newbrk, brk); when that fails on a seal
		// brk restores the old break and returns it (mm/mmap.c brk,
		// do_vmi_align_munmap).
		_, brk := as.Brk()
		if a[0] < brk && as.sealedIn(PageAlign(a[0]), PageAlign(brk)-PageAlign(a[0])) {
			return SealVerdict{Action: SealBrkUnchanged, Brk: brk}
		}
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
