package sentry

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// Calls that may block, in deterministic mode: none may block on the host
// while it holds the run (the thread that would unblock it could not
// run). Each is first checked for readiness; a call that would block
// waits, stopped at its entry, and is checked again at every scheduling
// point, in virtual id order, until it can complete (then it runs on the
// host and returns at once) or its timeout passes in virtual time.
// Readiness is checked in the sentry on copies of the program's fds
// (pidfd_getfd: poll(2) with a zero timeout, which consumes nothing; an
// epoll fd polls readable when it has events); wait4 and waitid are tried
// with WNOHANG injected in the thread, and only after a thread has exited;
// flock and fcntl's F_SETLKW in their non-blocking forms, injected too,
// and only after a call that may release a lock (a lock call, a close) or
// an exit.

// Blocking implements syscalls.Context.
func (t *Task) Blocking(k syscalls.BlockCall, r syscalls.Regs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil {
		return syscalls.Plan{}, false
	}
	native := func() (syscalls.Plan, bool) { return syscalls.Plan{}, true }
	run := func() { t.ptrace(unix.PTRACE_CONT, 0) } // the call, now ready
	// waitFds ends the poll family: the call runs at once when it would
	// not wait (a zero timeout, an fd ready), else t waits for fds.
	waitFds := func(waits string, fds []unix.PollFd) (syscalls.Plan, bool) {
		deadline, forever := d.timeoutArg(t, k, r)
		if deadline == 0 && !forever || t.fdsReady(fds, false) {
			return native()
		}
		return d.block(t, waits, t.readyWhen(fds, run), deadline, t.withZeroTimeout(k, r)), true
	}
	switch k {
	case syscalls.BlockRead, syscalls.BlockWrite:
		events := int16(unix.POLLIN)
		if k == syscalls.BlockWrite {
			events = unix.POLLOUT
		}
		fds := []unix.PollFd{{Fd: int32(r[0]), Events: events}}
		if t.fdsReady(fds, true) {
			return native()
		}
		return d.block(t, "fd", t.readyWhen(fds, run), 0, nil), true
	case syscalls.BlockPoll, syscalls.BlockPpoll:
		fds, ok := t.readPollFds(r[0], r[1])
		if !ok {
			return native()
		}
		return waitFds("poll", fds)
	case syscalls.BlockEpollWait, syscalls.BlockEpollPwait, syscalls.BlockEpollPwait2:
		return waitFds("epoll", []unix.PollFd{{Fd: int32(r[0]), Events: unix.POLLIN}})
	case syscalls.BlockSelect, syscalls.BlockPselect:
		fds, ok := t.readSelectFds(int(int32(r[0])), r[1], r[2], r[3])
		if !ok {
			return native()
		}
		return waitFds("select", fds)
	case syscalls.BlockPause, syscalls.BlockSigsuspend, syscalls.BlockSigtimedwait:
		// The signals that end the wait: any not blocked (pause), any not
		// in the call's mask (sigsuspend), any in its set (sigtimedwait).
		var set uint64
		if k != syscalls.BlockPause {
			b, err := t.Host().ReadBytes(r[0], 8)
			if err != nil {
				return native() // the host's EFAULT
			}
			set = binary.LittleEndian.Uint64(b)
		}
		wanted := func() bool {
			pending, blocked, ok := hostmm.PendingSignals(t.tid)
			switch {
			case !ok:
				return true
			case k == syscalls.BlockPause:
				return pending&^blocked != 0
			case k == syscalls.BlockSigsuspend:
				return pending&^set != 0
			}
			return pending&set != 0
		}
		if wanted() {
			return native()
		}
		var deadline int64
		timeout := run
		if k == syscalls.BlockSigtimedwait && r[2] != 0 {
			ns, errno := t.readTimespec(r[2])
			if errno != 0 {
				return native()
			}
			if ns == 0 {
				return native()
			}
			deadline = d.clock.Monotonic() + ns
			timeout = t.answer(-int64(unix.EAGAIN)) // sigtimedwait's timeout
		}
		ready := func() (func(), bool) {
			if wanted() {
				return run, true
			}
			return nil, false
		}
		return d.block(t, "signal", ready, deadline, timeout), true
	case syscalls.BlockFlock, syscalls.BlockFcntlLock:
		d.lockEvents++ // it may release a lock another thread waits for
		nr, nb, wouldWait := nonBlockingLock(k, r)
		if !wouldWait {
			return native()
		}
		try := func() (int64, bool) {
			if t.beginInjection() != nil {
				return -int64(unix.EINTR), true
			}
			ret, err := t.Inject(nr, nb[0], nb[1], nb[2])
			if err != nil {
				return -int64(unix.EINTR), true
			}
			return ret, ret != -int64(unix.EAGAIN) && ret != -int64(unix.EACCES)
		}
		if ret, done := try(); done {
			return emulated(ret)
		}
		seen, seenExits := d.lockEvents, d.exits
		ready := func() (func(), bool) {
			if d.lockEvents == seen && d.exits == seenExits {
				return nil, false
			}
			seen, seenExits = d.lockEvents, d.exits
			if ret, done := try(); done {
				return func() { t.finishInjection(ret); t.ptrace(unix.PTRACE_CONT, 0) }, true
			}
			return nil, false
		}
		return d.block(t, "lock", ready, 0, nil), true
	case syscalls.BlockWait4, syscalls.BlockWaitid:
		opts := r[2]
		if k == syscalls.BlockWaitid {
			opts = r[3]
		}
		if opts&unix.WNOHANG != 0 {
			return native()
		}
		if ret, done := t.tryWait(k, r); done {
			return emulated(ret)
		}
		seen := d.exits
		ready := func() (func(), bool) {
			if d.exits == seen {
				return nil, false
			}
			seen = d.exits
			if ret, done := t.tryWait(k, r); done {
				return func() { t.finishInjection(ret); t.ptrace(unix.PTRACE_CONT, 0) }, true
			}
			return nil, false
		}
		return d.block(t, "wait", ready, 0, nil), true
	}
	return syscalls.Plan{}, false
}

