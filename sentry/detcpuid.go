package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// CPUID in deterministic mode: RDRAND and RDSEED would give the program
// randomness the seed does not draw, so the CPU's CPUID faulting hides
// them (arch_prctl(ARCH_SET_CPUID, 0), injected at the program's first
// syscall after its exec: the kernel resets it at exec, and threads and
// children inherit it). Each CPUID then faults, and the sentry answers it
// with the host's values minus those two bits. A host without CPUID
// faulting (cpuid_fault in /proc/cpuinfo) keeps them: the run says so
// once.

// hostCPUID runs CPUID in madvisor (cpuid_amd64.s).
func hostCPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// CPUID feature bits the program must not see.
const (
	cpuidLeaf1RDRAND = 1 << 30 // leaf 1, ecx
	cpuidLeaf7RDSEED = 1 << 18 // leaf 7 subleaf 0, ebx
	archSetCPUID     = 0x1012  // ARCH_SET_CPUID
)

// hideRandomInstructions turns CPUID faulting on for t, at the seccomp
// stop of its program's first syscall; the syscall is then run again
// (restarted), and its stop comes back. It reports whether it resumed t.
func (d *detRun) hideRandomInstructions(t *Task) bool {
	if t.beginInjection() != nil {
		return false
	}
	ret, err := t.Inject(unix.SYS_ARCH_PRCTL, archSetCPUID, 0)
	if err != nil {
		return true // gone
	}
	if ret != 0 {
		d.s.warnOnce("cpuid-fault", "deterministic mode: this CPU has no CPUID faulting (arch_prctl(ARCH_SET_CPUID): %v): programs see RDRAND and RDSEED, whose values are not drawn from the seed", unix.Errno(-ret))
	}
	t.finishInjection(-int64(mm.ERESTARTNOINTR))
	t.ptrace(unix.PTRACE_CONT, 0)
	return true
}

// cpuidStop answers a CPUID that faulted (SIGSEGV, the kernel's, at 0F
// A2): the host's values, without RDRAND and RDSEED. The thread goes on
// (not a scheduling point).
func (d *detRun) cpuidStop(t *Task, regs *unix.PtraceRegs) {
	leaf, subleaf := uint32(regs.Rax), uint32(regs.Rcx)
	eax, ebx, ecx, edx := hostCPUID(leaf, subleaf)
	switch {
	case leaf == 1:
		ecx &^= cpuidLeaf1RDRAND
	case leaf == 7 && subleaf == 0:
		ebx &^= cpuidLeaf7RDSEED
	}
	regs.Rax, regs.Rbx, regs.Rcx, regs.Rdx = uint64(eax), uint64(ebx), uint64(ecx), uint64(edx)
	regs.Rip += 2
}
