package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// Emulation of the advice that hosts before 6.1 lack (hostmm.EmulatePopulate,
// EmulateColdPageout, EmulateDontneedLocked, EmulateWipeOnFork,
// EmulateFree). The model decides every result, as for any advice; the
// host's side is hostmm.Backend.EmulateAdvice. Here are the actions that
// run it under mmap_lock.

// backend returns the host side of t's model decisions: calls injected in
// t, with the run's emulations.
func (t *Task) backend() *hostmm.Backend { return hostmm.NewBackend(t, t.s.cfg.Emulations) }

// adviceEmulated reports whether the run emulates advice.
func (s *Sandbox) adviceEmulated(advice int) bool {
	e, ok := hostmm.EmulatedAdvice[advice]
	return ok && s.emulating(e)
}

// emulateAdviceCall answers an emulated advice whose result the model
// decided (ret): the host gets emulateAdvice on the applied pieces, under
// mmap_lock (DONTNEED_LOCKED changes the host's VMAs for a moment).
// POPULATE's failure on the host (SIGBUS beyond the end of a file...)
// comes before the model's own error, as in madvise_populate.
func (t *Task) emulateAdviceCall(act *action, as *AddressSpace, advice int, applied []mm.MadviseRange, ret int64) {
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
		if e := t.emulateAdvice(tr, advice, applied); e != 0 {
			return -int64(e)
		}
		return ret
	}
}

// emulateAdvice is hostmm.Backend.EmulateAdvice in tr (t, in an
// injection). Engine thread only.
func (t *Task) emulateAdvice(tr hostmm.Tracee, advice int, pieces []mm.MadviseRange) unix.Errno {
	return hostmm.NewBackend(tr, t.s.cfg.Emulations).EmulateAdvice(advice, pieces)
}
