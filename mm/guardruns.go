package mm

// GuardRun is a run of consecutive guard pages within one VMA, in
// absolute addresses, with the protection of its VMA (what the pages have
// once the markers are gone).
type GuardRun struct {
	Start, End uint64
	Prot       Prot
}

// GuardRuns returns the guard runs that overlap [start, end), clipped to
// it, in address order.
//
// Preconditions: the caller holds mmap_lock.
func (as *AddressSpace) GuardRuns(start, end uint64) []GuardRun {
	var out []GuardRun
	for _, v := range as.overlapping(start, end) {
		for _, r := range v.Guards.Ranges() {
			s, e := max(v.Start+r[0]<<PageShift, start), min(v.Start+r[1]<<PageShift, end)
			if s < e {
				out = append(out, GuardRun{Start: s, End: e, Prot: v.Prot()})
			}
		}
	}
	return out
}

// IsGuard reports whether the page holding addr is a guard page.
func (as *AddressSpace) IsGuard(addr uint64) bool {
	v := as.find(addr)
	return v != nil && v.Guards.Contains((addr-v.Start)>>PageShift)
}

// GuardedStackAbove returns the VM_GROWSDOWN VMA that the unmapped addr
// lies below (the first VMA above it), if that VMA's lowest page is a
// guard page. Under guard emulation that page is a PROT_NONE piece on the
// host, and a fault below it grows the piece, not the VMA: the sentry
// makes the growth the kernel's (GrowDown, then the VMA's protection on
// the grown part).
//
// Preconditions: the caller holds mmap_lock.
func (as *AddressSpace) GuardedStackAbove(addr uint64) (VMA, bool) {
	if as.find(addr) != nil {
		return VMA{}, false
	}
	v := as.findNext(addr)
	if v == nil || v.Flags&VMGrowsDown == 0 || !v.Guards.Contains(0) {
		return VMA{}, false
	}
	return *v, true
}
