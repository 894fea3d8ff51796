package sentry

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// procFileTarget returns the task whose name file (pagemap, mem...) t's
// fd is open on, however it was opened (hostmm.ProcFileOfFD), if that
// process is under the sandbox and has a model.
func (t *Task) procFileTarget(fd int, name string) *Task {
	target, file := t.procFileOfFD(fd)
	if file != name {
		return nil
	}
	return target
}

// procFileOfFD returns the task whose maps, smaps, pagemap or mem file
// t's fd is open on, and which file, if that process is under the sandbox
// and has a model.
func (t *Task) procFileOfFD(fd int) (*Task, string) {
	pid, file, ok := hostmm.ProcFileOfFD(t.tid, fd)
	if !ok {
		return nil, ""
	}
	if target := t.s.programTask(pid); target != nil && target.tg.mm != nil {
		return target, file
	}
	return nil, ""
}

// growGuardedStack handles a SIGSEGV that only the emulation causes: a
// touch below a grows-down VMA whose lowest page is an emulated guard
// page. The host grew that page's PROT_NONE piece and faulted; the kernel
// grows the VMA with its own protection, and the touch goes on. So the
// model takes the growth (where the kernel could have made it), the grown
// part gets the VMA's protection on the host, and the signal is dropped:
// the access runs again (and faults again if the VMA's protection does
// not allow it, now as the kernel's fault). If another task holds the
// address space, the signal is dropped too, and the access faults again
// until it can be handled. It reports whether the signal is to be
// dropped. t is in a signal-delivery stop for SIGSEGV. Engine thread only.
func (t *Task) growGuardedStack() bool {
	as := t.tg.mm
	if as == nil || t.watching || t.inj != nil {
		return false
	}
	var si [128]byte
	if ptraceRequest(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0]))) != nil {
		return false
	}
	const segvAccErr = 2
	code := int32(binary.LittleEndian.Uint32(si[8:]))
	addr := binary.LittleEndian.Uint64(si[16:])
	if int32(binary.LittleEndian.Uint32(si[0:])) != int32(unix.SIGSEGV) || code != segvAccErr {
		return false
	}
	l, ok := hostmm.MapsLineAt(t.tg.pid, addr)
	if !ok || l.Prot() != mm.ProtNone {
		return false
	}
	if !as.m.Lock.TryWrite(t.holder) {
		return true
	}
	defer as.m.Lock.Unlock(t.holder)
	v, ok := as.m.AS.GuardedStackAbove(addr)
	if !ok || l.Start >= v.Start || l.End <= v.Start {
		return false
	}
	gadget, ok := t.syscallGadget()
	if !ok {
		t.s.warnOnce("stack-gadget", "pid %d: no syscall instruction in the vDSO: a stack cannot grow below an emulated guard page", t.tg.pid)
		return false
	}
	if !as.m.AS.GrowDown(v.Start, l.Start) {
		return false
	}
	return t.injectAtFault(gadget, unix.SYS_MPROTECT, l.Start, v.Start-l.Start, uint64(v.Prot())) == nil
}

// syscallGadget returns the address of a syscall instruction (0f 05) in
// the vDSO, for calls injected where the thread is not in a syscall.
//
// Preconditions: the address space is locked by t.
func (t *Task) syscallGadget() (uint64, bool) {
	for _, v := range t.tg.mm.m.AS.VMAs() {
		if v.Backing.Kind != mm.BackingVDSO || v.Prot()&mm.ProtExec == 0 {
			continue
		}
		code := make([]byte, v.End-v.Start)
		if t.readMem(v.Start, code) != nil {
			return 0, false
		}
		if i := bytes.Index(code, []byte{0x0f, 0x05}); i >= 0 {
			return v.Start + uint64(i), true
		}
	}
	return 0, false
}

// injectAtFault runs syscall nr in t, which is in a signal-delivery stop
// (no syscall of its own), through the syscall instruction at gadget; the
// signal is dropped and t's registers are restored after, so that the
// faulting instruction runs again. Engine thread only.
func (t *Task) injectAtFault(gadget uint64, nr uintptr, args ...uint64) error {
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(t.tid, &regs); err != nil {
		return err
	}
	inj := &injection{saved: regs}
	inj.saved.Rip = gadget + 2 // Inject runs the instruction before saved.Rip
	t.inj = inj
	_, err := t.Inject(nr, args...)
	t.inj = nil
	if errors.Is(err, errTraceeGone) {
		return err
	}
	regs.Orig_rax = ^uint64(0)
	if err := unix.PtraceSetRegs(t.tid, &regs); err != nil {
		return err
	}
	for _, s := range inj.signals {
		if d := t.s.det; d != nil {
			d.sendOwnSignal(t.tg.pid, t.tid, s, nil)
		} else {
			unix.Tgkill(t.tg.pid, t.tid, s)
		}
	}
	return err
}
