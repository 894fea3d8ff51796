package sentry

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/lockdep"
)

// Task is one tracee thread.
//
// A task's work runs on the engine thread: the engine reaps the stop and
// calls the task's handler inline, which decides and resumes the thread. A
// task that must wait (a contended mmap_lock) stays in its tracee stop and
// queues; the Scheduler picks who goes next. On these machines a goroutine
// hand-off costs 30-90 µs, more than the ptrace stop itself (README,
// performance), so no task work goes through a goroutine.
type Task struct {
	s *Sandbox
	// tid is the thread id; it changes only when a non-leader thread execs
	// (it takes the leader's tid).
	tid int
	tg  *ThreadGroup
	// holder is the task's held-lock stack for lockdep.
	holder *lockdep.Holder

	// The fields below are confined to the engine thread.

	// locks and kapi are the lock trace and the --kapi-verify record of
	// the task's current madvise, reused call after call.
	locks lockTrace
	kapi  kapiCall

	// attached: the thread's first stop has been seen (auto-attached
	// children start with a PTRACE_EVENT_STOP that is not a group stop).
	attached bool
	// dead: the thread is gone.
	dead bool
	// pending is the syscall the thread is executing on the host, resumed
	// with PTRACE_SYSCALL so that its exit stop is seen (valid while
	// watching). A value, not a pointer: the per-syscall path allocates
	// nothing for it.
	pending  call
	watching bool
	// inj is the syscall being answered by injected host syscalls.
	inj *injection
	// det is the task's deterministic-mode state (nil in the other mode).
	det *detTask
	// resumed: the last resumption request succeeded (deterministic mode
	// learns from it whether a step left the thread running).
	resumed bool
	// forkFix is what a forked child's host memory needs at its first
	// stop under guard or wipe-on-fork emulation (guardemu.go).
	forkFix *hostmm.ForkFix
	// persona is the thread's personality(2) flags as far as the model
	// needs them (READ_IMPLIES_EXEC): inherited by clone, the flag
	// dropped by exec (syscalls.Persona).
	persona uint32
	// gpSiginfo: the next SIGSEGV is the fault of a refused int $0x80,
	// whose siginfo the sentry writes (bypass.go).
	gpSiginfo bool

	// mu protects the fields read by the task dump (SIGUSR1).
	mu      sync.Mutex
	waiting string
	syscall string
}

// ThreadGroup is a process: the threads sharing a pid, and its address
// space (shared with other processes by CLONE_VM without CLONE_THREAD).
type ThreadGroup struct {
	pid int
	// mm is the process's address space, replaced at exec. Engine thread.
	mm *AddressSpace
	// exitStatus is the leader's final wait status.
	exitStatus unix.WaitStatus
	// itimers are the process's interval timers (ITIMER_REAL, VIRTUAL,
	// PROF) in deterministic mode's virtual time, nil if never armed;
	// posixTimers are its timer_create timers by id, nextTimerID the next
	// id (dettimer.go). Engine thread.
	itimers     [3]*procTimer
	posixTimers map[int]*posixTimer
	nextTimerID int
	// pidfdNr is a pidfd of the process plus one (0: none open yet);
	// deterministic mode polls copies of its fds through it. Engine
	// thread.
	pidfdNr int
	// readTraps are the fd numbers whose read(2)/write(2) the process's
	// seccomp filters trap (fdtrap.go). Filters outlive exec and are
	// inherited by children, and so is this set. Engine thread.
	readTraps map[int]bool
	// uffdTrap: the process's filters trace its fd drops (uffd.go). Like
	// readTraps, inherited by children and kept across exec. Engine
	// thread.
	uffdTrap bool
	// hostMaps is the process's /proc/PID/maps, held open from its
	// first use until exec or exit (mapsFile). Engine thread.
	hostMaps *os.File
}

func (s *Sandbox) newTask(tid int, tg *ThreadGroup) *Task {
	return &Task{s: s, tid: tid, tg: tg, holder: lockdep.NewHolder("task", tid)}
}

func (t *Task) setWaiting(reason string) {
	t.mu.Lock()
	t.waiting = reason
	t.mu.Unlock()
}

func (t *Task) setSyscall(s string) {
	t.mu.Lock()
	t.syscall = s
	t.mu.Unlock()
}

// describe is one line of the task dump.
func (t *Task) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	state := "tracee running or stopped"
	if t.waiting != "" {
		state = "blocked on " + t.waiting
	}
	line := fmt.Sprintf("task tid=%d pid=%d: %s", t.tid, t.tg.pid, state)
	if t.syscall != "" {
		line += "; last intercepted syscall: " + t.syscall
	}
	return line
}

