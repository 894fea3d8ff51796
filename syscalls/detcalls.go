package syscalls

import "golang.org/x/sys/unix"

// The calls deterministic mode answers itself (every call is traced in
// that mode): blocking never decides the order (futexes are the sentry's,
// a call that would block waits until it can complete), time is virtual,
// randomness comes from the seed. Outside that mode these entries are
// never traced (TraceDet); their handlers' Context steps say false.

// FutexArgs are futex(2)'s arguments.
type FutexArgs struct {
	Addr  uint64
	Op    uint32 // the command with FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
	Val   uint32
	Arg4  uint64 // timeout pointer, or val2 (REQUEUE's count)
	Addr2 uint64
	Val3  uint32
}

// DecodeFutex decodes futex(uaddr, op, val, timeout|val2, uaddr2, val3).
func DecodeFutex(r Regs) FutexArgs {
	return FutexArgs{Addr: r[0], Op: uint32(r[1]), Val: uint32(r[2]), Arg4: r[3], Addr2: r[4], Val3: uint32(r[5])}
}

// FutexWaitvArgs are futex_waitv(2)'s arguments.
type FutexWaitvArgs struct {
	Vec     uint64 // struct futex_waitv array
	N       uint64
	Flags   uint32
	Timeout uint64 // absolute struct timespec, or 0
	Clock   int32
}

// TimeCall says which time call a handler answers.
type TimeCall int

// The time calls.
const (
	ClockGettime    TimeCall = iota // clock_gettime(clockid, tp)
	ClockGetres                     // clock_getres(clockid, res)
	Gettimeofday                    // gettimeofday(tv, tz)
	Time                            // time(tloc)
	Times                           // times(buf)
	Nanosleep                       // nanosleep(req, rem)
	ClockNanosleep                  // clock_nanosleep(clockid, flags, req, rem)
	Alarm                           // alarm(seconds)
	Getitimer                       // getitimer(which, curr_value)
	Setitimer                       // setitimer(which, new_value, old_value)
	TimerCreate                     // timer_create(clockid, sevp, timerid)
	TimerSettime                    // timer_settime(timerid, flags, new_value, old_value)
	TimerGettime                    // timer_gettime(timerid, curr_value)
	TimerGetoverrun                 // timer_getoverrun(timerid)
	TimerDelete                     // timer_delete(timerid)
	TimerfdCreate                   // timerfd_create(clockid, flags)
	TimerfdSettime                  // timerfd_settime(fd, flags, new_value, old_value)
	TimerfdGettime                  // timerfd_gettime(fd, curr_value)
)

// BlockCall says how a call that may block is tried without blocking.
type BlockCall int

// The calls that may block, by how the sentry tries them.
const (
	// BlockWait4 and BlockWaitid: again with WNOHANG.
	BlockWait4 BlockCall = iota
	BlockWaitid
	// BlockPoll, BlockPpoll, BlockSelect, BlockPselect, BlockEpollWait,
	// BlockEpollPwait, BlockEpollPwait2: again with a zero timeout.
	BlockPoll
	BlockPpoll
	BlockSelect
	BlockPselect
	BlockEpollWait
	BlockEpollPwait
	BlockEpollPwait2
	// BlockRead and BlockWrite: the call runs once poll(2) on its fd (the
	// first argument) says it would not block.
	BlockRead
	BlockWrite
	// BlockPause, BlockSigsuspend, BlockSigtimedwait: the call runs once a
	// signal it waits for is pending.
	BlockPause
	BlockSigsuspend
	BlockSigtimedwait
	// BlockFlock and BlockFcntlLock (F_SETLKW, F_OFD_SETLKW): tried in
	// their non-blocking form, again after a call that may release a lock.
	BlockFlock
	BlockFcntlLock
)

// CPUCall says which call about CPUs a handler answers: deterministic
// mode shows the program one CPU, CPU 0 (it runs one thread at a time).
type CPUCall int

// The calls about CPUs.
const (
	SchedGetaffinity CPUCall = iota // sched_getaffinity(pid, len, mask)
	SchedSetaffinity                // sched_setaffinity(pid, len, mask)
	Getcpu                          // getcpu(cpu, node, tcache)
	Rseq                            // rseq(rseq, len, flags, sig): ENOSYS
)

