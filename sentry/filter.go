package sentry

import (
	"fmt"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// BuildFilter compiles the tracee's seccomp program from the syscall table:
// SECCOMP_RET_TRACE for the intercepted syscalls (and, for those with
// argument matches, only the matching calls), SECCOMP_RET_ALLOW for every
// other one. Calls of a foreign ABI (int 0x80 from a 64-bit process) are
// traced too, so that the sentry refuses them instead of the model
// silently diverging. procView adds the opens (syscalls.ProcViewIntercepted);
// traceAll (deterministic mode) traces every syscall: each is a scheduling
// point.
//
// hostAdvice lets madvise run untraced with an advice the host answers
// alone (syscalls.HostAnsweredAdvice): the sentry turns it on only when
// nothing needs to see those calls (see Sandbox.hostAdvice).
func BuildFilter(procView, traceAll, hostAdvice bool) ([]bpf.Instruction, error) {
	rules := seccomp.NewSyscallRules()
	entries := syscalls.Intercepted()
	if procView {
		entries = append(entries, syscalls.ProcViewIntercepted()...)
	}
	for _, e := range entries {
		rule := ruleFor(e)
		if hostAdvice && e.Nr == unix.SYS_MADVISE {
			rule = madviseRule()
		}
		rules = rules.Add(e.Nr, rule)
	}
	// The sentry's stops carry hostmm.TraceData: a program's own filter
	// may return SECCOMP_RET_TRACE too (bypass.go).
	trace := seccomp.Trace.Code(hostmm.TraceData)
	def := seccomp.Allow
	if traceAll {
		def = trace
	}
	prog := seccomp.Program{
		RuleSets: []seccomp.RuleSet{{Rules: rules, Action: trace}},
		Options: seccomp.ProgramOptions{
			DefaultAction: def,
			BadArchAction: trace,
		},
	}
	insns, _, err := prog.Build()
	if err != nil {
		return nil, fmt.Errorf("building the seccomp filter: %w", err)
	}
	// x32 calls (the number with __X32_SYSCALL_BIT, x86-64's arch) match
	// none of the table's numbers: traced first, so that the sentry
	// refuses them instead of a host with the x32 ABI running them.
	// BPF jumps are relative: the rest is unchanged behind these.
	x32 := []bpf.Instruction{
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, 0), // seccomp_data.nr
		bpf.Jump(bpf.Jmp|bpf.Jset|bpf.K, x32SyscallBit, 0, 1),
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_TRACE)|hostmm.TraceData),
	}
	return append(x32, insns...), nil
}

// madviseRule traces madvise unless its advice, as the whole 64-bit
// register, is one the host answers alone: an advice with garbage in the
// upper half (which the kernel ignores) is traced, as is every other.
func madviseRule() seccomp.SyscallRule {
	var and seccomp.And
	for _, a := range syscalls.HostAnsweredAdvice {
		var pa seccomp.PerArg
		for i := range pa {
			pa[i] = seccomp.AnyValue{}
		}
		pa[2] = seccomp.NotEqual(uintptr(a))
		and = append(and, pa)
	}
	return and
}

// x32SyscallBit is __X32_SYSCALL_BIT: an x32 call's number has it.
const x32SyscallBit = 0x40000000

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
