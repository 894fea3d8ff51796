package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/det"
	"madvisor/syscalls"
)

// Deterministic mode (madvisor run --seed): one tracee thread runs at a
// time, and every choice of which one is the det.Scheduler's, drawn from
// the seed.
//
// Every stop of a tracee is a scheduling point: the running thread's stop
// (its syscall entry, since every syscall is traced in this mode, a clone,
// an exec, a signal, a preemption) is not handled at once but kept as the
// thread's pending step; then the scheduler picks a thread with a pending
// step and only that step is carried out (the stop handled as in the
// other mode, which resumes the thread). Threads that report while they
// do not run (a new thread's first stop, a killed thread's exit stop) just
// get a pending step. So the order in which threads run is the
// scheduler's, never the host's.
//
// Nothing may block on the host while holding the run: futexes are the
// sentry's (detfutex.go), sleeps and timeouts are virtual (dettime.go),
// and a call that would block waits, stopped at its entry, until it can
// complete (detblock.go). What the sentry cannot make deterministic is
// said, never hidden: a thread that runs past its budget while others are
// waiting is stopped by a watchdog (SIGSTOP) and the run is marked
// non-deterministic on stderr and in the trace.
type detRun struct {
	s      *Sandbox
	sched  *det.Scheduler
	clock  *det.Clock
	futex  *det.Futexes
	random *det.Random
	trace  *det.TraceWriter

	// active: the program runs (deterministic mode starts at its exec;
	// madvisor's own stage before it runs freely, and its Go runtime's
	// threads, whose number varies, die at that exec).
	active bool
	// vids numbers the threads in creation order; byVid finds them.
	vids  int
	byVid map[int]*Task
	// spaces numbers the address spaces (futex keys).
	spaces uint64
	// running is the thread resumed last, nil when none runs.
	running *Task
	// dispatching guards dispatch against reentry (a stop delivered while
	// a step is carried out).
	dispatching bool
	// exits counts thread exits: the waiters of wait4 are tried again
	// only after one (detblock.go); lockEvents counts the calls that may
	// release a file lock, after which lock waiters are tried again.
	exits      int64
	lockEvents int64
	// timers are the processes' timers by clock key (negative: apart
	// from thread ids), timerKeys the last key given; timerfds are the
	// timerfds (dettimer.go).
	timers    map[int]*procTimer
	timerKeys int
	timerfds  []*timerFD
	// ownSignals counts the signals madvisor sent to each process (a
	// virtual timer's, one held during an injection and sent again) that
	// have not arrived yet: they are not signals from outside, though
	// their sender is madvisor (pid 0 seen from a PID namespace).
	ownSignals map[ownSignal]int
	// signalsSent: a signal may have become pending for a waiting thread
	// since the last scheduling point; killed are the processes a SIGKILL
	// from the program hit since, killScan that one went to a group
	// (detsignal.go).
	signalsSent bool
	killed      []*ThreadGroup
	killScan    bool
	// lost says why the run is not deterministic from some point on ("":
	// it is).
	lost string

	// The watchdog's view of the running thread (it is a goroutine).
	wdTid    atomic.Int64 // the running tid, 0 when none
	wdPid    atomic.Int64 // its process's pid
	wdSince  atomic.Int64 // when it was resumed (UnixNano)
	wdOthers atomic.Bool  // others are waiting to run
	wdTimers atomic.Bool  // a virtual timer is armed (a spin may wait for it)
	wdSent   atomic.Int64 // the tid the watchdog stopped, 0 if none
	wdQuit   chan struct{}
}

// detTask is a thread's deterministic-mode state. Engine thread only.
type detTask struct {
	vid int
	// step is what runs when the scheduler picks the thread (handle its
	// pending stop, answer its call, let it go on); nil while the thread
	// runs or waits.
	step func()
	// what is what it stopped at, for the trace.
	what string
	// waits says what it waits for ("futex", "timer", "fd 3"...), "" if
	// it does not; ready, if set, is checked at each scheduling point and
	// returns the step that ends the wait once it is over.
	waits string
	ready func() (step func(), ok bool)
	// timeout is the step that ends the wait when its timer fires.
	timeout func()
	// onSignal, if set, is the step that ends the wait when a signal
	// interrupts it (else the call runs on the host: detsignal.go).
	onSignal func()
	// clearTid is CLONE_CHILD_CLEARTID / set_tid_address's address: at the
	// thread's exit its futex is woken.
	clearTid uint64
	// preempt is chaos's preemption of the thread inside syscall-free
	// code (detpreempt.go).
	preempt preemptState
	// dying: its process is exiting (exit_group); it never runs again,
	// and its stops are let go at once so that it dies.
	dying bool
	// vforked: it made a vfork and waits in the host for its child's exec
	// or exit: resumed but not running (its child runs), until its
	// PTRACE_EVENT_VFORK_DONE stop.
	vforked bool
	// nsTid is its tid in the program's PID namespace (pidns.go).
	nsTid int
	// execed: it has exec'd a program that has made no syscall yet. A
	// SIGURG pending then was sent by the image it replaced (a Go
	// runtime's preemption signal, madvisor's own stage's first of all),
	// which a host delivers at a time of its own: it is dropped.
	execed bool
}

