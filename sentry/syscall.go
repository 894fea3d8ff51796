package sentry

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// handleSyscall answers one intercepted syscall (the thread is in its
// seccomp stop) and resumes the thread.
func (t *Task) handleSyscall(si *syscallInfo) {
	if si.Arch != auditArchX86_64 {
		// int 0x80 from a 64-bit process: not modeled. Let it run.
		t.s.warnOnce("foreign-abi", "pid %d made a 32-bit syscall (%d) through int 0x80; it runs unmodeled", t.tg.pid, si.Nr)
		t.resume(unix.PTRACE_CONT, 0)
		return
	}
	switch si.Nr {
	case unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_FORK, unix.SYS_VFORK:
		t.doClone(si)
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT:
		// The exec event (PTRACE_EVENT_EXEC) rebuilds the model.
		t.resume(unix.PTRACE_CONT, 0)
	default:
		t.resume(unix.PTRACE_CONT, 0)
	}
}

// awaitSyscallExit lets the thread's current syscall run on the host and
// waits for its syscall-exit stop, handling the events that can come first
// (clone events go to onClone). It returns the syscall's return value, and
// false if the thread died instead; the thread is left stopped at the exit
// stop.
func (t *Task) awaitSyscallExit(onClone func(ev stopEvent)) (int64, bool) {
	t.resume(unix.PTRACE_SYSCALL, 0)
	for {
		ev := t.nextEvent()
		if ev.exited() {
			t.exited(ev)
			t.dead = true
			return 0, false
		}
		switch ev.stopKind() {
		case stopSyscall:
			if ev.info.Op == syscallInfoExit {
				return ev.info.rval(), true
			}
			t.resume(unix.PTRACE_SYSCALL, 0)
		case stopClone, stopFork, stopVfork:
			if onClone != nil {
				onClone(ev)
			} else {
				t.adoptChild(ev, cloneRelation(ev.stopKind(), 0))
			}
			t.resume(unix.PTRACE_SYSCALL, 0)
		case stopExec:
			t.execed(ev)
			t.resume(unix.PTRACE_SYSCALL, 0)
		case stopSeccomp:
			// Not expected between a seccomp stop and its exit; keep going.
			t.resume(unix.PTRACE_SYSCALL, 0)
		default:
			// Exit events and anything else: the syscall is still ours.
			sig := unix.Signal(0)
			if ev.stopKind() == int(ev.status.StopSignal()) {
				sig = ev.status.StopSignal()
			}
			t.resume(unix.PTRACE_SYSCALL, sig)
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
		// Unknown flags, and the kernel reported a plain clone: a thread
		// is the usual case.
		return cloneThread
	}
	return cloneFork
}

// cloneFlags decodes the clone flags of clone, clone3, fork or vfork.
func (t *Task) cloneFlags(si *syscallInfo) uint64 {
	switch si.Nr {
	case unix.SYS_FORK:
		return uint64(unix.SIGCHLD)
	case unix.SYS_VFORK:
		return unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)
	case unix.SYS_CLONE3:
		var b [8]byte
		if err := t.readMem(si.Args[0], b[:]); err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	return si.Args[0]
}

// doClone runs a clone-family syscall. A fork copies the model while the
// parent's mm is write-locked from the syscall's entry to the fork event,
// so no other thread's memory syscall can slip between the host's copy and
// the model's.
func (t *Task) doClone(si *syscallInfo) {
	flags := t.cloneFlags(si)
	var locked *AddressSpace
	if flags&unix.CLONE_VM == 0 && si.Nr != unix.SYS_VFORK {
		locked = t.tg.mm
		locked.Lock(t)
	}
	unlock := func() {
		if locked != nil {
			locked.Unlock(t)
			locked = nil
		}
	}
	_, ok := t.awaitSyscallExit(func(ev stopEvent) {
		t.adoptChild(ev, cloneRelation(ev.stopKind(), flags))
		unlock()
	})
	unlock()
	if ok {
		t.resume(unix.PTRACE_CONT, 0)
	}
}

// adoptChild creates the task of a new thread or process reported by a
// clone/fork/vfork event.
func (t *Task) adoptChild(ev stopEvent, kind cloneKind) {
	tid := int(ev.msg)
	tg := t.tg
	switch kind {
	case cloneShareVM:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm}
	case cloneFork:
		tg = &ThreadGroup{pid: tid, mm: t.tg.mm.forkLocked(t)}
	}
	child := t.s.newTask(tid, tg)
	t.onEngine(func() { t.s.startTask(child) })
}

// execed handles PTRACE_EVENT_EXEC: the thread now runs a new program in a
// new address space (and, if it was not the leader, under the leader's tid).
func (t *Task) execed(ev stopEvent) {
	t.tid = t.tg.pid
	t.tg.mm = t.s.newAddressSpaceFromHost(t)
}
