package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/arch/x86/x86asm"
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

// guardHostOps makes the host match the model after a guard advice acted
// on pieces: GUARD_INSTALL discards each piece's pages and makes them
// PROT_NONE; GUARD_REMOVE gives the pieces' guard pages their VMA's
// protection back (data is not restored: they were discarded at install).
func guardHostOps(tr hostmm.Tracee, advice int, applied []mm.MadviseRange) {
	for _, p := range applied {
		switch advice {
		case unix.MADV_GUARD_INSTALL:
			tr.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, unix.MADV_DONTNEED)
			tr.Inject(unix.SYS_MPROTECT, p.Start, p.End-p.Start, unix.PROT_NONE)
		case unix.MADV_GUARD_REMOVE:
			for _, r := range p.VMA.Guards.Ranges() {
				s := max(p.VMA.Start+r[0]<<mm.PageShift, p.Start)
				e := min(p.VMA.Start+r[1]<<mm.PageShift, p.End)
				if s < e {
					tr.Inject(unix.SYS_MPROTECT, s, e-s, uint64(p.VMA.Prot()))
				}
			}
		}
	}
}

// isGuardAdvice reports whether advice installs or removes markers.
func isGuardAdvice(advice int) bool {
	return advice == unix.MADV_GUARD_INSTALL || advice == unix.MADV_GUARD_REMOVE
}

// emulateGuardAdvice answers a guard advice whose result the model
// decided (ret): the host gets guardHostOps on the applied pieces.
func (t *Task) emulateGuardAdvice(act *action, as *AddressSpace, advice int, applied []mm.MadviseRange, ret int64) {
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
		guardHostOps(tr, advice, applied)
		return ret
	}
}

// guardEntry handles, under guard emulation, the calls that would undo or
// strand the host's PROT_NONE guard pieces: mprotect over guard pages
// (they are protected again after it) and mremap of a range with guard
// pages (their protection is given back for the move, which the kernel
// makes on one VMA, and taken again at the new place). It reports whether
// it set act. Engine thread only.
func (t *Task) guardEntry(act *action, si *syscallInfo) bool {
	as, a := t.tg.mm, si.Args
	if as == nil {
		return false
	}
	start, end := a[0], a[0]+mm.PageAlign(a[1])
	if start%mm.PageSize != 0 || end <= start {
		return false
	}
	runs := as.m.AS.GuardRuns(start, end)
	if len(runs) == 0 {
		return false
	}
	update := syscalls.ModelUpdate(uintptr(si.Nr), a)
	act.locked = as
	switch si.Nr {
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		act.emulate = func(tr hostmm.Tracee) int64 {
			ret, err := tr.Inject(uintptr(si.Nr), a[0], a[1], a[2], a[3])
			if err != nil {
				return -int64(unix.EINTR)
			}
			update(as.m.AS, hostView{t}, a, ret)
			for _, r := range as.m.AS.GuardRuns(start, end) {
				tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, unix.PROT_NONE)
			}
			return ret
		}
	case unix.SYS_MREMAP:
		act.emulate = func(tr hostmm.Tracee) int64 {
			for _, r := range runs {
				tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot))
			}
			ret, err := tr.Inject(unix.SYS_MREMAP, a[0], a[1], a[2], a[3], a[4])
			if err != nil {
				return -int64(unix.EINTR)
			}
			update(as.m.AS, hostView{t}, a, ret)
			at, size := start, end-start
			if ret >= 0 || ret < -4095 {
				at, size = uint64(ret), mm.PageAlign(a[2])
			}
			for _, r := range as.m.AS.GuardRuns(at, at+size) {
				tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, unix.PROT_NONE)
			}
			return ret
		}
	default:
		act.locked = nil
		return false
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

// Pagemap bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent     = 1 << 63
	pmFileShared  = 1 << 61
	pmSwap        = 1 << 62
	pmGuardRegion = 1 << 58
	// pmGuardFrame is the swap type and offset of a guard marker's PTE
	// (as 6.18 shows it to a reader with CAP_SYS_ADMIN; 0 to others).
	pmGuardFrame = 0x9f
)

// emulatePopulate answers POPULATE_READ / POPULATE_WRITE that the model
// ended with an error (a hole: ENOMEM; a guard marker: EFAULT, which an
// emulated marker, PROT_NONE on the host, would make EINVAL there): the
// host populates the pieces before it, and its own error comes first.
func (t *Task) emulatePopulate(act *action, as *AddressSpace, advice int, applied []mm.MadviseRange, ret int64) {
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
		for _, p := range applied {
			r, err := tr.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, uint64(advice))
			if err != nil {
				return -int64(unix.EINTR)
			}
			if r != 0 {
				return r
			}
		}
		return ret
	}
}

