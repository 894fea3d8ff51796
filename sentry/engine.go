package sentry

import (
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// engine owns the one locked OS thread from which every ptrace request and
// every wait4 is made: ptrace is per tracer thread, and children of traced
// threads are traced by the same thread. Tasks ask it for work through reqs.
//
// Everything in engine is confined to the engine thread except reqs.
type engine struct {
	reqs chan engineReq
	quit chan struct{}

	// tasks maps a tracee tid to its task.
	tasks map[int]*Task
	// orphans holds stops of tids whose task does not exist yet: an
	// auto-attached child can report before its parent's clone event.
	orphans map[int][]stopEvent
	// idle, if set, reports that no tracee runs (deterministic mode with
	// every thread waiting): wait4 would then never return, so the engine
	// polls instead, and requests (a forwarded signal) are served.
	idle func() bool
}

type engineReq struct {
	fn   func()
	done chan struct{} // nil: fire and forget
}

// stopEvent is one wait4 report for a tracee, with the facts the task needs
// read on the engine thread right away (saves a round trip per stop).
type stopEvent struct {
	status unix.WaitStatus
	// info is valid for seccomp and syscall stops.
	info syscallInfo
	// msg is PTRACE_GETEVENTMSG for clone/fork/vfork/exec/exit events.
	msg uint64
	// vanished: the tracee is gone without a wait report of its own (the
	// old thread-group leader replaced by an exec in another thread).
	vanished bool
}

func (ev *stopEvent) exited() bool {
	return ev.vanished || ev.status.Exited() || ev.status.Signaled()
}

// stopKind is status>>8 for a stopped tracee: the signal plus the ptrace
// event in the next byte.
func (ev *stopEvent) stopKind() int { return int(ev.status) >> 8 }

// idlePoll is how often an idle engine looks for reports and requests.
const idlePoll = 20 * time.Millisecond

func newEngine() *engine {
	return &engine{
		reqs:    make(chan engineReq, 64),
		quit:    make(chan struct{}),
		tasks:   make(map[int]*Task),
		orphans: make(map[int][]stopEvent),
	}
}

// run locks the calling goroutine to its thread, runs start on it (it
// launches the first tracee), and then serves requests and reaps stops until
// stop is called. It returns start's error, if any.
func (e *engine) run(start func() error) error {
	runtime.LockOSThread()
	// The thread stays locked: it is the tracer of every tracee and must
	// never run another goroutine's ptrace calls.
	if err := start(); err != nil {
		return err
	}
	for {
		if len(e.reqs) == 0 && e.idle != nil && e.idle() {
			e.reap()
			select {
			case r := <-e.reqs:
				e.serve(r)
			case <-e.quit:
				return nil
			case <-time.After(idlePoll):
			}
			continue
		}
		if len(e.reqs) == 0 {
			// Requests come only from shutdown, which first kills the
			// tracees, and from signals forwarded in deterministic mode:
			// block in wait4 itself. (SIGCHLD is not watched: waking a
			// goroutine per ptrace stop through the Go signal path
			// tripled the cost of an intercepted syscall.)
			if e.waitBlocking() {
				continue
			}
		}
		// No tracee left, or a request is queued.
		select {
		case r := <-e.reqs:
			e.serve(r)
			e.reap()
		case <-e.quit:
			return nil
		}
	}
}

// waitBlocking blocks in wait4 for the next report and handles it with
// everything else pending. It returns false when there is nothing to wait
// for (no tracee left).
func (e *engine) waitBlocking() bool {
	var ws unix.WaitStatus
	tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
	if errors.Is(err, unix.EINTR) {
		return true
	}
	if err != nil {
		return false
	}
	e.handleReport(tid, ws)
	e.reap()
	return true
}

func (e *engine) serve(r engineReq) {
	r.fn()
	if r.done != nil {
		r.done <- struct{}{}
	}
}

// do runs fn on the engine thread and waits for it. done is the caller's
// reusable completion channel (buffered, capacity 1).
func (e *engine) do(done chan struct{}, fn func()) {
	e.reqs <- engineReq{fn: fn, done: done}
	<-done
}

// stop ends run. Called from any goroutine.
func (e *engine) stop() { close(e.quit) }

// reap collects every pending wait4 report and hands each to its task.
// Engine thread only.
func (e *engine) reap() {
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || tid <= 0 {
			return
		}
		e.handleReport(tid, ws)
	}
}