// watchdogBudget is how long a thread may run without a scheduling point
// while others wait before the watchdog stops it.
const watchdogBudget = 2 * time.Second

func newDetRun(s *Sandbox, cfg *DetConfig) *detRun {
	d := &detRun{
		s:      s,
		sched:  det.NewScheduler(cfg.Seed, cfg.Chaos),
		clock:  det.NewClock(),
		futex:  det.NewFutexes(),
		random: det.NewRandom(cfg.Seed),
		byVid:  map[int]*Task{},
		wdQuit: make(chan struct{}),
		timers: map[int]*procTimer{}, ownSignals: map[ownSignal]int{},
	}
	if cfg.Trace != nil {
		d.trace = det.NewTraceWriter(cfg.Trace)
	}
	go d.watchdog()
	return d
}

// close ends the run: the watchdog stops, the trace is flushed, and a run
// that lost its determinism says so once more.
func (d *detRun) close() {
	close(d.wdQuit)
	d.closeTimerfds()
	if d.trace != nil {
		d.trace.Close()
	}
	if d.lost != "" {
		d.s.logf("this run was NOT deterministic: %s", d.lost)
	}
}

// activate starts deterministic mode at the program's exec, in the
// thread t that made it (the only one left): it is thread 1, and runs.
func (d *detRun) activate(t *Task) {
	d.active = true
	d.adopt(t)
	if d.s.nsInit != 0 && t.det.nsTid != programPid {
		d.loseDeterminism(fmt.Sprintf("the program is pid %d of its namespace, not %d (a thread of madvisor's stage took a pid)", t.det.nsTid, programPid))
	}
	d.setRunning(t)
}

// adopt gives a new task its virtual id, in creation order. It can run
// from now on: if its first stop has not been reported yet, its step
// waits for it (the host's timing of that report must not change which
// threads can run).
func (d *detRun) adopt(t *Task) {
	if !d.active {
		return
	}
	d.vids++
	t.det = &detTask{vid: d.vids, what: "start"}
	t.det.nsTid = d.s.namespaceTid(t.tid)
	d.byVid[d.vids] = t
	d.sched.Created(d.vids)
	t.det.step = func() { d.awaitStop(t) }
}

// awaitStop waits for t's next report and carries out the step it
// brings. Engine thread only.
func (d *detRun) awaitStop(t *Task) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(t.tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		break
	}
	t.s.eng.handleReport(t.tid, ws)
	if step := t.det.step; step != nil && !t.dead {
		t.det.step = nil
		step()
	}
}

// GroupExit implements syscalls.Context: the other threads of t's process
// will die (exit_group) without running again.
func (t *Task) GroupExit() {
	d := t.detRun()
	if d == nil {
		return
	}
	for _, u := range d.byVid {
		if u.tg == t.tg && u != t {
			d.unblock(u, nil)
			u.det.dying = true
		}
	}
}

// detRun returns the deterministic run t takes part in: nil in the other
// mode, and for madvisor's own stage (whose threads may still report
// after the program's exec began the run).
func (t *Task) detRun() *detRun {
	if t.det == nil {
		return nil
	}
	return t.s.det
}

// spaceID numbers an address space for futex keys.
func (d *detRun) spaceID(as *AddressSpace) uint64 {
	if as.id == 0 {
		d.spaces++
		as.id = d.spaces
	}
	return as.id
}