// ptrace issues a resumption request. Engine thread only. An error (the
// thread was killed meanwhile) is ignored: its exit report follows.
func (t *Task) ptrace(req int, sig unix.Signal) {
	req = t.resumeRequest(req)
	if ptraceRequest(req, t.tid, 0, uintptr(sig)) == nil && req != unix.PTRACE_LISTEN {
		t.resumed = true
	}
}

// resumeMode is how to restart the thread after a stop in the middle of a
// syscall: keep watching for its exit stop if one is pending.
func (t *Task) resumeMode() int {
	if t.watching {
		return unix.PTRACE_SYSCALL
	}
	return unix.PTRACE_CONT
}

// handleStop deals with one stop. Engine thread only.
func (t *Task) handleStop(ev stopEvent) {
	sig := ev.status.StopSignal()
	switch ev.stopKind() {
	case stopSeccomp:
		t.attached = true
		c := t.syscallEntry(&ev.info)
		if c.Block {
			return // deterministic mode holds it until its call can complete
		}
		if c.Wait != nil {
			// Wait on the engine thread, in FIFO order: a goroutine
			// hand-off per contended call costs more than the call.
			t.setWaiting("mmap_lock (write)")
			c.Wait.Model().Lock.Enqueue(&waiter{t, ev})
			return
		}
		t.apply(c)
	case stopSyscall:
		if t.watching && ev.info.Op == syscallInfoExit {
			t.watching = false
			t.pending.exit(t, ev.info.rval())
			t.pending = call{}
		}
		t.ptrace(t.resumeMode(), 0)
	case stopClone, stopFork, stopVfork:
		if t.watching && t.pending.Clone != nil {
			// The child's model is copied while the parent's is locked;
			// then the parent's threads may go on.
			child := t.adoptChild(int(ev.msg), cloneRelation(ev.stopKind(), t.pending.Clone.Flags))
			if child.det != nil && t.det != nil {
				child.det.clearTid = t.pending.Clone.ChildTid
				t.det.vforked = ev.stopKind() == stopVfork
			}
			t.pending.release()
		} else {
			// A clone the filter did not show us: adopt the child.
			t.adoptChild(int(ev.msg), cloneRelation(ev.stopKind(), 0))
		}
		t.ptrace(t.resumeMode(), 0)
	case stopExec:
		t.execed(ev)
		t.ptrace(t.resumeMode(), 0)
	case stopVforkDone:
		t.ptrace(t.resumeMode(), 0)
	case stopExit:
		t.ptrace(t.resumeMode(), 0)
	case int(sig) | unix.PTRACE_EVENT_STOP<<8:
		t.eventStop(sig)
	default:
		t.attached = true
		// A signal-delivery stop: forward the signal (a touch of an
		// emulated guard page gets a real marker's si_code).
		switch {
		case sig == unix.SIGSEGV && t.gpSiginfo:
			t.fixFaultSiginfo()
		case sig == unix.SIGSEGV && t.s.emulating(hostmm.EmulateGuard):
			if t.growGuardedStack() {
				sig = 0 // the access runs again
				break
			}
			t.fixGuardSiginfo()
		}
		t.ptrace(t.resumeMode(), sig)
	}
}

// eventStop handles PTRACE_EVENT_STOP: the first stop of an auto-attached
// child, a group stop (kept stopped with PTRACE_LISTEN until SIGCONT), or
// the wake-up after one.
func (t *Task) eventStop(sig unix.Signal) {
	if !t.attached {
		t.attached = true
		if t.forkFix != nil {
			t.applyForkFix()
		}
		t.ptrace(unix.PTRACE_CONT, 0)
		return
	}
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		t.ptrace(unix.PTRACE_LISTEN, 0)
	default:
		t.ptrace(t.resumeMode(), 0)
	}
}

// died handles the thread's final report. Engine thread only.
func (t *Task) died(ev stopEvent) {
	t.dead = true
	if t.watching {
		t.watching = false
		t.pending.release()
		t.pending = call{}
	}
	if !ev.vanished && t.tid == t.tg.pid {
		t.tg.closeHostMaps()
		if t.tg.pidfdNr != 0 {
			unix.Close(t.tg.pidfdNr - 1)
			t.tg.pidfdNr = 0
		}
		t.tg.exitStatus = ev.status
		t.s.processExited(t.tg)
	}
	if t.s.uffd.used {
		// Its files are closed: a userfaultfd may be released.
		t.s.uffdReleased(t)
	}
	t.s.taskGone(t)
}
