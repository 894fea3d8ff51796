package sentry

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/kapi/verify"
	"madvisor/lockdep"
	"madvisor/mm"
	"madvisor/syscalls"
)

// KAPIConfig is --kapi-verify's configuration.
type KAPIConfig struct {
	// Verifier holds the spec the calls are checked against.
	Verifier *verify.Verifier
	// Panic stops the program and madvisor at the first violation;
	// otherwise each is reported and the run goes on.
	Panic bool
	// SpecName names the spec in messages (a file, or "built-in").
	SpecName string
}

// kapiSampleEvery: a discard whose exit stop is not watched anyway gets
// it watched once in this many calls, to check the pages read zero (an
// exit stop on every discard would cost more than the verifier's budget).
const kapiSampleEvery = 128

// kapiCall is one madvise (or process_madvise) being verified.
type kapiCall struct {
	calls []verify.Call
}

// kapiBegin snapshots, for --kapi-verify, the model's VMAs of each range
// before the model's step, or returns nil when verification is off.
// Engine thread only; the address space's mmap_lock is free.
func (t *Task) kapiBegin(as *AddressSpace, ranges []mm.Iovec, advice int, env mm.MadviseEnv) *kapiCall {
	if t.s.cfg.KAPI == nil {
		return nil
	}
	// t's record of its previous call is reused, its slices too.
	kc := &t.kapi
	kc.calls = slices.Grow(kc.calls[:0], len(ranges))[:len(ranges)]
	for i, r := range ranges {
		c := &kc.calls[i]
		*c = verify.Call{
			Start: r.Base, Len: r.Len, Advice: advice,
			Before:   vmasIn(c.Before[:0], as, r.Base, r.Len),
			After:    c.After[:0],
			Kconfig:  env.Kconfig,
			SysAdmin: env.Caps.SysAdmin,
			Remote:   !env.OwnMM,
		}
	}
	return kc
}

// vmasIn appends to out the model's VMAs overlapping [start,
// start+PAGE_ALIGN(n)).
func vmasIn(out []mm.VMA, as *AddressSpace, start, n uint64) []mm.VMA {
	end := start + mm.PageAlign(n)
	if n == 0 || end <= start {
		return out
	}
	// FindNext rather than Walk: Walk's closure would escape, with out.
	for addr := start; addr < end; {
		v, ok := as.m.AS.FindNext(addr)
		if !ok || v.Start >= end {
			break
		}
		out = append(out, v)
		addr = v.End
	}
	return out
}

// kapiEnd checks the first n calls of kc, the i-th ending with errs[i],
// and reports their violations; events are the model step's lock
// operations (nil when not recorded), checked with the last call. It
// returns the verdict for strace. Engine thread only.
func (t *Task) kapiEnd(kc *kapiCall, as *AddressSpace, errs []unix.Errno, events []lockdep.Event) string {
	if kc == nil {
		return ""
	}
	cfg := t.s.cfg.KAPI
	var verdicts []string
	for i := range errs {
		c := &kc.calls[i]
		c.Errno = errs[i]
		if c.Errno == 0 && cfg.Verifier.ChecksAfter(c.Advice) {
			c.After = vmasIn(c.After, as, c.Start, c.Len)
		}
		c.FatalSignal = t.holder.FatalSignalPending()
		if i == len(errs)-1 {
			c.Locks = events
		}
		verdicts = append(verdicts, t.kapiReport(cfg, c, cfg.Verifier.Check(c))...)
	}
	t.s.kapiCalls.Add(int64(len(errs)))
	if len(verdicts) == 0 {
		return "ok"
	}
	return strings.Join(verdicts, "; ")
}

// kapiReport prints vs like a kernel warning, counts them, and stops the
// run at the first one under --kapi-verify=panic. It returns the strace
// form of each.
func (t *Task) kapiReport(cfg *KAPIConfig, c *verify.Call, vs []verify.Violation) []string {
	var out []string
	for _, v := range vs {
		t.s.kapiViolations.Add(1)
		t.s.logf("kapi: WARNING: %s violates %s (%s)\n"+
			"madvisor: kapi:   expected: %s\n"+
			"madvisor: kapi:   got:      %s\n"+
			"madvisor: kapi:   call:     [pid %d] %s\n"+
			"madvisor: kapi:   spec:     %s",
			cfg.Verifier.Spec().Name, v.Section, v.Field, v.Expected, v.Got, t.tid, verify.FormatCall(c), specLine(cfg, v.Line))
		out = append(out, "VIOLATION "+v.Section+" ("+v.Field+")")
	}
	if len(vs) > 0 && cfg.Panic && t.s.kapiStopped.CompareAndSwap(false, true) {
		t.s.logf("kapi: --kapi-verify=panic: stopping the program at the first violation")
		t.s.mu.Lock()
		for task := range t.s.tasks {
			unix.Kill(task.tg.pid, unix.SIGKILL)
		}
		t.s.mu.Unlock()
	}
	return out
}

