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