// stopped takes a stop of t: t's pending step, and a scheduling point if
// t was the running thread. Engine thread only.
func (d *detRun) stopped(t *Task, ev stopEvent) {
	if t.det == nil {
		t.handleStop(ev) // the stage, before the program's exec
		return
	}
	if d.running != t && (t.det.dying || ev.stopKind() == stopExit) {
		// Killed while it did not run (exit_group, an exec in another
		// thread, SIGKILL): it dies without running program code, and
		// an exec waits for it. Its old pending step is void.
		d.unblock(t, nil)
		t.det.dying = true
		t.ptrace(unix.PTRACE_CONT, 0)
		return
	}
	if t.det.execed {
		switch ev.stopKind() {
		case int(unix.SIGURG):
			t.ptrace(unix.PTRACE_CONT, 0) // not delivered, not a scheduling point
			return
		case stopSeccomp:
			t.det.execed = false
			if d.hideRandomInstructions(t) {
				return // its syscall runs again: the same stop comes back
			}
		}
	}
	if d.preemptStop(t, ev) {
		return // chaos's stepping goes on
	}
	if d.watchdogStop(t, ev) {
		return
	}
	if d.rdtscStop(t, ev) {
		return
	}
	d.checkSignalSource(t, ev)
	t.det.what = stopName(t, ev)
	t.det.step = func() { t.handleStop(ev) }
	if d.running == t {
		d.setRunning(nil)
	}
	d.dispatch()
}

// exited forgets a dead task and wakes the futex of its clear-tid address
// (the kernel wrote 0 there and woke its own waiters, which are not the
// sentry's).
func (d *detRun) exited(t *Task) {
	if t.det == nil {
		return
	}
	dt := t.det
	delete(d.byVid, dt.vid)
	d.sched.Exited(dt.vid)
	d.futex.Cancel(dt.vid)
	d.clock.Cancel(dt.vid)
	d.exits++
	if t.tid == t.tg.pid {
		d.processTimersGone(t.tg, true)
	}
	// SIGCHLD; a parent-death signal (it follows the exit of the thread that
	// made the child, not only its process's).
	d.signalsSent = true
	d.robustDeath()
	if dt.clearTid != 0 && t.tg.mm != nil {
		d.wake(d.futexKey(t, dt.clearTid, false), 1, ^uint32(0))
	}
	if d.running == t {
		d.setRunning(nil)
		t.det.what = "exit"
	}
	d.dispatch()
}

// setRunning records the running thread (also for the watchdog).
func (d *detRun) setRunning(t *Task) {
	d.running = t
	if t == nil {
		d.wdTid.Store(0)
		return
	}
	d.wdSince.Store(time.Now().UnixNano())
	d.wdPid.Store(int64(t.tg.pid))
	d.wdTid.Store(int64(t.tid))
}

// runnable returns the tasks with a pending step, by virtual id.
func (d *detRun) runnable() []int {
	var vids []int
	for vid, t := range d.byVid {
		if !t.dead && t.det.step != nil {
			vids = append(vids, vid)
		}
	}
	slices.Sort(vids)
	return vids
}

// dispatch runs pending steps, the scheduler's pick each time, until a
// thread runs (or none can). Engine thread only.
func (d *detRun) dispatch() {
	if d.dispatching || d.running != nil {
		return
	}
	d.dispatching = true
	defer func() { d.dispatching = false }()
	var cur *Task
	for d.running == nil {
		d.clock.Tick()
		d.pollWaits()
		vids := d.runnable()
		if len(vids) == 0 {
			if d.clock.Advance() {
				continue // every thread waits for a timer: time jumps
			}
			return // nothing can run until the host says something
		}
		curVid := 0
		if cur != nil && !cur.dead {
			curVid = cur.det.vid
		}
		vid := d.sched.Pick(curVid, vids)
		t := d.byVid[vid]
		d.record(t, vids)
		step := t.det.step
		t.det.step = nil
		t.resumed = false
		d.prepareResume(t, len(vids)-1)
		step()
		if t.det.vforked {
			t.det.vforked = false // its VFORK_DONE stop makes it runnable
			cur = t
			continue
		}
		if t.resumed && !t.dead {
			d.setRunning(t)
			d.wdOthers.Store(len(vids) > 1)
			d.wdTimers.Store(d.clock.Armed())
		}
		cur = t
	}
}

// record writes the scheduling point to the trace.
func (d *detRun) record(next *Task, runnable []int) {
	if d.trace == nil {
		return
	}
	d.trace.Write(det.Event{Index: d.sched.Step(), Vid: next.det.vid, What: next.det.what,
		Time: d.clock.Monotonic(), Runnable: runnable, Note: d.lostNote()})
}

func (d *detRun) lostNote() string {
	if d.lost == "" {
		return ""
	}
	return "determinism lost: " + d.lost
}

// loseDeterminism marks the run non-deterministic from now on and says so.
func (d *detRun) loseDeterminism(why string) {
	if d.lost == "" {
		d.lost = fmt.Sprintf("%s at event %d", why, d.sched.Step())
		d.s.logf("determinism lost: %s", d.lost)
	}
}

