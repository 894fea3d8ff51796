package sentry

import (
	"fmt"
	"maps"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
	"madvisor/lockdep"
	"madvisor/syscalls"
)

// call is a dispatched syscall the sentry sees through: its Plan and what
// the sentry holds for it until its result is final.
type call struct {
	syscalls.Plan
	// nr and args, for strace and the maps check.
	nr   uint64
	args [6]uint64
	// locked is Plan.Lock's address space, write-held by holder; sched
	// picks its next owner when it is released.
	locked *AddressSpace
	holder *lockdep.Holder
	sched  Scheduler
	// ia32: an i386-ABI call, refused (bypass.go).
	ia32 bool
}

// exit runs at the syscall's exit stop. Engine thread only.
func (c *call) exit(t *Task, ret int64) {
	if c.Exit != nil {
		if r := c.Exit(ret); r != ret {
			t.setReturn(r)
			ret = r
		}
	}
	c.finish(t, ret, t.s.cfg.CheckMaps)
}

// finish reports the call's result and releases what it holds; checkMaps
// compares the model with the host's maps first (not after an emulated
// call, whose host state the emulation explains).
func (c *call) finish(t *Task, ret int64, checkMaps bool) {
	if t.s.cfg.Strace != nil {
		t.s.strace(t, c, ret)
	}
	if c.locked != nil {
		// A userfaultfd released during the call.
		t.s.syncUffdLocked(c.locked, t.tid)
	}
	if checkMaps && c.locked != nil {
		t.s.checkMaps(t, c.locked, c.nr)
	}
	t.s.refreshViews(c.locked)
	c.release()
}

// release lets the address space go to its next waiter.
func (c *call) release() {
	if as := c.locked; as != nil {
		c.locked = nil
		as.m.Lock.Unlock(c.holder)
		as.wakeWaiters(c.sched)
	}
}

// syscallEntry looks the call up in the table and runs its handler. A call
// whose address space is busy comes back with Wait set and nothing held.
// Engine thread only.
func (t *Task) syscallEntry(si *syscallInfo) call {
	if si.Arch != auditArchX86_64 {
		return call{ia32: true} // int $0x80 (bypass.go)
	}
	if !ownStop(si) {
		return programTrace(si)
	}
	if si.Nr&x32SyscallBit != 0 {
		return refuseX32(si)
	}
	c := call{nr: si.Nr, args: si.Args}
	t.setSyscall(syscalls.Name(uintptr(si.Nr)))
	if emulate := t.s.cfg.Emulate; emulate != nil {
		// The embedder's answer comes first.
		if e := emulate(si.Nr, si.Args); e != nil {
			c.Emulate = func() int64 { return e(t) }
			return c
		}
	}
	e, ok := syscalls.Lookup(uintptr(si.Nr))
	if !ok || e.Handle == nil {
		return c
	}
	if e.Trace == syscalls.TraceAlways && t.tg.mm != nil {
		t.learnGrowth(t.tg.mm, uintptr(si.Nr), si.Args)
	}
	t.syncUffd()
	c.Plan = e.Handle(t, si.Args)
	t.watchUffd(&c, si)
	if c.Wait != nil || c.Ignore {
		return c
	}
	if c.Lock != nil {
		as := c.Lock.(*AddressSpace)
		if !as.m.Lock.TryWrite(t.holder) {
			return call{Plan: syscalls.Plan{Wait: as}}
		}
		c.locked = as
	}
	c.holder = t.holder
	c.sched = t.s.sched
	if c.Exit == nil && (c.Clone != nil || t.s.cfg.Strace != nil || t.s.cfg.CheckMaps) {
		c.Exit = func(ret int64) int64 { return ret } // watch the exit stop
	}
	if c.Clone != nil && c.Clone.Flags&unix.CLONE_UNTRACED != 0 {
		t.traceUntraced(&c, si)
	}
	return c
}

