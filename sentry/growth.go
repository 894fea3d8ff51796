package sentry

import (
	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// learnGrowth brings into the model the host's growth (by page faults,
// which the sentry does not see) of the grows-down VMAs that the call nr
// with r could see: one PROCMAP_QUERY per candidate, none for most calls
// (syscalls.GrowthCandidates). If another task holds the address space,
// the call waits for it and is dispatched again, and learns then.
// Engine thread only.
func (t *Task) learnGrowth(as *AddressSpace, nr uintptr, r syscalls.Regs) {
	if !as.m.Lock.TryWrite(t.holder) {
		return
	}
	defer as.m.Lock.Unlock(t.holder)
	for _, start := range syscalls.GrowthCandidates(as.m.AS, nr, r) {
		if l, ok := hostmm.MapsLineAt(t.tg.pid, start); ok {
			as.m.AS.GrowDownTo(start, l)
		}
	}
}

// Personality implements syscalls.Persona.
func (h hostView) Personality() uint32 { return h.t.persona }

// SetPersonality implements syscalls.Persona.
func (h hostView) SetPersonality(p uint32) { h.t.persona = p }

// Maps implements syscalls.HostMaps.
func (h hostView) Maps() ([]mm.MapsLine, bool) {
	lines, err := hostmm.ReadMaps(h.t.tg.pid)
	return lines, err == nil
}

var (
	_ syscalls.Persona  = hostView{}
	_ syscalls.HostMaps = hostView{}
)
