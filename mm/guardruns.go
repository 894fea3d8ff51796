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