// apply resumes the thread as c says. Engine thread only.
func (t *Task) apply(c call) {
	if t.dead {
		c.release()
		return
	}
	if c.ia32 {
		t.refuseIA32()
		return
	}
	if c.Emulate != nil {
		t.emulate(&c)
		return
	}
	if c.Exit != nil {
		t.pending, t.watching = c, true
		t.ptrace(unix.PTRACE_SYSCALL, 0)
		return
	}
	// Back to user space: nothing may be held.
	t.holder.CheckNoneHeld("return to the tracee")
	t.ptrace(unix.PTRACE_CONT, 0)
}

// cloneKind is how a new task relates to its parent.
type cloneKind int

const (
	cloneThread  cloneKind = iota // CLONE_THREAD: same thread group
	cloneShareVM                  // CLONE_VM without CLONE_THREAD: new process, same mm
	cloneFork                     // new process with a copy of the mm
)

func cloneRelation(stopKind int, flags uint64) cloneKind {
	switch {
	case flags&unix.CLONE_THREAD != 0:
		return cloneThread
	case flags&unix.CLONE_VM != 0 || stopKind == stopVfork:
		return cloneShareVM
	case stopKind == stopClone && flags == 0:
		// Flags unknown and the kernel reported a plain clone: a thread
		// is the usual case.
		return cloneThread
	}
	return cloneFork
}

// adoptChild creates the task of a new thread or process reported by a
// clone/fork/vfork event. Engine thread only.
func (t *Task) adoptChild(tid int, kind cloneKind) *Task {
	tg := t.tg
	switch kind {
	case cloneShareVM:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm, readTraps: maps.Clone(t.tg.readTraps), uffdTrap: t.tg.uffdTrap}
	case cloneFork:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm.fork(), readTraps: maps.Clone(t.tg.readTraps), uffdTrap: t.tg.uffdTrap}
	}
	child := t.s.newTask(tid, tg)
	child.persona = t.persona
	if kind == cloneFork && t.tg.mm != nil && (t.s.emulating(hostmm.EmulateGuard) || t.s.emulating(hostmm.EmulateWipeOnFork)) {
		child.forkFix = t.forkFixups()
	}
	t.s.startTask(child)
	return child
}

// execed handles PTRACE_EVENT_EXEC: the thread now runs a new program in a
// new address space (and, if it was not the leader, under the leader's tid).
// Engine thread only.
func (t *Task) execed(ev stopEvent) {
	t.tid = t.tg.pid
	t.persona &^= abi.READ_IMPLIES_EXEC // a 64-bit exec drops it
	if t.tg == t.s.root && isStage(t.tid) {
		// The seize raced with the stage's own exec of madvisor: that is
		// not the program. The stage's Go runtime maps memory before its
		// filter is on, untraced; the model starts at the program's exec.
		return
	}
	t.tg.closeHostMaps() // the old mm's
	as, err := t.s.addressSpaceFromHost(t.tid)
	if err != nil {
		t.s.logf("pid %d: cannot build the model at exec: %v", t.tg.pid, err)
	}
	t.tg.mm = as
	if t.s.uffd.used {
		// Close-on-exec may have released a userfaultfd (uffd.go).
		t.s.uffdReleased(t)
	}
	if d := t.s.det; d != nil {
		if !d.active {
			d.activate(t)
		}
		if t.det != nil {
			d.patchExec(t)
			t.det.execed = true
			t.det.nsTid = t.s.namespaceTid(t.tid) // the leader's, after a thread's exec
			d.processTimersGone(t.tg, false)
		}
	}
	if t.s.cfg.CheckMaps {
		t.s.checkMaps(t, as, unix.SYS_EXECVE)
	}
}

// emulate answers the syscall at its seccomp stop with c.Emulate, then
// lets the thread return from it. Engine thread only.
func (t *Task) emulate(c *call) {
	if err := t.beginInjection(); err != nil {
		c.release()
		return // killed meanwhile: its exit report follows
	}
	ret := c.Emulate()
	if t.dead {
		c.release()
		return
	}
	if c.Exit != nil {
		ret = c.Exit(ret)
	}
	t.finishInjection(ret)
	c.finish(t, ret, false)
	t.holder.CheckNoneHeld("return to the tracee")
	t.ptrace(unix.PTRACE_CONT, 0)
}

// isStage reports whether process pid is madvisor's pre-exec stage
// (argv[1] is StageArg).
func isStage(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 1 && args[1] == StageArg
}