// LocksMayChange implements syscalls.Context: lock waits are tried again
// at the next scheduling point.
func (t *Task) LocksMayChange() {
	if d := t.detRun(); d != nil {
		d.lockEvents++
	}
}

// nonBlockingLock is a lock call that would wait (flock without LOCK_NB,
// fcntl F_SETLKW or F_OFD_SETLKW) as its non-blocking form: the number and
// arguments to try it with; wouldWait is false for a call that never
// waits.
func nonBlockingLock(k syscalls.BlockCall, r syscalls.Regs) (nr uintptr, args [3]uint64, wouldWait bool) {
	if k == syscalls.BlockFlock {
		op := r[1]
		return unix.SYS_FLOCK, [3]uint64{r[0], op | unix.LOCK_NB}, op&unix.LOCK_NB == 0 && op&^unix.LOCK_NB != unix.LOCK_UN
	}
	switch uint32(r[1]) {
	case unix.F_SETLKW:
		return unix.SYS_FCNTL, [3]uint64{r[0], unix.F_SETLK, r[2]}, true
	case unix.F_OFD_SETLKW:
		return unix.SYS_FCNTL, [3]uint64{r[0], unix.F_OFD_SETLK, r[2]}, true
	}
	return 0, args, false
}

// tryWait runs wait4 or waitid with WNOHANG in t (at its syscall entry, in
// an injection): done when it found a child or failed. t stays in the
// injection; the caller finishes it.
func (t *Task) tryWait(k syscalls.BlockCall, r syscalls.Regs) (int64, bool) {
	if t.beginInjection() != nil {
		return -int64(unix.ECHILD), true
	}
	var ret int64
	var err error
	if k == syscalls.BlockWait4 {
		ret, err = t.Inject(unix.SYS_WAIT4, r[0], r[1], r[2]|unix.WNOHANG, r[3])
	} else {
		ret, err = t.Inject(unix.SYS_WAITID, r[0], r[1], r[2], r[3]|unix.WNOHANG, r[4])
		if err == nil && ret == 0 && r[2] != 0 {
			// waitid returns 0 either way: a child was found when
			// si_pid is set.
			var pid [4]byte
			if t.readMem(r[2]+16, pid[:]) == nil && binary.LittleEndian.Uint32(pid[:]) == 0 {
				return 0, false
			}
			return 0, true
		}
	}
	if err != nil {
		return -int64(unix.EINTR), true
	}
	return ret, ret != 0
}

// readyWhen is a wait's readiness check on fds: once one is ready the
// thread runs its call (run).
func (t *Task) readyWhen(fds []unix.PollFd, run func()) func() (func(), bool) {
	return func() (func(), bool) {
		if t.fdsReady(fds, false) {
			return run, true
		}
		return nil, false
	}
}

// fdsReady polls copies of the tracee's fds without waiting. An fd that
// cannot be copied (closed, not the program's) counts as ready: the call
// then fails or returns on the host at once. nonblockOK: an fd in
// O_NONBLOCK mode is ready too (its call does not block).
func (t *Task) fdsReady(fds []unix.PollFd, nonblockOK bool) bool {
	pidfd, err := t.tg.pidfd()
	if err != nil {
		return true
	}
	local := make([]unix.PollFd, 0, len(fds))
	for _, f := range fds {
		if f.Fd < 0 {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, int(f.Fd), 0)
		if err != nil {
			closeAll(local)
			return true
		}
		if nonblockOK {
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
				unix.Close(fd)
				closeAll(local)
				return true
			}
		}
		local = append(local, unix.PollFd{Fd: int32(fd), Events: f.Events})
	}
	defer closeAll(local)
	if len(local) == 0 {
		return false
	}
	n, err := unix.Poll(local, 0)
	return err != nil || n > 0
}

