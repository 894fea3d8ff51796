package sentry

import (
	"encoding/binary"
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

// action is what a thread does after its seccomp stop.
type action struct {
	// contended: the address space whose mmap_lock another task holds;
	// the task queues on it and its stop is handled again when the lock is
	// released.
	contended *AddressSpace
	// watch: resume with PTRACE_SYSCALL and run exit at the exit stop.
	// Otherwise the syscall simply runs (PTRACE_CONT).
	watch bool
	// holder is the task that holds locked; sched picks its next owner.
	holder *lockdep.Holder
	sched  Scheduler
	// locked is write-locked from the entry to the exit stop (or death),
	// so the host's execution and the model update are one step for every
	// thread sharing the address space.
	locked *AddressSpace
	// onExit updates the model from the host's result.
	onExit func(t *Task, ret int64)
	// onClone handles a clone/fork/vfork event of the syscall.
	onClone func(t *Task, ev stopEvent)
	// emulate answers the syscall instead of the host: it may run host
	// syscalls in the tracee (hostmm.Tracee) and returns the result the
	// program sees.
	emulate func(tr hostmm.Tracee) int64
	// nr and args, for strace and the maps check.
	nr   uint64
	args [6]uint64
	// locks is the model's lock trace of a madvise or process_madvise,
	// for strace (lockTrace).
	locks string
}

// exit runs at the syscall's exit stop. Engine thread only.
func (a *action) exit(t *Task, ret int64) {
	if a.onExit != nil {
		a.onExit(t, ret)
	}
	if t.s.cfg.Strace != nil {
		t.s.strace(t, a, ret)
	}
	if t.s.cfg.CheckMaps && a.locked != nil {
		t.s.checkMaps(t, a.locked, a.nr)
	}
	t.s.refreshViews(a.locked)
	a.release()
}

// abort runs when the thread dies before its exit stop.
func (a *action) abort(*Task) { a.release() }

func (a *action) release() {
	if as := a.locked; as != nil {
		a.locked = nil
		as.m.Lock.Unlock(a.holder)
		as.held = false
		as.wakeWaiters(a.sched)
	}
}

// apply resumes the thread as act says. Engine thread only.
func (t *Task) apply(act action) {
	if t.dead {
		act.abort(t)
		return
	}
	if act.emulate != nil {
		t.emulate(&act)
		return
	}
	if act.watch {
		t.pending, t.watching = act, true
		t.ptrace(unix.PTRACE_SYSCALL, 0)
		return
	}
	// Back to user space: nothing may be held.
	t.holder.CheckNoneHeld("return to the tracee")
	t.ptrace(unix.PTRACE_CONT, 0)
}

// syscallEntry decides what an intercepted syscall does. Engine thread only.
func (t *Task) syscallEntry(si *syscallInfo) action {
	if si.Arch != auditArchX86_64 {
		// int 0x80 from a 64-bit process: not modeled. Let it run.
		t.s.warnOnce("foreign-abi", "pid %d made a 32-bit syscall (%d) through int 0x80; it runs unmodeled", t.tg.pid, si.Nr)
		return action{}
	}
	act := action{nr: si.Nr, args: si.Args}
	t.setSyscall(syscalls.Name(uintptr(si.Nr)))
	if t.s.cfg.Emulate != nil {
		// The embedder's answer comes first.
		if act.emulate = t.s.cfg.Emulate(si.Nr, si.Args); act.emulate != nil {
			return act
		}
	}
	switch {
	case si.Nr == unix.SYS_OPEN || si.Nr == unix.SYS_OPENAT || si.Nr == unix.SYS_OPENAT2:
		// Traced only for the /proc view (procview.go).
		if t.procViewEntry(&act, si); act.emulate == nil {
			return action{}
		}
	case procFileCalls[si.Nr] != nil:
		// Traced only for the /proc view: pagemap and mem under guard
		// emulation (pread64 and pwrite64 always, the others only on
		// the fds of such opens: fdtrap.go).
		if !t.s.emulating(hostmm.EmulateGuard) || !t.procFileAccessEntry(&act, si) {
			return action{}
		}
	case isDup(si):
		// Traced only on the fds of pagemap and mem files (fdtrap.go).
		if !t.s.emulating(hostmm.EmulateGuard) || !t.procFileDupEntry(&act, si) {
			return action{}
		}
	case si.Nr == unix.SYS_IOCTL && uint32(si.Args[1]) == abi.PAGEMAP_SCAN:
		// Traced only for the /proc view (pagemapscan.go).
		if !t.s.emulating(hostmm.EmulateGuard) || !t.pagemapScanEntry(&act, si) {
			return action{}
		}
	case si.Nr == unix.SYS_IOCTL && uint32(si.Args[1]) == abi.PROCMAP_QUERY:
		// Traced only for the /proc view (procmapquery.go).
		if !t.procmapQueryEntry(&act, si) {
			return action{}
		}
	case t.s.emulating(hostmm.EmulateMseal) && t.sealEntry(&act, si):
		// A seal decided it (sealemu.go).
	case t.s.emulating(hostmm.EmulateGuard) && (si.Nr == unix.SYS_MPROTECT || si.Nr == unix.SYS_PKEY_MPROTECT ||
		si.Nr == unix.SYS_MREMAP) && t.guardEntry(&act, si):
		// Guard pages in the range (guardemu.go).
	default:
		t.modelEntry(&act, si)
	}
	if act.contended != nil {
		return action{contended: act.contended}
	}
	if as := act.locked; as != nil {
		if as.held || !as.m.Lock.TryWrite(t.holder) {
			return action{contended: as}
		}
		as.held = true
	}
	act.holder = t.holder
	act.sched = t.s.sched
	if t.s.cfg.Strace != nil || t.s.cfg.CheckMaps {
		act.watch = true
	}
	return act
}

// modelEntry prepares an intercepted syscall the host runs (or, for
// madvise and process_madvise, the model answers) and the model follows.
// It sets act.contended when the address space's lock is taken. Engine
// thread only.
func (t *Task) modelEntry(act *action, si *syscallInfo) {
	switch si.Nr {
	case unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_FORK, unix.SYS_VFORK:
		t.cloneEntry(act)
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT:
		// PTRACE_EVENT_EXEC rebuilds the model. A failed exec changes
		// nothing.
	case unix.SYS_MADVISE:
		t.madviseEntry(act, si)
	case unix.SYS_PROCESS_MADVISE:
		t.processMadviseEntry(act, si)
	default:
		if update := syscalls.ModelUpdate(uintptr(si.Nr), si.Args); update != nil && t.tg.mm != nil {
			as, args := t.tg.mm, si.Args
			act.watch = true
			act.locked = as
			act.onExit = func(t *Task, ret int64) {
				for _, sp := range update(as.m.AS, hostView{t}, args, ret) {
					t.reconcileEdges(as, sp.Start, sp.End)
				}
			}
		}
	}
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

// cloneFlags decodes the clone flags of clone, clone3, fork or vfork.
func (t *Task) cloneFlags(nr uint64, args [6]uint64) uint64 {
	switch nr {
	case unix.SYS_FORK:
		return uint64(unix.SIGCHLD)
	case unix.SYS_VFORK:
		return unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)
	case unix.SYS_CLONE3:
		var b [8]byte
		if err := t.readMem(args[0], b[:]); err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	return args[0]
}

// cloneEntry prepares a clone-family syscall. A fork copies the model while
// the parent's mm is write-locked from the syscall's entry to the fork
// event, so no other thread's memory syscall slips between the host's copy
// and the model's.
func (t *Task) cloneEntry(act *action) {
	flags := t.cloneFlags(act.nr, act.args)
	act.watch = true
	if flags&unix.CLONE_VM == 0 {
		act.locked = t.tg.mm
	}
	act.onClone = func(t *Task, ev stopEvent) {
		t.adoptChild(int(ev.msg), cloneRelation(ev.stopKind(), flags))
		t.pending.release()
	}
}

// adoptChild creates the task of a new thread or process reported by a
// clone/fork/vfork event. Engine thread only.
func (t *Task) adoptChild(tid int, kind cloneKind) {
	tg := t.tg
	switch kind {
	case cloneShareVM:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm, readTraps: maps.Clone(t.tg.readTraps)}
	case cloneFork:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm.fork(), readTraps: maps.Clone(t.tg.readTraps)}
	}
	child := t.s.newTask(tid, tg)
	if kind == cloneFork && t.tg.mm != nil && (t.s.emulating(hostmm.EmulateGuard) || t.s.emulating(hostmm.EmulateWipeOnFork)) {
		child.forkFix = t.forkFixups()
	}
	t.s.startTask(child)
}

