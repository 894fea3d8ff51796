package sentry

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// The ways a thread could run a call the sentry does not see, closed at
// the call's seccomp stop: an i386-ABI call, a trace stop asked for by
// the program's own filter, a clone whose child would not be traced.
// README, "What madvisor refuses".

// ownStop reports whether a seccomp stop is one the sentry's filters
// asked for. A program's own filter returning SECCOMP_RET_TRACE stops the
// thread too (its data wins over the sentry's when both trace the call:
// the newest filter's does); natively the program has no tracer then, and
// the call fails with ENOSYS without running.
func ownStop(si *syscallInfo) bool {
	return si.Op != syscallInfoSeccomp || si.Ret == hostmm.TraceData
}

// programTrace is the answer to a call the program's own filter traced.
func programTrace(si *syscallInfo) call {
	return call{nr: si.Nr, args: si.Args, Plan: syscalls.Plan{Emulate: func() int64 { return -int64(unix.ENOSYS) }}}
}

// refuseX32 answers a call of the x32 ABI as a kernel without it does
// (this host's, and Debian's by default): ENOSYS, without running it.
// The model does not follow that ABI.
func refuseX32(si *syscallInfo) call {
	return call{nr: si.Nr, args: si.Args, Plan: syscalls.Plan{Emulate: func() int64 { return -int64(unix.ENOSYS) }}}
}

// nonCanonical is an address no x86-64 CPU accepts in rip (neither with
// 4- nor 5-level paging): the return to user space there faults (#GP),
// and the kernel sends SIGSEGV as for a fault in user mode.
const nonCanonical = 1 << 63

// sigsegvMask is SIGSEGV's bit in a signal set.
const sigsegvMask = 1 << (unix.SIGSEGV - 1)

// refuseIA32 answers a call of the i386 ABI (int $0x80 from a 64-bit
// program, which the model does not follow) as a kernel without IA32
// emulation does (ia32_emulation=0, or built without it): vector 0x80 has
// no gate, so the instruction raises a general protection fault. The call
// does not run; the thread gets SIGSEGV (si_code SI_KERNEL) with its
// registers as they were and rip on the instruction. A fault's SIGSEGV is
// forced: where the thread blocks or ignores it, the process dies of it,
// which a return to a non-canonical rip gets from the kernel itself.
// Engine thread only.
func (t *Task) refuseIA32() {
	t.s.warnOnce("ia32", "pid %d made an i386 system call (int $0x80): refused with SIGSEGV, as by a kernel without IA32 emulation", t.tg.pid)
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return // killed meanwhile: its exit report follows
	}
	var insn [2]byte
	if t.readMem(regs.Rip-2, insn[:]) == nil && insn == [2]byte{0x0f, 0x05} {
		// syscall in 32-bit code (a far jump away): that entry cannot
		// be switched off, and answers ENOSYS without IA32 emulation.
		enosys := -int64(unix.ENOSYS)
		regs.Rax = uint64(enosys)
		regs.Orig_rax = ^uint64(0)
		unix.PtraceSetRegs(t.tid, &regs)
		t.ptrace(unix.PTRACE_CONT, 0)
		return
	}
	regs.Rax = regs.Orig_rax   // eax held the call's number
	regs.Orig_rax = ^uint64(0) // the call is skipped
	regs.Rip -= 2              // back on int $0x80 (cd 80)
	if t.sigsegvForced() {
		regs.Rip = nonCanonical
	} else {
		t.gpSiginfo = true
		if d := t.s.det; d != nil {
			d.sendOwnSignal(t.tg.pid, t.tid, unix.SIGSEGV, nil)
		} else {
			unix.Tgkill(t.tg.pid, t.tid, unix.SIGSEGV)
		}
	}
	unix.PtraceSetRegs(t.tid, &regs)
	t.ptrace(unix.PTRACE_CONT, 0)
}

// sigsegvForced reports whether the thread blocks or ignores SIGSEGV, in
// which case a fault's signal would not reach a handler but kill it.
func (t *Task) sigsegvForced() bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/status", t.tg.pid, t.tid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "SigBlk" && k != "SigIgn" {
			continue
		}
		if set, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && set&sigsegvMask != 0 {
			return true
		}
	}
	return false
}

// fixFaultSiginfo makes the SIGSEGV that refuseIA32 sent, at its
// signal-delivery stop, look like the fault's: si_code SI_KERNEL and no
// sender. Engine thread only.
func (t *Task) fixFaultSiginfo() {
	t.gpSiginfo = false
	var si [128]byte // siginfo_t: signo, errno, code
	const siKernel = 0x80
	binary.LittleEndian.PutUint32(si[0:], uint32(unix.SIGSEGV))
	binary.LittleEndian.PutUint32(si[8:], siKernel)
	ptraceRequest(unix.PTRACE_SETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0])))
}

// traceUntraced takes CLONE_UNTRACED out of a clone's flags before it
// runs: that flag alone would keep the child from being auto-attached, and
// an untraced child's calls would run past the model (and it would
// outlive the run). Natively nobody traces the program, so the flag
// changes nothing it can see. clone3's flags are in the program's struct
// clone_args: they are put back at the call's exit stop. Engine thread
// only.
func (t *Task) traceUntraced(c *call, si *syscallInfo) {
	flags := c.Clone.Flags &^ unix.CLONE_UNTRACED
	if si.Nr != unix.SYS_CLONE3 {
		var regs unix.PtraceRegs
		if unix.PtraceGetRegs(t.tid, &regs) == nil {
			regs.Rdi &^= unix.CLONE_UNTRACED
			unix.PtraceSetRegs(t.tid, &regs)
		}
		c.Clone.Flags = flags
		return
	}
	var b [8]byte
	addr := si.Args[0]
	binary.LittleEndian.PutUint64(b[:], flags)
	if t.writeMem(addr, b[:]) != nil {
		return // the kernel cannot read it either: EFAULT
	}
	c.Clone.Flags = flags
	exit := c.Exit
	c.Exit = func(ret int64) int64 {
		binary.LittleEndian.PutUint64(b[:], flags|unix.CLONE_UNTRACED)
		t.writeMem(addr, b[:])
		if exit != nil {
			return exit(ret)
		}
		return ret
	}
}