// block makes t wait, stopped at its syscall entry: ready (if set) says,
// at each scheduling point, whether the wait is over; a deadline (if not
// 0, monotonic virtual nanoseconds) ends it with timeout.
func (d *detRun) block(t *Task, waits string, ready func() (func(), bool), deadline int64, timeout func()) syscalls.Plan {
	dt := t.det
	dt.waits, dt.ready, dt.timeout = waits, ready, timeout
	if deadline != 0 {
		d.clock.Sleep(dt.vid, deadline)
	}
	return syscalls.Plan{Block: true}
}

// unblock ends t's wait: step runs when the scheduler picks it.
func (d *detRun) unblock(t *Task, step func()) {
	dt := t.det
	d.clock.Cancel(dt.vid)
	d.futex.Cancel(dt.vid)
	dt.waits, dt.ready, dt.timeout, dt.onSignal = "", nil, nil, nil
	dt.what = "wake"
	dt.step = step
}

// emulated is the Plan of a call deterministic mode answers itself, with
// ret.
func emulated(ret int64) (syscalls.Plan, bool) {
	return syscalls.Plan{Emulate: func() int64 { return ret }}, true
}

// answer is a blocked call's end: it returns ret to the program.
func (t *Task) answer(ret int64) func() {
	return func() {
		if t.beginInjection() != nil {
			return
		}
		t.finishInjection(ret)
		t.ptrace(unix.PTRACE_CONT, 0)
	}
}

// pollWaits ends the waits that are over: timers that fired, and waits
// whose readiness check says so (in virtual id order: deterministic).
func (d *detRun) pollWaits() {
	if d.signalsSent {
		d.signalsSent = false
		d.settleKills()
		d.interruptWaits()
	}
	for _, vid := range d.clock.Expired() {
		if vid < 0 {
			d.fireTimer(vid)
			continue
		}
		if t := d.byVid[vid]; t != nil && t.det.timeout != nil {
			d.unblock(t, t.det.timeout)
			t.det.what = "timeout"
		}
	}
	var vids []int
	for vid, t := range d.byVid {
		if t.det.ready != nil {
			vids = append(vids, vid)
		}
	}
	slices.Sort(vids)
	for _, vid := range vids {
		t := d.byVid[vid]
		if step, ok := t.det.ready(); ok {
			d.unblock(t, step)
		}
	}
}

// checkSignalSource marks the run non-deterministic when a signal from
// outside the sandbox (a process that is not one of its tracees; madvisor
// forwarding one, with kill(2), included) reaches the program: when it
// arrives is the host's timing.
func (d *detRun) checkSignalSource(t *Task, ev stopEvent) {
	sig := ev.status.StopSignal()
	if !ev.status.Stopped() || ev.stopKind() != int(sig) || sig == unix.SIGTRAP {
		return // not a signal-delivery stop
	}
	var si [128]byte
	if ptraceRequest(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0]))) != nil {
		return
	}
	code := int32(binary.LittleEndian.Uint32(si[8:]))
	if code > 0 {
		return // the kernel's (a fault, SIGCHLD...): the program's own doing
	}
	pid := int(int32(binary.LittleEndian.Uint32(si[16:]))) // si_pid of SI_USER, SI_TKILL, SI_QUEUE
	const siTkill, siUser = -6, 0
	own := ownSignal{t.tg.pid, sig}
	// madvisor's own: a timer's (SI_TIMER has no sender), or sent by
	// madvisor's pid, which is 0 seen from a PID namespace.
	mine := code == siTimer || (code == siTkill || code == siUser) && (pid == os.Getpid() || pid == 0 && d.s.nsInit != 0)
	if mine && d.ownSignals[own] > 0 {
		d.ownSignals[own]--
		return
	}
	if d.s.programTask(pid) == nil {
		d.loseDeterminism(fmt.Sprintf("signal %s from pid %d outside the sandbox", unix.SignalName(sig), pid))
	}
}

// ownSignal is a signal madvisor sent to a process (by its host pid).
type ownSignal struct {
	pid int
	sig unix.Signal
}

// sendOwnSignal sends sig to thread tid of process pid for madvisor (tid
// 0: to the process), with the siginfo info if set (a timer's), counted
// so that it is not taken for a signal from outside.
func (d *detRun) sendOwnSignal(pid, tid int, sig unix.Signal, info []byte) {
	d.ownSignals[ownSignal{pid, sig}]++
	d.signalsSent = true
	switch {
	case info != nil && tid == 0:
		unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&info[0])))
	case info != nil:
		unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(pid), uintptr(tid), uintptr(sig), uintptr(unsafe.Pointer(&info[0])), 0, 0)
	case tid == 0:
		unix.Kill(pid, sig)
	default:
		unix.Tgkill(pid, tid, sig)
	}
}

