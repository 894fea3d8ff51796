package sentry

import (
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// Timers in virtual time (deterministic mode): a process's interval
// timers (alarm, setitimer), its POSIX timers (timer_create) and its timerfds
// are timers on the virtual clock, under negative keys apart from the
// threads' virtual ids. When one fires the sentry does what the kernel
// would: a SIGALRM (SIGVTALRM, SIGPROF), the POSIX timer's signal (SI_TIMER, with its id and
// value; an overrun while the last one is pending), or an expiration
// added to the timerfd. A timerfd is an eventfd in the program (its
// read returns and clears the expiration count, and it polls readable
// while that is not 0, as a timerfd's); the sentry keeps a copy
// (pidfd_getfd) to add expirations to, and finds it again from the
// program's fd with kcmp(KCMP_FILE). Not covered: /proc/PID/fdinfo and
// the fd's link show an eventfd; TFD_TIMER_CANCEL_ON_SET never cancels
// (virtual time is never set).

// procTimer is one timer of a process on the virtual clock: its clock
// key, deadline (monotonic virtual ns; 0: disarmed) and interval, and
// what it does when it fires. Engine thread only.
type procTimer struct {
	key                int
	deadline, interval int64
	fire               func()
}

// itimer is a timer as a program sees it: the time left and the
// interval, in nanoseconds.
type itimer struct{ value, interval int64 }

// newTimer returns a disarmed timer that runs fire.
func (d *detRun) newTimer(fire func()) *procTimer {
	d.timerKeys--
	pt := &procTimer{key: d.timerKeys, fire: fire}
	d.timers[pt.key] = pt
	return pt
}

// timerLeft is pt as a program reads it (pt may be nil: never armed).
func (d *detRun) timerLeft(pt *procTimer) itimer {
	if pt != nil && pt.deadline > 0 {
		return itimer{value: max(pt.deadline-d.clock.Monotonic(), 1), interval: pt.interval}
	}
	return itimer{}
}

// armTimer arms pt to fire at the monotonic deadline (0: disarm; one
// already passed: at the next scheduling point), then every interval,
// and returns what it was.
func (d *detRun) armTimer(pt *procTimer, deadline, interval int64) itimer {
	old := d.timerLeft(pt)
	d.clock.Cancel(pt.key)
	pt.deadline, pt.interval = 0, 0
	if deadline != 0 {
		pt.deadline, pt.interval = max(deadline, 1), interval
		d.clock.Sleep(pt.key, pt.deadline)
	}
	return old
}

// deleteTimer disarms pt for good.
func (d *detRun) deleteTimer(pt *procTimer) {
	if pt != nil {
		d.clock.Cancel(pt.key)
		delete(d.timers, pt.key)
	}
}

// fireTimer runs the timer keyed key, whose deadline passed, and arms it
// again for its interval.
func (d *detRun) fireTimer(key int) {
	pt := d.timers[key]
	if pt == nil {
		return
	}
	pt.deadline = 0
	if pt.interval > 0 {
		pt.deadline = d.clock.Monotonic() + pt.interval
		d.clock.Sleep(key, pt.deadline)
	}
	pt.fire()
}

// itimerSignals are the signals of setitimer's timers, by which.
var itimerSignals = [...]unix.Signal{unix.ITIMER_REAL: unix.SIGALRM, unix.ITIMER_VIRTUAL: unix.SIGVTALRM,
	unix.ITIMER_PROF: unix.SIGPROF}

// setItimer arms tg's interval timer which (ITIMER_REAL, and the CPU-time
// ones, VIRTUAL and PROF, whose time is the virtual clock's too, as the
// CPU-time clocks') to fire in value nanoseconds (0: disarm), then every
// interval, and returns what it was.
func (d *detRun) setItimer(tg *ThreadGroup, which int, value, interval int64) itimer {
	if tg.itimers[which] == nil {
		sig := itimerSignals[which]
		tg.itimers[which] = d.newTimer(func() { d.sendOwnSignal(tg.pid, 0, sig, nil) })
	}
	var deadline int64
	if value > 0 {
		deadline = d.clock.Monotonic() + value
	}
	return d.armTimer(tg.itimers[which], deadline, interval)
}

// processTimersGone deletes the timers of a process that exits (all) or
// execs (its POSIX timers; the kernel keeps its interval timers).
func (d *detRun) processTimersGone(tg *ThreadGroup, exit bool) {
	for id, pt := range tg.posixTimers {
		d.deleteTimer(pt.pt)
		delete(tg.posixTimers, id)
	}
	if exit {
		for which, pt := range tg.itimers {
			d.deleteTimer(pt)
			tg.itimers[which] = nil
		}
	}
}

// posixTimer is a timer_create timer.
type posixTimer struct {
	pt     *procTimer
	clock  int32
	notify int32 // SIGEV_SIGNAL, SIGEV_NONE, or with SIGEV_THREAD_ID
	signo  unix.Signal
	tid    int    // the host tid of SIGEV_THREAD_ID's thread
	value  uint64 // sigev_value
	// overrun counts the expirations since the last signal, which was
	// still pending; lastOverrun is timer_getoverrun's.
	overrun, lastOverrun int64
}

// sigevent's sigev_notify values (include/uapi/asm-generic/siginfo.h).
const (
	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2
	sigevThreadID = 4
	siTimer       = -2 // SI_TIMER
)

// kcmpFile is kcmp(2)'s KCMP_FILE, which x/sys does not define.
const kcmpFile = 0

// timerCall answers the POSIX timer and timerfd calls.
func (t *Task) timerCall(d *detRun, k syscalls.TimeCall, r syscalls.Regs) (syscalls.Plan, bool) {
	tg := t.tg
	switch k {
	case syscalls.TimerCreate:
		clk := int32(r[0])
		if _, ok := d.clockNow(clk); !ok {
			return emulated(-int64(unix.EINVAL))
		}
		pt := &posixTimer{clock: clk, notify: sigevSignal, signo: unix.SIGALRM, value: uint64(tg.nextTimerID)}
		if r[1] != 0 {
			var ev [20]byte // struct sigevent: value, signo, notify, tid
			if t.readMem(r[1], ev[:]) != nil {
				return emulated(-int64(unix.EFAULT))
			}
			pt.value = binary.LittleEndian.Uint64(ev[:])
			pt.signo = unix.Signal(int32(binary.LittleEndian.Uint32(ev[8:])))
			pt.notify = int32(binary.LittleEndian.Uint32(ev[12:]))
			switch pt.notify &^ sigevThreadID {
			case sigevSignal, sigevThread:
				if pt.signo <= 0 || pt.signo > 64 {
					return emulated(-int64(unix.EINVAL))
				}
			case sigevNone:
			default:
				return emulated(-int64(unix.EINVAL))
			}
			if pt.notify&sigevThreadID != 0 {
				target := t.s.programTask(int(int32(binary.LittleEndian.Uint32(ev[16:]))))
				if pt.notify != sigevSignal|sigevThreadID || target == nil || target.tg != tg {
					return emulated(-int64(unix.EINVAL))
				}
				pt.tid = target.tid
			}
		}
		var id [4]byte
		binary.LittleEndian.PutUint32(id[:], uint32(tg.nextTimerID))
		if t.writeMem(r[2], id[:]) != nil {
			return emulated(-int64(unix.EFAULT))
		}
		timerID := tg.nextTimerID
		tg.nextTimerID++
		pt.pt = d.newTimer(func() { d.firePosixTimer(tg, timerID, pt) })
		if tg.posixTimers == nil {
			tg.posixTimers = map[int]*posixTimer{}
		}
		tg.posixTimers[timerID] = pt
		return emulated(0)
	case syscalls.TimerSettime, syscalls.TimerGettime, syscalls.TimerGetoverrun, syscalls.TimerDelete:
		pt := tg.posixTimers[int(int32(r[0]))]
		if pt == nil {
			return emulated(-int64(unix.EINVAL))
		}
		switch k {
		case syscalls.TimerGetoverrun:
			return emulated(pt.lastOverrun)
		case syscalls.TimerDelete:
			d.deleteTimer(pt.pt)
			delete(tg.posixTimers, int(int32(r[0])))
			return emulated(0)
		case syscalls.TimerGettime:
			return emulated(t.putItimerspec(r[1], d.timerLeft(pt.pt)))
		}
		return emulated(t.setTimer(d, pt.pt, pt.clock, r[1]&unix.TIMER_ABSTIME != 0, r[2], r[3], nil))
	case syscalls.TimerfdCreate:
		clk, flags := int32(r[0]), r[1]
		switch clk {
		case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME_ALARM, unix.CLOCK_BOOTTIME_ALARM:
		default:
			return emulated(-int64(unix.EINVAL))
		}
		if flags&^uint64(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK) != 0 {
			return emulated(-int64(unix.EINVAL))
		}
		return syscalls.Plan{Emulate: func() int64 { return t.timerfdCreate(d, clk, flags) }}, true
	case syscalls.TimerfdSettime, syscalls.TimerfdGettime:
		tfd := d.timerfdOf(t, int(int32(r[0])))
		if tfd == nil {
			return syscalls.Plan{}, true // not one: the host's EBADF or EINVAL
		}
		if k == syscalls.TimerfdGettime {
			return emulated(t.putItimerspec(r[1], d.timerLeft(tfd.pt)))
		}
		if r[1]&^uint64(unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET) != 0 {
			return emulated(-int64(unix.EINVAL))
		}
		return emulated(t.setTimer(d, tfd.pt, tfd.clock, r[1]&unix.TFD_TIMER_ABSTIME != 0, r[2], r[3], tfd.drain))
	}
	return syscalls.Plan{}, false
}

// setTimer is timer_settime and timerfd_settime: it reads the struct
// itimerspec at newAddr (absolute: its value is a time of clock clk),
// arms pt with it (after reset, if set: a timerfd's count is cleared),
// and writes the old setting at oldAddr (if set). It returns the call's
// result.
func (t *Task) setTimer(d *detRun, pt *procTimer, clk int32, absolute bool, newAddr, oldAddr uint64, reset func()) int64 {
	var b [32]byte // it_interval, it_value: timespecs
	if t.readMem(newAddr, b[:]) != nil {
		return -int64(unix.EFAULT)
	}
	ns := func(o int) (int64, bool) {
		sec, nsec := int64(binary.LittleEndian.Uint64(b[o:])), int64(binary.LittleEndian.Uint64(b[o+8:]))
		return sec*1e9 + nsec, sec >= 0 && nsec >= 0 && nsec < 1e9
	}
	interval, ok1 := ns(0)
	value, ok2 := ns(16)
	if !ok1 || !ok2 {
		return -int64(unix.EINVAL)
	}
	var deadline int64
	switch {
	case value == 0: // disarm
	case absolute:
		now, _ := d.clockNow(clk)
		deadline = value - now + d.clock.Monotonic()
	default:
		deadline = d.clock.Monotonic() + value
	}
	if reset != nil {
		reset()
	}
	old := d.armTimer(pt, deadline, interval)
	if oldAddr != 0 {
		return t.putItimerspec(oldAddr, old)
	}
	return 0
}

// putItimerspec writes it as a struct itimerspec.
func (t *Task) putItimerspec(addr uint64, it itimer) int64 {
	var b [32]byte
	for i, v := range []int64{it.interval / 1e9, it.interval % 1e9, it.value / 1e9, it.value % 1e9} {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	if t.writeMem(addr, b[:]) != nil {
		return -int64(unix.EFAULT)
	}
	return 0
}

// firePosixTimer sends the signal of tg's POSIX timer id, unless the
// last one is still pending (an overrun).
func (d *detRun) firePosixTimer(tg *ThreadGroup, id int, pt *posixTimer) {
	if pt.notify == sigevNone {
		return
	}
	target := pt.tid
	if target == 0 {
		target = tg.pid
	}
	if st, ok := hostmm.ReadSignalState(target); ok && (st.Pending|st.Shared)&(1<<(pt.signo-1)) != 0 {
		pt.overrun++
		return
	}
	pt.lastOverrun, pt.overrun = pt.overrun, 0
	var info [128]byte // siginfo_t, the timer layout
	binary.LittleEndian.PutUint32(info[0:], uint32(pt.signo))
	code := int32(siTimer)
	binary.LittleEndian.PutUint32(info[8:], uint32(code))
	binary.LittleEndian.PutUint32(info[16:], uint32(id))
	binary.LittleEndian.PutUint32(info[20:], uint32(pt.lastOverrun))
	binary.LittleEndian.PutUint64(info[24:], pt.value)
	d.sendOwnSignal(tg.pid, pt.tid, pt.signo, info[:])
}

// timerFD is a timerfd in virtual time: the eventfd that stands for it
// in the program, of which fd is the sentry's copy.
type timerFD struct {
	pt    *procTimer
	clock int32
	fd    int
}

// timerfdCreate makes the eventfd that stands for a new timerfd (flags:
// TFD_CLOEXEC and TFD_NONBLOCK, which are EFD_CLOEXEC and EFD_NONBLOCK)
// in t, at its seccomp stop, and returns the program's fd.
func (t *Task) timerfdCreate(d *detRun, clk int32, flags uint64) int64 {
	fd, err := t.Inject(unix.SYS_EVENTFD2, 0, flags)
	if err != nil {
		return -int64(unix.EINTR)
	}
	if fd < 0 {
		return fd
	}
	pidfd, err := t.tg.pidfd()
	if err == nil {
		var own int
		if own, err = unix.PidfdGetfd(pidfd, int(fd), 0); err == nil {
			tfd := &timerFD{clock: clk, fd: own}
			tfd.pt = d.newTimer(tfd.expire)
			d.timerfds = append(d.timerfds, tfd)
			return fd
		}
	}
	t.Inject(unix.SYS_CLOSE, uint64(fd))
	t.s.logf("pid %d: timerfd_create: copying its eventfd: %v", t.tg.pid, err)
	return -int64(unix.EMFILE)
}

// timerfdOf finds the timerfd that t's fd is (the same open file as a
// copy of the sentry's), or nil.
func (d *detRun) timerfdOf(t *Task, fd int) *timerFD {
	for _, tfd := range d.timerfds {
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(t.tg.pid), uintptr(os.Getpid()), kcmpFile,
			uintptr(fd), uintptr(tfd.fd), 0)
		if errno == 0 && r == 0 {
			return tfd
		}
	}
	return nil
}

// expire adds one expiration to the count.
func (tfd *timerFD) expire() {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	unix.Write(tfd.fd, one[:])
}

// drain clears the expiration count (timerfd_settime does).
func (tfd *timerFD) drain() {
	fds := []unix.PollFd{{Fd: int32(tfd.fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 0); n == 1 {
		var b [8]byte
		unix.Read(tfd.fd, b[:])
	}
}

// closeTimerfds closes the sentry's copies at the end of the run.
func (d *detRun) closeTimerfds() {
	for _, tfd := range d.timerfds {
		unix.Close(tfd.fd)
	}
	d.timerfds = nil
}
