package sentry

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"

	"madvisor/syscalls"
)

// BuildFilter compiles the tracee's seccomp program from the syscall table:
// SECCOMP_RET_TRACE for the intercepted syscalls (and, for those with
// argument matches, only the matching calls), SECCOMP_RET_ALLOW for every
// other one. Calls of a foreign ABI (int 0x80 from a 64-bit process) are
// traced too, so the sentry sees them instead of the model silently
// diverging. procView adds the opens (syscalls.ProcViewIntercepted);
// traceAll (deterministic mode) traces every syscall: each is a scheduling
// point.
func BuildFilter(procView, traceAll bool) ([]bpf.Instruction, error) {
	rules := seccomp.NewSyscallRules()
	entries := syscalls.Intercepted()
	if procView {
		entries = append(entries, syscalls.ProcViewIntercepted()...)
	}
	for _, e := range entries {
		rules = rules.Add(e.Nr, ruleFor(e))
	}
	def := seccomp.Allow
	if traceAll {
		def = seccomp.Trace
	}
	prog := seccomp.Program{
		RuleSets: []seccomp.RuleSet{{Rules: rules, Action: seccomp.Trace}},
		Options: seccomp.ProgramOptions{
			DefaultAction: def,
			BadArchAction: seccomp.Trace,
		},
	}
	insns, _, err := prog.Build()
	if err != nil {
		return nil, fmt.Errorf("building the seccomp filter: %w", err)
	}
	return insns, nil
}

func ruleFor(e syscalls.Entry) seccomp.SyscallRule {
	if len(e.Match) == 0 {
		return seccomp.MatchAll{}
	}
	var or seccomp.Or
	for _, m := range e.Match {
		var pa seccomp.PerArg
		for i := range pa {
			pa[i] = seccomp.AnyValue{}
		}
		if m.Low32 {
			pa[m.Index] = seccomp.MaskedEqual(0xffffffff, uintptr(uint32(m.Value)))
		} else {
			pa[m.Index] = seccomp.EqualTo(m.Value)
		}
		or = append(or, pa)
	}
	return or
}