// decided is the Plan of a step that may decide the call: its own, else
// the zero Plan (the call runs on the host).
func decided(p Plan, ok bool) Plan {
	if ok {
		return p
	}
	return Plan{}
}

func futexCall(c Context, r Regs) Plan { return decided(c.Futex(DecodeFutex(r))) }

func futexWaitvCall(c Context, r Regs) Plan {
	return decided(c.FutexWaitv(FutexWaitvArgs{Vec: r[0], N: r[1], Flags: uint32(r[2]), Timeout: r[3], Clock: int32(r[4])}))
}

func timeCall(k TimeCall) Handler {
	return func(c Context, r Regs) Plan { return decided(c.Time(k, r)) }
}

func getrandomCall(c Context, r Regs) Plan { return decided(c.Getrandom(r[0], r[1], uint32(r[2]))) }

func cpuCall(k CPUCall) Handler {
	return func(c Context, r Regs) Plan { return decided(c.CPU(k, r)) }
}

func blockingCall(k BlockCall) Handler {
	return func(c Context, r Regs) Plan { return decided(c.Blocking(k, r)) }
}

// exitGroupCall: the other threads of the process are about to die.
func exitGroupCall(c Context, r Regs) Plan {
	c.GroupExit()
	return Plan{}
}

// SignalArgs are a signal-sending call's target and signal.
type SignalArgs struct {
	// Pid is the target process or thread as the program names it; 0
	// when it is not one task (a process group, every process, a pidfd).
	Pid int32
	Sig int32
}

// DecodeSignal decodes kill(pid, sig), tkill(tid, sig), tgkill(tgid, tid,
// sig), rt_sigqueueinfo(pid, sig, info), rt_tgsigqueueinfo(tgid, tid, sig,
// info) and pidfd_send_signal(pidfd, sig, info, flags).
func DecodeSignal(nr uintptr, r Regs) SignalArgs {
	switch nr {
	case unix.SYS_TGKILL, unix.SYS_RT_TGSIGQUEUEINFO:
		return SignalArgs{Pid: int32(r[1]), Sig: int32(r[2])}
	case unix.SYS_PIDFD_SEND_SIGNAL:
		return SignalArgs{Sig: int32(r[1])}
	}
	return SignalArgs{Pid: max(int32(r[0]), 0), Sig: int32(r[1])}
}

// signalCall: a signal sent within the program may be for a thread that
// waits in the sentry (a futex, a sleep, a readiness check), or kill one.
func signalCall(nr uintptr) Handler {
	return func(c Context, r Regs) Plan { return decided(c.SignalSent(nr, r, DecodeSignal(nr, r))) }
}

// lockReleaseCall: close, close_range, dup2 and dup3 may release a file
// lock another thread waits for.
func lockReleaseCall(c Context, r Regs) Plan {
	c.LocksMayChange()
	return Plan{}
}

func setTidAddressCall(c Context, r Regs) Plan {
	c.SetClearTid(r[0])
	return Plan{}
}