func closeAll(fds []unix.PollFd) {
	for _, f := range fds {
		unix.Close(int(f.Fd))
	}
}

// pidfd returns a pidfd of the process, opened once (madvisor's own
// access to its fds: pidfd_getfd).
func (tg *ThreadGroup) pidfd() (int, error) {
	if tg.pidfdNr == 0 {
		fd, err := unix.PidfdOpen(tg.pid, 0)
		if err != nil {
			return 0, err
		}
		unix.CloseOnExec(fd)
		tg.pidfdNr = fd + 1
	}
	return tg.pidfdNr - 1, nil
}

// readPollFds reads poll's struct pollfd array.
func (t *Task) readPollFds(addr, n uint64) ([]unix.PollFd, bool) {
	if n > 4096 {
		return nil, false
	}
	b := make([]byte, 8*n)
	if n > 0 && t.readMem(addr, b) != nil {
		return nil, false
	}
	fds := make([]unix.PollFd, n)
	for i := range fds {
		fds[i] = unix.PollFd{Fd: int32(binary.LittleEndian.Uint32(b[8*i:])), Events: int16(binary.LittleEndian.Uint16(b[8*i+4:]))}
	}
	return fds, true
}

// readSelectFds turns select's fd sets into poll requests.
func (t *Task) readSelectFds(nfds int, rd, wr, ex uint64) ([]unix.PollFd, bool) {
	if nfds < 0 || nfds > 4096 {
		return nil, false
	}
	var fds []unix.PollFd
	for i, set := range []uint64{rd, wr, ex} {
		if set == 0 {
			continue
		}
		b := make([]byte, (nfds+63)/64*8)
		if len(b) > 0 && t.readMem(set, b) != nil {
			return nil, false
		}
		ev := [...]int16{unix.POLLIN, unix.POLLOUT, unix.POLLPRI}[i]
		for fd := range nfds {
			if b[fd/8]>>(fd%8)&1 != 0 {
				fds = append(fds, unix.PollFd{Fd: int32(fd), Events: ev})
			}
		}
	}
	return fds, true
}

// timeoutArg is a poll-like call's timeout as a monotonic virtual deadline
// (0 and forever false: it does not wait at all).
func (d *detRun) timeoutArg(t *Task, k syscalls.BlockCall, r syscalls.Regs) (deadline int64, forever bool) {
	var ns int64
	switch k {
	case syscalls.BlockPoll, syscalls.BlockEpollWait, syscalls.BlockEpollPwait:
		ms := int32(r[2])
		if k != syscalls.BlockPoll {
			ms = int32(r[3])
		}
		if ms < 0 {
			return 0, true
		}
		ns = int64(ms) * 1e6
	default:
		arg := map[syscalls.BlockCall]uint64{syscalls.BlockPpoll: r[2], syscalls.BlockEpollPwait2: r[3],
			syscalls.BlockSelect: r[4], syscalls.BlockPselect: r[4]}[k]
		if arg == 0 {
			return 0, true
		}
		v, errno := t.readTimespec(arg)
		if errno != 0 {
			return 0, false // the host reports it
		}
		if k == syscalls.BlockSelect {
			v = v/1e9*1e9 + v%1e9*1e3 // struct timeval: microseconds
		}
		ns = v
	}
	if ns == 0 {
		return 0, false
	}
	return d.clock.Monotonic() + ns, false
}

// withZeroTimeout is the step of a poll-like call whose virtual timeout
// passed: it runs on the host with a zero timeout (a register, or the
// program's timeout struct, which the kernel would have zeroed by then),
// so it returns what it returns on a timeout.
func (t *Task) withZeroTimeout(k syscalls.BlockCall, r syscalls.Regs) func() {
	return func() {
		switch k {
		case syscalls.BlockPoll, syscalls.BlockEpollWait, syscalls.BlockEpollPwait:
			var regs unix.PtraceRegs
			if unix.PtraceGetRegs(t.tid, &regs) == nil {
				if k == syscalls.BlockPoll {
					regs.Rdx = 0
				} else {
					regs.R10 = 0
				}
				unix.PtraceSetRegs(t.tid, &regs)
			}
		default:
			arg := map[syscalls.BlockCall]uint64{syscalls.BlockPpoll: r[2], syscalls.BlockEpollPwait2: r[3],
				syscalls.BlockSelect: r[4], syscalls.BlockPselect: r[4]}[k]
			t.writeMem(arg, make([]byte, 16))
		}
		t.ptrace(unix.PTRACE_CONT, 0)
	}
}
