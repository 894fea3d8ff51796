package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// Guard marker emulation (hostmm.EmulateGuard), for hosts without guard
// markers (or without them on file mappings). The model keeps the markers
// (mm.VMA.Guards) and decides every result; on the host a guard page is
// PROT_NONE with its contents discarded, so that a touch faults and kernel
// copies fail with EFAULT. What would give the emulation away is fixed up:
//   - the fault on a guard page is SEGV_ACCERR on the host; the program
//     gets SEGV_MAPERR, as for a real marker (fixGuardSiginfo);
//   - mprotect over guard pages leaves them PROT_NONE, and mremap carries
//     them to the new place (guardEntry);
//   - /proc/PID/maps and smaps come from the model (procview.go), so the
//     PROT_NONE pieces do not show; pagemap reads through pread(2) show
//     guard pages as the kernel does (bits 62 and 58, not present).

// Under guard emulation, mprotect and mremap would undo or strand the
// host's PROT_NONE guard pieces: mprotect over guard pages is followed by
// protecting them again, and for an mremap of a range with guard pages
// their protection is given back for the move (which the kernel makes on
// one VMA) and taken again at the new place.

// guardRuns returns the guard runs in the range [a0, a0+a1) of an
// mprotect or mremap, if the range is one the call accepts.
func guardRuns(as *AddressSpace, a syscalls.Regs) (start, end uint64, runs []mm.GuardRun) {
	start, end = a[0], a[0]+mm.PageAlign(a[1])
	if start%mm.PageSize != 0 || end <= start {
		return 0, 0, nil
	}
	return start, end, as.m.AS.GuardRuns(start, end)
}

// guardedProtect runs mprotect or pkey_mprotect (nr) over guard pages and
// protects them again. It reports whether there were any. Engine thread
// only.
func (t *Task) guardedProtect(plan *syscalls.Plan, as *AddressSpace, nr uintptr, a syscalls.Regs, update syscalls.Update) bool {
	start, end, runs := guardRuns(as, a)
	if len(runs) == 0 {
		return false
	}
	plan.Lock = as
	plan.Emulate = func() int64 {
		ret, err := t.Inject(nr, a[0], a[1], a[2], a[3])
		if err != nil {
			return -int64(unix.EINTR)
		}
		update(as.m.AS, hostView{t}, a, ret)
		t.backend().ProtectGuards(as.m.AS.GuardRuns(start, end))
		return ret
	}
	return true
}

// guardedRemap moves a range with guard pages. It reports whether there
// were any. Engine thread only.
func (t *Task) guardedRemap(plan *syscalls.Plan, as *AddressSpace, a syscalls.Regs, update syscalls.Update) bool {
	start, end, runs := guardRuns(as, a)
	if len(runs) == 0 {
		return false
	}
	plan.Lock = as
	plan.Emulate = func() int64 {
		b := t.backend()
		b.UnprotectGuards(runs)
		ret, err := t.Inject(unix.SYS_MREMAP, a[0], a[1], a[2], a[3], a[4])
		if err != nil {
			return -int64(unix.EINTR)
		}
		update(as.m.AS, hostView{t}, a, ret)
		at, size := start, end-start
		if ret >= 0 || ret < -4095 {
			at, size = uint64(ret), mm.PageAlign(a[2])
		}
		b.ProtectGuards(as.m.AS.GuardRuns(at, at+size))
		return ret
	}
	return true
}

// fixGuardSiginfo turns the SEGV_ACCERR of a touch of an emulated guard
// page (PROT_NONE on the host) into the SEGV_MAPERR a real marker gives.
// t is in a signal-delivery stop for SIGSEGV. Engine thread only.
func (t *Task) fixGuardSiginfo() {
	as := t.tg.mm
	if as == nil {
		return
	}
	var si [128]byte // siginfo_t: signo, errno, code (ints), then si_addr at 16
	if ptraceRequest(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0]))) != nil {
		return
	}
	code := int32(binary.LittleEndian.Uint32(si[8:]))
	addr := binary.LittleEndian.Uint64(si[16:])
	const segvMapErr, segvAccErr = 1, 2
	if code != segvAccErr || !as.m.AS.IsGuard(addr) {
		return
	}
	// The kernel checks the VMA's protection before the PTE: an access
	// the VMA does not allow is SEGV_ACCERR even on a guard page. The
	// access type is not in the siginfo: the faulting instruction says it.
	if v, ok := as.m.AS.Find(addr); ok && !v.Prot().Allows(t.faultAccess(addr)) {
		return
	}
	binary.LittleEndian.PutUint32(si[8:], segvMapErr)
	ptraceRequest(unix.PTRACE_SETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0])))
}

// forkFixups computes the child's fix-up (hostmm.NewForkFix) from the
// parent's model and pagemap, at the fork event (the parent, t, is
// stopped). Nil if there is nothing to do. Engine thread only.
func (t *Task) forkFixups() *hostmm.ForkFix {
	return hostmm.NewForkFix(t.s.cfg.Emulations, t.tg.pid, t.tg.mm.m.AS.VMAs())
}

// applyForkFix runs the child's fixups in it at its first stop, where it
// is about to return 0 from fork: the injected calls re-execute that
// syscall instruction, and the registers are restored after. Engine
// thread only.
func (t *Task) applyForkFix() {
	fix := t.forkFix
	t.forkFix = nil
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return
	}
	t.inj = &injection{saved: regs}
	if t.backend().ApplyForkFix(fix) != nil {
		t.inj = nil
		return
	}
	t.finishInjection(int64(regs.Rax))
}

// faultAccess tells how the instruction at the thread's rip touched addr
// (hostmm.FaultAccess). The thread is in a signal-delivery stop for the
// fault.
func (t *Task) faultAccess(addr uint64) mm.Prot {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return mm.ProtRead
	}
	var code []byte
	if addr>>mm.PageShift != regs.Rip>>mm.PageShift {
		// Not a fetch: the instruction says how it touched addr.
		code = make([]byte, 15)
		if t.readMem(regs.Rip, code) != nil {
			code = nil
		}
	}
	return hostmm.FaultAccess(code, regs.Rip, regs.Rdi, addr)
}

// procFileTarget returns the task whose /proc/PID/name file t's fd is
// open on, if that process is under the sandbox and has a model.
func (t *Task) procFileTarget(fd int, name string) *Task {
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", t.tid, fd))
	if err != nil {
		return nil
	}
	var pid int
	if n, _ := fmt.Sscanf(link, "/proc/%d/"+name, &pid); n != 1 || link != fmt.Sprintf("/proc/%d/%s", pid, name) {
		return nil
	}
	if target := t.s.programTask(pid); target != nil && target.tg.mm != nil {
		return target
	}
	return nil
}
