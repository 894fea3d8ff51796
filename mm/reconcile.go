package mm

// SplitApart records that the host keeps a VMA boundary at addr where the
// model merged: the kernel refused the merge for a reason the model cannot
// see (two anon_vmas attached by page faults, which the sentry never
// observes). The VMA containing addr is split there, and each side that
// had no anon_vma gets a distinct one, so that later merges follow the
// kernel's rule (is_mergeable_anon_vma) instead of re-merging them.
//
// It does nothing if addr is not strictly inside a VMA.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SplitApart(addr uint64) {
	v := as.find(addr)
	if v == nil || v.Start == addr || addr%PageSize != 0 {
		return
	}
	lo, hi := as.splitAt(v, addr)
	for _, side := range []*VMA{lo, hi} {
		if side.AnonVMA == 0 && side.IsAnonymous() {
			nv := *side
			nv.AnonVMA = as.newAnonVMA()
			as.replace(side, nv)
		}
	}
	as.unmergedOK[addr] = struct{}{}
}
