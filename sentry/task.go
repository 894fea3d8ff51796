package sentry

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Task is one tracee thread. Its goroutine handles the thread's stops: it
// decides what each intercepted syscall does and asks the engine to resume
// the thread. Every blocking point goes through the sandbox's Scheduler.
type Task struct {
	s *Sandbox
	// tid is the thread id; it changes only when a non-leader thread execs
	// (it takes the leader's tid). Confined to the task goroutine after
	// start.
	tid int
	tg  *ThreadGroup

	// events receives the thread's wait reports from the engine.
	events chan stopEvent
	// done is the completion channel reused for engine.do calls.
	done chan struct{}
	// attached: the thread's first stop has been seen (auto-attached
	// children start with a PTRACE_EVENT_STOP that is not a group stop).
	attached bool
	// dead: the thread is gone; the goroutine ends.
	dead bool

	// mu protects the fields read by the task dump (SIGUSR1).
	mu      sync.Mutex
	waiting string
	syscall string
}

// ThreadGroup is a process: the threads sharing a pid, and its address
// space (shared with other processes by CLONE_VM without CLONE_THREAD).
type ThreadGroup struct {
	pid int
	// mm is the process's address space. Changed only at exec, by the
	// exec'ing task, while the other threads are gone.
	mm *AddressSpace
	// exitStatus is the leader's final wait status.
	exitStatus unix.WaitStatus
}

func (s *Sandbox) newTask(tid int, tg *ThreadGroup) *Task {
	return &Task{
		s:      s,
		tid:    tid,
		tg:     tg,
		events: make(chan stopEvent, 8),
		done:   make(chan struct{}, 1),
	}
}

func (t *Task) String() string { return fmt.Sprintf("task %d (pid %d)", t.tid, t.tg.pid) }

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
	state := "running"
	if t.waiting != "" {
		state = "waiting: " + t.waiting
	}
	line := fmt.Sprintf("task tid=%d pid=%d %s", t.tid, t.tg.pid, state)
	if t.syscall != "" {
		line += "; in " + t.syscall
	}
	return line
}

// nextEvent waits for the thread's next wait report.
func (t *Task) nextEvent() stopEvent {
	var ev stopEvent
	t.s.sched.Block(t, "tracee stop", func() { ev = <-t.events })
	return ev
}

// resume restarts the stopped thread with the given ptrace request and
// signal, without waiting. An error (the thread was killed meanwhile) is
// ignored: its exit report follows.
func (t *Task) resume(req int, sig unix.Signal) {
	tid := t.tid
	t.s.eng.post(func() { ptraceRequest(req, tid, 0, uintptr(sig)) })
}

// onEngine runs fn on the engine thread and waits for it.
func (t *Task) onEngine(fn func()) { t.s.eng.do(t.done, fn) }

// run is the task's goroutine.
func (t *Task) run() {
	t.s.sched.Started(t)
	defer t.s.sched.Exited(t)
	defer t.s.taskGone(t)
	for {
		ev := t.nextEvent()
		if ev.exited() {
			t.exited(ev)
			return
		}
		t.handleStop(ev)
		if t.dead {
			return
		}
	}
}

// handleStop deals with one stop outside a syscall handler and resumes the
// thread.
func (t *Task) handleStop(ev stopEvent) {
	sig := ev.status.StopSignal()
	switch ev.stopKind() {
	case stopSeccomp:
		t.attached = true
		t.handleSyscall(&ev.info)
	case stopSyscall:
		// Only reached if a handler left PTRACE_SYSCALL armed; nothing to do.
		t.resume(unix.PTRACE_CONT, 0)
	case stopClone, stopFork, stopVfork:
		// A clone the filter did not show us (it traces them all, so this
		// is a bug or an unknown ABI): adopt the child with defaults.
		t.adoptChild(ev, cloneRelation(ev.stopKind(), 0))
		t.resume(unix.PTRACE_CONT, 0)
	case stopExec:
		t.execed(ev)
		t.resume(unix.PTRACE_CONT, 0)
	case stopExit:
		t.resume(unix.PTRACE_CONT, 0)
	case int(sig) | unix.PTRACE_EVENT_STOP<<8:
		t.eventStop(sig)
	default:
		t.attached = true
		// A signal-delivery stop: forward the signal unchanged.
		t.resume(unix.PTRACE_CONT, sig)
	}
}

// eventStop handles PTRACE_EVENT_STOP: the first stop of an auto-attached
// child, a group stop (kept stopped with PTRACE_LISTEN until SIGCONT), or
// the wake-up after one.
func (t *Task) eventStop(sig unix.Signal) {
	if !t.attached {
		t.attached = true
		t.resume(unix.PTRACE_CONT, 0)
		return
	}
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		t.resume(unix.PTRACE_LISTEN, 0)
	default:
		t.resume(unix.PTRACE_CONT, 0)
	}
}

// exited handles the thread's final report.
func (t *Task) exited(ev stopEvent) {
	if !ev.vanished && t.tid == t.tg.pid {
		t.tg.exitStatus = ev.status
		t.s.processExited(t.tg)
	}
}
