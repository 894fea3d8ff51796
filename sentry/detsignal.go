package sentry

import (
	"maps"
	"slices"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// Signals that end a wait in deterministic mode. A thread that waits in
// the sentry (a futex, a sleep, a readiness check) is stopped, not in the
// host's wait, so a signal sent to it would not interrupt the wait as on
// a kernel. After each event that may have made a signal pending (a kill
// or tgkill by the program, a virtual timer's signal, a thread's exit and
// its SIGCHLD), the next scheduling point looks at the waiting threads'
// pending signals (/proc/TID/status) and ends the waits a signal would
// interrupt: the call then runs on the host, which sees the signal
// pending and returns at once the kernel's way (restarted after a handler
// with SA_RESTART, else EINTR).

// SignalSent implements syscalls.Context. A SIGKILL for another process
// is sent from the sentry's side of the call (injected in t) and its
// victim's death waited for before t goes on: the victim would otherwise
// die, and its parent get SIGCHLD, while t runs on, at the host's time.
// One for a group (it may hit t's own process) is settled at the next
// scheduling point instead.
func (t *Task) SignalSent(nr uintptr, r syscalls.Regs, a syscalls.SignalArgs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil {
		return syscalls.Plan{}, false
	}
	d.signalsSent = true
	if a.Sig != int32(unix.SIGKILL) {
		return syscalls.Plan{}, false // other fatal signals go through the victim's delivery stop
	}
	if a.Pid == 0 {
		d.killScan = true
		return syscalls.Plan{}, false
	}
	v := t.s.programTask(int(a.Pid))
	if v == nil || v.tg == t.tg {
		return syscalls.Plan{}, false
	}
	return syscalls.Plan{Emulate: func() int64 {
		ret, err := t.Inject(nr, r[0], r[1], r[2], r[3], r[4], r[5])
		if err != nil {
			return -int64(unix.EINTR)
		}
		if ret == 0 {
			d.killed = append(d.killed, v.tg)
			d.settleKills()
		}
		return ret
	}}, true
}

// settleKills waits until the processes a SIGKILL from the program hit
// are dead. SIGKILL reaches a stopped tracee at once, and its death would
// be reported at the host's time: the wakes its exit makes (its parent's
// wait, SIGCHLD, its clear-tid futex) must come at a scheduling point the
// schedule fixes, this one. Engine thread only.
func (d *detRun) settleKills() {
	if len(d.killed) == 0 && !d.killScan {
		return
	}
	victims := map[*ThreadGroup]bool{}
	for _, tg := range d.killed {
		victims[tg] = true
	}
	d.killed = nil
	vids := slices.Sorted(maps.Keys(d.byVid))
	for _, vid := range vids {
		t := d.byVid[vid]
		if (d.killScan || victims[t.tg]) && t != d.running && hostmm.Exiting(t.tid) {
			victims[t.tg] = true
		} else if victims[t.tg] && !hostmm.Exiting(t.tid) {
			delete(victims, t.tg) // the kill failed (or has not happened)
		}
	}
	d.killScan = false
	alive := func() bool {
		for _, t := range d.byVid {
			if victims[t.tg] && !t.dead {
				return true
			}
		}
		return false
	}
	for _, vid := range vids {
		if t := d.byVid[vid]; t != nil && victims[t.tg] && t != d.running {
			d.unblock(t, nil)
			t.det.dying = true
		}
	}
	for alive() {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		d.s.eng.handleReport(tid, ws)
	}
}

// stopByDefault and ignoredByDefault are the signals whose default
// action does not end the process (signal(7)).
const (
	stopByDefault    = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)
	ignoredByDefault = 1<<(unix.SIGCHLD-1) | 1<<(unix.SIGURG-1) | 1<<(unix.SIGWINCH-1) | 1<<(unix.SIGCONT-1)
)

// interrupting are the signals of st that interrupt a wait: pending
// (shared: those of shared), not blocked, and caught or deadly.
func interrupting(st hostmm.SignalState, shared uint64) uint64 {
	deadly := ^uint64(stopByDefault|ignoredByDefault) &^ st.Ignored
	return (st.Pending | shared) &^ st.Blocked & (st.Caught | deadly)
}

// interruptWaits ends the waits that a pending signal interrupts. A
// process's shared signal goes to one thread: none of the waiting ones
// when a thread that can run takes it (it gets it on its way back to
// the program), else the first waiting thread, by virtual id, that does
// not block it. Engine thread only.
func (d *detRun) interruptWaits() {
	var vids []int
	for vid, t := range d.byVid {
		if !t.dead && !t.det.dying {
			vids = append(vids, vid)
		}
	}
	slices.Sort(vids)
	waiting := func(t *Task) bool { return t.det.waits != "" && t.det.waits != "signal" }
	if !slices.ContainsFunc(vids, func(vid int) bool { return waiting(d.byVid[vid]) }) {
		return
	}
	taken := map[*ThreadGroup]uint64{} // shared signals a thread takes
	for _, vid := range vids {
		if t := d.byVid[vid]; t.det.waits == "" {
			if st, ok := hostmm.ReadSignalState(t.tid); ok {
				taken[t.tg] |= st.Shared &^ st.Blocked
			}
		}
	}
	for _, vid := range vids {
		t := d.byVid[vid]
		if !waiting(t) {
			continue
		}
		st, ok := hostmm.ReadSignalState(t.tid)
		if !ok {
			continue
		}
		if sigs := interrupting(st, st.Shared&^taken[t.tg]); sigs != 0 {
			taken[t.tg] |= sigs & st.Shared
			d.unblock(t, t.interrupted())
			t.det.what = "signal"
		}
	}
}

// erestartsys is the kernel-internal -ERESTARTSYS: returned at a syscall's
// exit with a signal pending, the kernel's signal delivery makes it EINTR,
// or restarts the call after a SA_RESTART handler.
const erestartsys = 512

// interrupted is the step of a wait a signal ended: the call runs on the
// host (or the wait's own onSignal answers it); a wait whose tries were
// injected (wait4 with WNOHANG...) stands at an injected call's exit, and
// returns -ERESTARTSYS there for the kernel to make of it. Should the
// signal be gone by then (another thread took it), the call starts
// again, and waits.
func (t *Task) interrupted() func() {
	onSignal := t.det.onSignal
	return func() {
		st, ok := hostmm.ReadSignalState(t.tid)
		switch {
		case !ok || interrupting(st, st.Shared) == 0:
			t.answer(-int64(mm.ERESTARTNOINTR))()
		case onSignal != nil:
			onSignal()
		case t.inj != nil && !t.inj.atEntry:
			t.answer(-erestartsys)()
		default:
			t.ptrace(unix.PTRACE_CONT, 0)
		}
	}
}
