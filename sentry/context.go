package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/lockdep"
	"madvisor/mm"
	"madvisor/syscalls"
)

// The task is the syscall table's Context: the handlers in syscalls/ ask
// it for the caller's address space and for the sentry's own steps (the
// emulations' and the /proc view's), each of which builds a Plan.

var _ syscalls.Context = (*Task)(nil)

// Model implements syscalls.Space.
func (as *AddressSpace) Model() *mm.MM { return as.m }

// Space implements syscalls.Context.
func (t *Task) Space() syscalls.Space {
	if t.tg.mm == nil {
		return nil // not a typed nil: handlers compare with nil
	}
	return t.tg.mm
}

// Host implements syscalls.Context.
func (t *Task) Host() syscalls.Host { return hostView{t} }

// Holder implements syscalls.Context.
func (t *Task) Holder() *lockdep.Holder { return t.holder }

// Update implements syscalls.Context: the host runs the call under the
// address space's lock; at its exit stop the model follows the host's
// result and the changed spans' edges are checked against the host.
func (t *Task) Update(sp syscalls.Space, r syscalls.Regs, update syscalls.Update) syscalls.Plan {
	as := sp.(*AddressSpace)
	return syscalls.Plan{Lock: as, Exit: func(ret int64) int64 {
		for _, span := range update(as.m.AS, hostView{t}, r, ret) {
			t.reconcileEdges(as, span.Start, span.End)
		}
		return ret
	}}
}

// Sealed implements syscalls.Context (sealemu.go).
func (t *Task) Sealed(sp syscalls.Space, nr uintptr, r syscalls.Regs, check syscalls.SealCheck) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	ok := t.s.emulating(hostmm.EmulateMseal) && t.sealed(&plan, sp.(*AddressSpace), nr, r, check)
	return plan, ok
}

// Mseal implements syscalls.Context (sealemu.go).
func (t *Task) Mseal(sp syscalls.Space, r syscalls.Regs) (syscalls.Plan, bool) {
	if !t.s.emulating(hostmm.EmulateMseal) {
		return syscalls.Plan{}, false
	}
	return t.msealCall(sp.(*AddressSpace), r), true
}

// GuardedProtect implements syscalls.Context (guardemu.go).
func (t *Task) GuardedProtect(sp syscalls.Space, nr uintptr, r syscalls.Regs, update syscalls.Update) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	ok := t.s.emulating(hostmm.EmulateGuard) && t.guardedProtect(&plan, sp.(*AddressSpace), nr, r, update)
	return plan, ok
}

// GuardedRemap implements syscalls.Context (guardemu.go).
func (t *Task) GuardedRemap(sp syscalls.Space, r syscalls.Regs, update syscalls.Update) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	ok := t.s.emulating(hostmm.EmulateGuard) && t.guardedRemap(&plan, sp.(*AddressSpace), r, update)
	return plan, ok
}

// Madvise implements syscalls.Context (madvise.go).
func (t *Task) Madvise(sp syscalls.Space, a syscalls.MadviseArgs) syscalls.Plan {
	return t.madvise(sp.(*AddressSpace), a)
}

// ProcessMadvise implements syscalls.Context (pmadvise.go).
func (t *Task) ProcessMadvise(a syscalls.ProcessMadviseArgs) syscalls.Plan {
	var plan syscalls.Plan
	t.processMadviseEntry(&plan, a)
	return plan
}

// OpenProc implements syscalls.Context (procview.go).
func (t *Task) OpenProc(nr uintptr, r syscalls.Regs, pathAddr, flags uint64) (syscalls.Plan, bool) {
	p, err := t.readString(pathAddr, unix.PathMax)
	if err != nil {
		// The host's EFAULT, or memory the sentry cannot read (a
		// process that is not dumpable): what it opens is still seen.
		return t.watchOpen(flags)
	}
	var plan syscalls.Plan
	if t.procViewOpen(&plan, pathAddr, p, flags) {
		return plan, true
	}
	if plan, ok := t.sysCPUOpen(pathAddr, p, flags); ok {
		return plan, true
	}
	return t.watchOpen(flags)
}

// ProcFileAccess implements syscalls.Context (procfileio.go).
func (t *Task) ProcFileAccess(a syscalls.FileAccess) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	ok := t.s.emulating(hostmm.EmulateGuard) && t.procFileAccess(&plan, a)
	return plan, ok
}

// ProcFileDup implements syscalls.Context (fdtrap.go).
func (t *Task) ProcFileDup(nr uintptr, r syscalls.Regs) (syscalls.Plan, bool) {
	if !t.s.emulating(hostmm.EmulateGuard) {
		return syscalls.Plan{}, false
	}
	return t.step(nr, r, t.procFileDupEntry)
}

// PagemapScan implements syscalls.Context (pagemapscan.go).
func (t *Task) PagemapScan(fd int, arg uint64) (syscalls.Plan, bool) {
	if !t.s.emulating(hostmm.EmulateGuard) {
		return syscalls.Plan{}, false
	}
	var plan syscalls.Plan
	ok := t.pagemapScanEntry(&plan, fd, arg)
	return plan, ok
}

// ProcmapQuery implements syscalls.Context (procmapquery.go).
func (t *Task) ProcmapQuery(fd int, arg uint64) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	ok := t.procmapQueryEntry(&plan, fd, arg)
	return plan, ok
}

// step runs one of the sentry's entry steps, which reports whether it
// decided the call.
func (t *Task) step(nr uintptr, r syscalls.Regs, entry func(*syscalls.Plan, *syscallInfo) bool) (syscalls.Plan, bool) {
	var plan syscalls.Plan
	if !entry(&plan, &syscallInfo{Nr: uint64(nr), Args: r}) {
		return syscalls.Plan{}, false
	}
	return plan, true
}
