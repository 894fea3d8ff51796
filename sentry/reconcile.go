package sentry

import (
	"madvisor/hostmm"
	"madvisor/mm"
)

// reconcileEdges checks the VMA boundaries of a range the model just
// changed, its edges and every boundary inside it, against the host.
// Whether the kernel merges two VMAs depends on their anon_vmas (and
// pgoffs), which page faults attach and the sentry never sees; so where the
// model and the host disagree, the model follows the host. Inside the
// range too: an mprotect over [A][B] that makes them alike merges them in
// the model, while the kernel keeps them apart if their anon_vmas differ.
//
// Preconditions: as is write-locked by t.
func (t *Task) reconcileEdges(as *AddressSpace, start, end uint64) {
	model := as.m.AS
	// The model's boundaries with VMAs on both sides, and whether any VMA
	// spans a point of the range: only then can the two differ.
	var bounds []uint64
	spans := false
	model.Walk(max(start, 1)-1, end+1, func(v mm.VMA) bool {
		if v.Start >= start && v.Start <= end {
			if p, ok := model.Find(v.Start - 1); ok && p.End == v.Start {
				bounds = append(bounds, v.Start)
			}
		}
		if v.Start < end && v.End > start {
			spans = true
		}
		return true
	})
	if len(bounds) == 0 && !spans {
		return
	}
	var host [][2]uint64
	if f, err := t.tg.mapsFile(t.tid); err == nil {
		host = hostmm.HostVMAsInFile(f, t.tg.pid, start, end)
	} else {
		host = hostmm.HostVMAsIn(t.tg.pid, start, end)
	}
	hostSpans := func(a uint64) bool {
		for _, r := range host {
			if r[0] < a && a < r[1] {
				return true
			}
		}
		return false
	}
	guards := t.s.emulating(hostmm.EmulateGuard)
	for _, r := range host {
		for _, h := range r {
			if h < start || h > end || hostSpans(h) {
				continue
			}
			v, ok := model.Find(h)
			if !ok || v.Start == h || guards && v.IsGuard(h) != v.IsGuard(h-mm.PageSize) {
				// Not inside a model VMA, or the edge of an emulated
				// guard run (PROT_NONE on the host).
				continue
			}
			model.SplitApart(h)
		}
	}
	for _, b := range bounds {
		if hostSpans(b) {
			model.MergeAcross(b, t.s.emulatedFlags())
		}
	}
}