// idle reports, for the engine, that the program's threads all wait:
// nothing runs until a request (a forwarded signal) or a host event.
func (d *detRun) idle() bool { return d.active && d.running == nil && !d.dispatching }

// outsideSignal forwards a signal madvisor received to process pid: the
// run is no longer deterministic, and the process's waiting threads get
// EINTR, as a signal interrupts their waits on a kernel, so that it is
// delivered (madvisor's futexes and timers hold them stopped otherwise).
// Engine thread only.
func (d *detRun) outsideSignal(pid int, sig unix.Signal) {
	d.loseDeterminism(fmt.Sprintf("signal %s forwarded from outside the sandbox", unix.SignalName(sig)))
	unix.Kill(pid, sig)
	for _, t := range d.byVid {
		if t.tg.pid == pid && t.det.step == nil && (t.det.waits != "" || d.futex.Waiting(t.det.vid)) {
			d.unblock(t, t.answer(-int64(unix.EINTR)))
		}
	}
	d.dispatch()
}

// stopName is what a stop is, for the trace.
func stopName(t *Task, ev stopEvent) string {
	switch k := ev.stopKind(); k {
	case stopSeccomp:
		return syscalls.Name(uintptr(ev.info.Nr))
	case stopSyscall:
		return "syscall-exit"
	case stopClone, stopFork, stopVfork:
		return "clone"
	case stopExec:
		return "exec"
	case stopExit:
		return "exit"
	default:
		if sig := ev.status.StopSignal(); k == int(sig)|unix.PTRACE_EVENT_STOP<<8 {
			return "start"
		}
		return "signal " + unix.SignalName(ev.status.StopSignal())
	}
}

// watchdog stops a thread that has run past its budget while others wait
// or a virtual timer is armed (a spin lock, a busy loop waiting for a
// flag or an alarm): a SIGSTOP, which the engine takes back
// (watchdogStop). The run then is not deterministic.
func (d *detRun) watchdog() {
	tick := time.NewTicker(watchdogBudget / 4)
	defer tick.Stop()
	for {
		select {
		case <-d.wdQuit:
			return
		case <-tick.C:
		}
		tid := d.wdTid.Load()
		if tid == 0 || !d.wdOthers.Load() && !d.wdTimers.Load() || d.wdSent.Load() != 0 {
			continue
		}
		if time.Since(time.Unix(0, d.wdSince.Load())) < watchdogBudget {
			continue
		}
		d.wdSent.Store(tid)
		// A thread-directed stop: the sentry takes it back at its
		// signal-delivery stop (watchdogStop), before any group stop.
		unix.Tgkill(int(d.wdPid.Load()), int(tid), unix.SIGSTOP)
	}
}

// interruptedCall names the system call a signal interrupted in t, at its
// signal-delivery stop: the call's return value is one of the kernel's
// restart codes, which only a call interrupted by a signal leaves.
func interruptedCall(t *Task) (string, bool) {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil || int64(regs.Orig_rax) < 0 {
		return "", false
	}
	const erestartsys, erestartRestartblock = 512, 516
	if ret := -int64(regs.Rax); ret < erestartsys || ret > erestartRestartblock {
		return "", false
	}
	return syscalls.Name(uintptr(regs.Orig_rax)), true
}

// watchdogStop takes the watchdog's SIGSTOP back: the thread is preempted
// where it was, a scheduling point the seed did not choose.
func (d *detRun) watchdogStop(t *Task, ev stopEvent) bool {
	if int64(t.tid) != d.wdSent.Load() || ev.stopKind() != int(unix.SIGSTOP) {
		return false
	}
	d.wdSent.Store(0)
	why := fmt.Sprintf("ran %v without a scheduling point", watchdogBudget)
	if call, ok := interruptedCall(t); ok {
		why = fmt.Sprintf("waited %v in %s on the host (a call deterministic mode does not make a readiness check)", watchdogBudget, call)
	}
	d.loseDeterminism(fmt.Sprintf("thread %d %s while others waited or a timer was armed (timer preemption)", t.det.vid, why))
	// A spin may wait for virtual time to pass (a signal from an alarm):
	// time jumps to the next timer.
	d.clock.Advance()
	t.det.what = "watchdog preemption"
	t.det.step = func() { t.ptrace(unix.PTRACE_CONT, 0) }
	if d.running == t {
		d.setRunning(nil)
	}
	d.dispatch()
	return true
}