// execed handles PTRACE_EVENT_EXEC: the thread now runs a new program in a
// new address space (and, if it was not the leader, under the leader's tid).
// Engine thread only.
func (t *Task) execed(ev stopEvent) {
	t.tid = t.tg.pid
	if t.tg == t.s.root && isStage(t.tid) {
		// The seize raced with the stage's own exec of madvisor: that is
		// not the program. The stage's Go runtime maps memory before its
		// filter is on, untraced; the model starts at the program's exec.
		return
	}
	as, err := t.s.addressSpaceFromHost(t.tid)
	if err != nil {
		t.s.logf("pid %d: cannot build the model at exec: %v", t.tg.pid, err)
	}
	t.tg.mm = as
	if t.s.cfg.CheckMaps {
		t.s.checkMaps(t, as, unix.SYS_EXECVE)
	}
}

// emulate answers the syscall at its seccomp stop with act.emulate, then
// lets the thread return from it. Engine thread only.
func (t *Task) emulate(act *action) {
	if err := t.beginInjection(); err != nil {
		act.abort(t)
		return // killed meanwhile: its exit report follows
	}
	ret := act.emulate(t)
	if t.dead {
		act.abort(t)
		return
	}
	t.finishInjection(ret)
	if act.onExit != nil {
		act.onExit(t, ret)
	}
	if t.s.cfg.Strace != nil {
		t.s.strace(t, act, ret)
	}
	t.s.refreshViews(act.locked)
	act.release()
	t.holder.CheckNoneHeld("return to the tracee")
	t.ptrace(unix.PTRACE_CONT, 0)
}

// isStage reports whether process pid is madvisor's pre-exec stage
// (argv[1] is StageArg or StageProcViewArg).
func isStage(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 1 && (args[1] == StageArg || args[1] == StageProcViewArg)
}
