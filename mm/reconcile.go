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
	as.unmergedOK[addr] = apartKernel
}

// MergeAcross records that the host merged the two VMAs that meet at addr
// where the model kept them apart, for a reason the model cannot see: the
// anon_vma identity that page faults decide, or hidden VM_* state (such as
// VM_ACCOUNT or VM_NOHUGEPAGE) that the model tracked differently from the
// kernel. The host is right about what it merged: if the two agree in
// everything /proc/PID/maps shows (access bits, sharing, backing, name) and
// in uffd arming, they become one VMA with the lower one's flags, pgoff and
// anon_vma; otherwise nothing changes and false is returned. The flags in
// modelOnly (those of emulated features, which the host does not have)
// must agree too: there the model is the truth.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) MergeAcross(addr uint64, modelOnly VMFlags) bool {
	b := as.find(addr)
	if b == nil || b.Start != addr {
		return false
	}
	if as.unmergedOK[addr] == apartSealSplit && modelOnly&VMSealed != 0 {
		// A seal refusal's split, which a host without mseal never made.
		return false
	}
	a := as.prev(b)
	// VM_SEALED counts always: the host merges two VMAs that differ in it
	// only when mseal is emulated.
	visible := VMAccessFlags | VMShared | VMSealed | modelOnly
	if a == nil || a.End != addr || a.unmergeable() || b.unmergeable() ||
		(a.Flags^b.Flags)&visible != 0 || a.Backing != b.Backing ||
		a.UffdArmed != b.UffdArmed || a.Name != b.Name {
		return false
	}
	delete(as.unmergedOK, addr)
	nb := *b
	nb.Flags = a.Flags | b.Flags&VMSticky
	nb.PgOff = a.PgOff + a.Pages()
	nb.AnonVMA, nb.AnonChained = a.AnonVMA, a.AnonChained
	if nb.AnonVMA == 0 {
		nb.AnonVMA, nb.AnonChained = b.AnonVMA, b.AnonChained
	}
	as.remove(b)
	as.insert(&nb)
	if a.AnonVMA == 0 && nb.AnonVMA != 0 {
		na := *a
		na.AnonVMA, na.AnonChained = nb.AnonVMA, nb.AnonChained
		as.replace(a, na)
		a = as.find(na.Start)
	}
	as.mergePair(a, &nb)
	return true
}