// detTable are the entries of deterministic mode's own calls.
var detTable = []Entry{
	{Nr: unix.SYS_FUTEX, Args: args(Addr, Hex, Hex, Hex, Addr, Hex), Trace: TraceDet, Handle: futexCall},
	{Nr: unix.SYS_FUTEX_WAITV, Args: args(Addr, Uint, Hex, Addr, Int), Trace: TraceDet, Handle: futexWaitvCall},
	{Nr: unix.SYS_SET_TID_ADDRESS, Args: args(Addr), Trace: TraceDet, Handle: setTidAddressCall},
	{Nr: unix.SYS_EXIT_GROUP, Args: args(Int), Trace: TraceDet, Handle: exitGroupCall},
	{Nr: unix.SYS_CLOCK_GETTIME, Args: args(Int, Addr), Trace: TraceDet, Handle: timeCall(ClockGettime)},
	{Nr: unix.SYS_CLOCK_GETRES, Args: args(Int, Addr), Trace: TraceDet, Handle: timeCall(ClockGetres)},
	{Nr: unix.SYS_GETTIMEOFDAY, Args: args(Addr, Addr), Trace: TraceDet, Handle: timeCall(Gettimeofday)},
	{Nr: unix.SYS_TIME, Args: args(Addr), Trace: TraceDet, Handle: timeCall(Time)},
	{Nr: unix.SYS_TIMES, Args: args(Addr), Trace: TraceDet, Handle: timeCall(Times)},
	{Nr: unix.SYS_NANOSLEEP, Args: args(Addr, Addr), Trace: TraceDet, Handle: timeCall(Nanosleep)},
	{Nr: unix.SYS_CLOCK_NANOSLEEP, Args: args(Int, Hex, Addr, Addr), Trace: TraceDet, Handle: timeCall(ClockNanosleep)},
	{Nr: unix.SYS_GETRANDOM, Args: args(Addr, Size, Hex), Trace: TraceDet, Handle: getrandomCall},
	{Nr: unix.SYS_ALARM, Args: args(Uint), Trace: TraceDet, Handle: timeCall(Alarm)},
	{Nr: unix.SYS_GETITIMER, Args: args(Int, Addr), Trace: TraceDet, Handle: timeCall(Getitimer)},
	{Nr: unix.SYS_SETITIMER, Args: args(Int, Addr, Addr), Trace: TraceDet, Handle: timeCall(Setitimer)},
	{Nr: unix.SYS_SCHED_GETAFFINITY, Args: args(Pid, Size, Addr), Trace: TraceDet, Handle: cpuCall(SchedGetaffinity)},
	{Nr: unix.SYS_SCHED_SETAFFINITY, Args: args(Pid, Size, Addr), Trace: TraceDet, Handle: cpuCall(SchedSetaffinity)},
	{Nr: unix.SYS_GETCPU, Args: args(Addr, Addr, Addr), Trace: TraceDet, Handle: cpuCall(Getcpu)},
	{Nr: unix.SYS_RSEQ, Args: args(Addr, Size, Hex, Hex), Trace: TraceDet, Handle: cpuCall(Rseq)},
	{Nr: unix.SYS_TIMER_CREATE, Args: args(Int, Addr, Addr), Trace: TraceDet, Handle: timeCall(TimerCreate)},
	{Nr: unix.SYS_TIMER_SETTIME, Args: args(Int, Hex, Addr, Addr), Trace: TraceDet, Handle: timeCall(TimerSettime)},
	{Nr: unix.SYS_TIMER_GETTIME, Args: args(Int, Addr), Trace: TraceDet, Handle: timeCall(TimerGettime)},
	{Nr: unix.SYS_TIMER_GETOVERRUN, Args: args(Int), Trace: TraceDet, Handle: timeCall(TimerGetoverrun)},
	{Nr: unix.SYS_TIMER_DELETE, Args: args(Int), Trace: TraceDet, Handle: timeCall(TimerDelete)},
	{Nr: unix.SYS_TIMERFD_CREATE, Args: args(Int, Hex), Trace: TraceDet, Handle: timeCall(TimerfdCreate)},
	{Nr: unix.SYS_TIMERFD_SETTIME, Args: args(Fd, Hex, Addr, Addr), Trace: TraceDet, Handle: timeCall(TimerfdSettime)},
	{Nr: unix.SYS_TIMERFD_GETTIME, Args: args(Fd, Addr), Trace: TraceDet, Handle: timeCall(TimerfdGettime)},
	{Nr: unix.SYS_WAIT4, Args: args(Pid, Addr, Hex, Addr), Trace: TraceDet, Handle: blockingCall(BlockWait4)},
	{Nr: unix.SYS_WAITID, Args: args(Int, Pid, Addr, Hex, Addr), Trace: TraceDet, Handle: blockingCall(BlockWaitid)},
	{Nr: unix.SYS_POLL, Args: args(Addr, Uint, Int), Trace: TraceDet, Handle: blockingCall(BlockPoll)},
	{Nr: unix.SYS_PPOLL, Args: args(Addr, Uint, Addr, Addr, Size), Trace: TraceDet, Handle: blockingCall(BlockPpoll)},
	{Nr: unix.SYS_SELECT, Args: args(Int, Addr, Addr, Addr, Addr), Trace: TraceDet, Handle: blockingCall(BlockSelect)},
	{Nr: unix.SYS_PSELECT6, Args: args(Int, Addr, Addr, Addr, Addr, Addr), Trace: TraceDet, Handle: blockingCall(BlockPselect)},
	{Nr: unix.SYS_EPOLL_WAIT, Args: args(Fd, Addr, Int, Int), Trace: TraceDet, Handle: blockingCall(BlockEpollWait)},
	{Nr: unix.SYS_EPOLL_PWAIT, Args: args(Fd, Addr, Int, Int, Addr, Size), Trace: TraceDet, Handle: blockingCall(BlockEpollPwait)},
	{Nr: unix.SYS_EPOLL_PWAIT2, Args: args(Fd, Addr, Int, Addr, Addr, Size), Trace: TraceDet, Handle: blockingCall(BlockEpollPwait2)},
	{Nr: unix.SYS_ACCEPT, Args: args(Fd, Addr, Addr), Trace: TraceDet, Handle: blockingCall(BlockRead)},
	{Nr: unix.SYS_ACCEPT4, Args: args(Fd, Addr, Addr, Hex), Trace: TraceDet, Handle: blockingCall(BlockRead)},
	{Nr: unix.SYS_RECVFROM, Args: args(Fd, Addr, Size, Hex, Addr, Addr), Trace: TraceDet, Handle: blockingCall(BlockRead)},
	{Nr: unix.SYS_RECVMSG, Args: args(Fd, Addr, Hex), Trace: TraceDet, Handle: blockingCall(BlockRead)},
	{Nr: unix.SYS_SENDTO, Args: args(Fd, Addr, Size, Hex, Addr, Int), Trace: TraceDet, Handle: blockingCall(BlockWrite)},
	{Nr: unix.SYS_SENDMSG, Args: args(Fd, Addr, Hex), Trace: TraceDet, Handle: blockingCall(BlockWrite)},
	{Nr: unix.SYS_KILL, Args: args(Pid, Int), Trace: TraceDet, Handle: signalCall(unix.SYS_KILL)},
	{Nr: unix.SYS_TKILL, Args: args(Pid, Int), Trace: TraceDet, Handle: signalCall(unix.SYS_TKILL)},
	{Nr: unix.SYS_TGKILL, Args: args(Pid, Pid, Int), Trace: TraceDet, Handle: signalCall(unix.SYS_TGKILL)},
	{Nr: unix.SYS_RT_SIGQUEUEINFO, Args: args(Pid, Int, Addr), Trace: TraceDet, Handle: signalCall(unix.SYS_RT_SIGQUEUEINFO)},
	{Nr: unix.SYS_RT_TGSIGQUEUEINFO, Args: args(Pid, Pid, Int, Addr), Trace: TraceDet, Handle: signalCall(unix.SYS_RT_TGSIGQUEUEINFO)},
	{Nr: unix.SYS_PIDFD_SEND_SIGNAL, Args: args(Fd, Int, Addr, Hex), Trace: TraceDet, Handle: signalCall(unix.SYS_PIDFD_SEND_SIGNAL)},
	{Nr: unix.SYS_FLOCK, Args: args(Fd, Hex), Trace: TraceDet, Handle: blockingCall(BlockFlock)},
	{Nr: unix.SYS_CLOSE, Args: args(Fd), Trace: TraceDet, Handle: lockReleaseCall},
	{Nr: unix.SYS_CLOSE_RANGE, Args: args(Fd, Fd, Hex), Trace: TraceDet, Handle: lockReleaseCall},
	{Nr: unix.SYS_PAUSE, Trace: TraceDet, Handle: blockingCall(BlockPause)},
	{Nr: unix.SYS_RT_SIGSUSPEND, Args: args(Addr, Size), Trace: TraceDet, Handle: blockingCall(BlockSigsuspend)},
	{Nr: unix.SYS_RT_SIGTIMEDWAIT, Args: args(Addr, Addr, Addr, Size), Trace: TraceDet, Handle: blockingCall(BlockSigtimedwait)},
}