// handleReport turns one wait4 report into a stop event for its task.
func (e *engine) handleReport(tid int, ws unix.WaitStatus) {
	ev := stopEvent{status: ws}
	if ws.Stopped() {
		switch ev.stopKind() {
		case stopSeccomp, stopSyscall:
			if err := ptraceGetSyscallInfo(tid, &ev.info); err != nil {
				// Killed while stopped: its exit report follows.
				return
			}
		case stopClone, stopFork, stopVfork, stopExec, stopExit:
			msg, err := unix.PtraceGetEventMsg(tid)
			if err != nil {
				return
			}
			ev.msg = uint64(msg)
			if ev.stopKind() == stopExec && e.threadExeced(int(msg), tid) {
				e.execRekey(int(msg), tid)
			}
		}
	}
	e.deliver(tid, ev)
}

// threadExeced reports whether an exec event of process pid whose former
// tid is old is the exec of another thread than the leader, which takes
// the leader's tid. old must be a thread of that process: an exec that
// began before the seize reports its tid in its parent's PID namespace,
// not ours (the stage under the namespace init).
func (e *engine) threadExeced(old, pid int) bool {
	t := e.tasks[old]
	return old != pid && t != nil && t.tg.pid == pid
}

// execRekey handles an exec by a non-leader thread: the exec'ing task takes
// over the leader's tid and the old leader vanishes without a report.
func (e *engine) execRekey(oldTid, pid int) {
	if leader := e.tasks[pid]; leader != nil {
		delete(e.tasks, pid)
		leader.died(stopEvent{vanished: true})
	}
	if t := e.tasks[oldTid]; t != nil {
		// The task's own tid is updated when it handles the exec event.
		delete(e.tasks, oldTid)
		e.tasks[pid] = t
	}
}

func (e *engine) deliver(tid int, ev stopEvent) {
	t := e.tasks[tid]
	if t == nil {
		if ev.exited() {
			// A child that died before its parent's clone event was
			// handled; nobody will claim it.
			delete(e.orphans, tid)
			return
		}
		e.orphans[tid] = append(e.orphans[tid], ev)
		return
	}
	if ev.exited() {
		delete(e.tasks, tid)
		t.died(ev)
		return
	}
	if d := t.s.det; d != nil {
		d.stopped(t, ev)
		return
	}
	t.handleStop(ev)
}

// addTask registers t under its tid and hands it any stop already reaped.
// Engine thread only.
func (e *engine) addTask(t *Task) {
	e.tasks[t.tid] = t
	for _, ev := range e.orphans[t.tid] {
		e.deliver(t.tid, ev)
	}
	delete(e.orphans, t.tid)
}

// killAll sends SIGKILL to every tracee and waits for them to go. Engine
// thread only.
func (e *engine) killAll() {
	for tid := range e.tasks {
		unix.Kill(tid, unix.SIGKILL)
	}
	for tid := range e.orphans {
		unix.Kill(tid, unix.SIGKILL)
	}
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		if ws.Stopped() {
			// A tracee in a stop (PTRACE_EVENT_EXIT among them) is not
			// woken by SIGKILL: let it go on to die.
			ptraceRequest(unix.PTRACE_CONT, tid, 0, 0)
			continue
		}
		if t := e.tasks[tid]; t != nil {
			delete(e.tasks, tid)
			t.died(stopEvent{status: ws})
		}
	}
}
