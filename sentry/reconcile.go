package sentry

import (
	"slices"

	"madvisor/hostmm"
)

// reconcileEdges checks the edges of a range the model just changed against
// the host. Whether the kernel merges two VMAs depends on their anon_vmas,
// which page faults attach and the sentry never sees; so where the model
// and the host disagree at an edge, the model follows the host.
//
// Preconditions: as is write-locked by t.
func (t *Task) reconcileEdges(as *AddressSpace, start, end uint64) {
	// Only edges with VMAs on both sides can differ: split where the model
	// merged, or merged where the model split.
	var spans, splits []uint64
	for _, e := range [2]uint64{start, end} {
		v, ok := as.m.AS.Find(e)
		if !ok {
			continue
		}
		if v.Start < e {
			spans = append(spans, e)
		} else if p, ok := as.m.AS.Find(e - 1); ok && p.End == e {
			splits = append(splits, e)
		}
	}
	if len(spans)+len(splits) == 0 {
		return
	}
	host := hostmm.HostBoundaries(t.tg.pid, append(spans, splits...))
	for _, e := range spans {
		if slices.Contains(host, e) {
			as.m.AS.SplitApart(e)
		}
	}
	for _, e := range splits {
		if !slices.Contains(host, e) {
			as.m.AS.MergeAcross(e, t.s.emulatedFlags())
		}
	}
}