// kapiSampleExit reports whether this discard's exit stop should be
// watched to check its side effect (one in kapiSampleEvery).
func (s *Sandbox) kapiSampleExit() bool {
	s.kapiDiscards++
	return s.kapiDiscards%kapiSampleEvery == 1
}

// kapiReadWord returns the verifier's reader of t's memory, when no other
// thread can write it meanwhile (one thread in the address space, or
// deterministic mode, where one thread runs at a time).
func (t *Task) kapiReadWord(as *AddressSpace) func(addr uint64) (uint64, error) {
	if t.s.det == nil && t.s.mmUsers(as) > 1 {
		return nil
	}
	return func(addr uint64) (uint64, error) {
		// A page neither present nor swapped reads zero; reading it
		// would map the zero page, which the program could see in its
		// pagemap: only a present page is read.
		present := hostmm.PagemapRuns(t.tg.pid, addr, addr+mm.PageSize, func(_, e uint64) bool { return e&(3<<62) != 0 })
		if len(present) == 0 {
			return 0, nil
		}
		var b [8]byte
		if err := t.readMem(addr, b[:]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
}

// kapiSummary is the line printed at exit: calls checked, violations.
func (s *Sandbox) kapiSummary() string {
	cfg := s.cfg.KAPI
	n, v := s.kapiCalls.Load(), s.kapiViolations.Load()
	locks := ""
	if !lockdep.Enabled() {
		locks = " (locks not checked: --lockdep=off)"
	}
	return fmt.Sprintf("kapi: %d call(s) checked against %s (%s), %d violation(s)%s",
		n, cfg.Verifier.Spec().Name, cfg.SpecName, v, locks)
}

// mmUsers counts the live tasks that use as.
func (s *Sandbox) mmUsers(as *AddressSpace) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for t := range s.tasks {
		if t.tg.mm == as && !t.dead {
			n++
		}
	}
	return n
}

// kapiMadvise verifies a madvise whose model step gave errno: now, or,
// for a discard whose pages must read zero afterwards, at its exit stop
// (when that stop is watched anyway, and one in kapiSampleEvery times
// otherwise). Engine thread only.
func (t *Task) kapiMadvise(plan *syscalls.Plan, kc *kapiCall, as *AddressSpace, errno unix.Errno, events []lockdep.Event) {
	s := t.s
	memory := errno == 0 && s.cfg.KAPI.Verifier.ChecksMemory(kc.calls[0].Advice)
	watched := plan.Exit != nil || plan.Emulate != nil || s.cfg.Strace != nil || s.cfg.CheckMaps || s.det != nil
	if !memory || !watched && !s.kapiSampleExit() {
		verdict := t.kapiEnd(kc, as, []unix.Errno{errno}, events)
		if s.cfg.Strace != nil {
			plan.KAPI = func() string { return verdict }
		}
		return
	}
	var verdict string
	prev := plan.Exit
	plan.Exit = func(ret int64) int64 {
		if prev != nil {
			ret = prev(ret)
		}
		kc.calls[0].ReadWord = t.kapiReadWord(as)
		verdict = t.kapiEnd(kc, as, []unix.Errno{errno}, events)
		return ret
	}
	plan.KAPI = func() string { return verdict }
}

// vectorErrnos are the results of process_madvise's iovecs as madvise
// calls: 0 for each one done, then the errno that ended the vector. A
// vector refused before its first iovec (a remote advice outside the
// remote subset, no CAP_SYS_NICE) is process_madvise's own check, not
// madvise's: nothing is verified.
func vectorErrnos(iovs []mm.Iovec, res mm.ProcessMadviseResult, own bool) []unix.Errno {
	errs := make([]unix.Errno, res.Done, len(iovs))
	if res.Err != 0 && res.Done < len(iovs) {
		if !own && res.Done == 0 && len(res.Applied) == 0 {
			return nil
		}
		errs = append(errs, res.Err)
	}
	return errs
}

// specLine names the spec's source line of a section.
func specLine(cfg *KAPIConfig, line int) string {
	if line == 0 {
		return cfg.SpecName
	}
	return fmt.Sprintf("%s, line %d", cfg.SpecName, line)
}