// forkFix is what a forked child's host memory needs so that it matches
// a real fork under guard or wipe-on-fork emulation.
type forkFix struct {
	// unprotect are guard runs of the parent's WIPEONFORK VMAs: the child
	// gets such VMAs without markers, but the host copied the PROT_NONE.
	unprotect []mm.GuardRun
	// wipe are the parent's WIPEONFORK VMAs when the flag is the model's
	// only: the host copied their pages, which the child must not see.
	wipe [][2]uint64
	// populate are the pages present in the parent in shared VMAs with
	// guard pages: fork copies the page tables of a VMA with markers
	// (they live there), which the host, without markers, does not.
	populate [][2]uint64
}

// forkFixups computes the child's forkFix from the parent's model and
// pagemap, at the fork event (the parent is stopped). Nil if there is
// nothing to do. Engine thread only.
func (t *Task) forkFixups() *forkFix {
	var fix forkFix
	guards, wipe := t.s.emulating(hostmm.EmulateGuard), t.s.emulating(hostmm.EmulateWipeOnFork)
	for _, v := range t.tg.mm.m.AS.VMAs() {
		if v.Flags&mm.VMDontCopy != 0 {
			continue
		}
		if wipe && v.Flags&mm.VMWipeOnFork != 0 {
			fix.wipe = append(fix.wipe, [2]uint64{v.Start, v.End})
		}
		if !guards || v.Guards.Empty() {
			continue
		}
		if v.Flags&mm.VMWipeOnFork != 0 {
			fix.unprotect = append(fix.unprotect, t.tg.mm.m.AS.GuardRuns(v.Start, v.End)...)
			continue
		}
		if v.Flags&mm.VMShared == 0 {
			continue
		}
		guards := v.Guards
		fix.populate = append(fix.populate, pagemapRuns(t.tg.pid, v.Start, v.End, func(page, entry uint64) bool {
			return entry&pmPresent != 0 && !guards.Contains((page-v.Start)>>mm.PageShift)
		})...)
	}
	if len(fix.unprotect)+len(fix.wipe)+len(fix.populate) == 0 {
		return nil
	}
	return &fix
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
	for _, r := range fix.unprotect {
		if _, err := t.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot)); err != nil {
			t.inj = nil
			return
		}
	}
	for _, r := range fix.wipe {
		if _, err := t.Inject(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); err != nil {
			t.inj = nil
			return
		}
	}
	for _, r := range fix.populate {
		if _, err := t.Inject(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_POPULATE_READ); err != nil {
			t.inj = nil
			return
		}
	}
	t.finishInjection(int64(regs.Rax))
}

// faultAccess tells, from the instruction at the thread's rip, how it
// touched addr: ProtExec for a fetch, ProtWrite for a store (or a
// read-modify-write), else ProtRead (also when the instruction cannot be
// decoded). The thread is in a signal-delivery stop for the fault.
func (t *Task) faultAccess(addr uint64) mm.Prot {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return mm.ProtRead
	}
	if addr>>mm.PageShift == regs.Rip>>mm.PageShift {
		return mm.ProtExec
	}
	var code [15]byte
	if t.readMem(regs.Rip, code[:]) != nil {
		return mm.ProtRead
	}
	inst, err := x86asm.Decode(code[:], 64)
	if err != nil || inst.Args[0] == nil {
		return mm.ProtRead
	}
	if _, dst := inst.Args[0].(x86asm.Mem); !dst {
		return mm.ProtRead
	}
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.PUSH, x86asm.CALL, x86asm.JMP, x86asm.LCALL, x86asm.LJMP,
		x86asm.NOP, x86asm.PREFETCHNTA, x86asm.PREFETCHT0, x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW,
		x86asm.CLFLUSH, x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW,
		x86asm.SCASD, x86asm.SCASQ, x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ:
		return mm.ProtRead
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ:
		// Reads [rsi], writes [rdi]: the fault's page says which.
		if addr>>mm.PageShift != regs.Rdi>>mm.PageShift {
			return mm.ProtRead
		}
	}
	return mm.ProtWrite
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
	if target := t.s.eng.tasks[pid]; target != nil && !target.dead && target.tg.mm != nil {
		return target
	}
	return nil
}
