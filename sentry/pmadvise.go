package sentry

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// processMadviseEntry answers process_madvise(2) (facts
// "process_madvise(pidfd, iovec, vlen, advice, flags)"): the checks in the
// kernel's order, the pidfd resolved to a process under this sandbox (its
// own model: the caller's, or another process's) and mm.MM.ProcessMadvise
// for the vector. A target outside the sandbox is the host's to answer.
// The host is made to match as for madvise (madviseEntry): a refusal with
// nothing applied never reaches the host; flag and guard advice on the
// caller's own mm run on the host under mmap_lock and the program sees the
// model's result; other advice are the host's own call.
//
// It sets plan.Wait when the target's mmap_lock is held by another
// task: the caller queues the task. Engine thread only.
func (t *Task) processMadviseEntry(plan *syscalls.Plan, a syscalls.ProcessMadviseArgs) {
	pidfd, vec, vlen := a.Pidfd, a.Vec, a.Vlen
	advice, flags := a.Advice, a.Flags
	refuse := func(e unix.Errno) {
		plan.Emulate = func() int64 { return -int64(e) }
	}
	iovs, errno := mm.ProcessMadviseArgs(flags, vlen, func(b []byte) error { return t.readMem(vec, b) })
	if errno != 0 {
		refuse(errno)
		return
	}
	target, errno := t.pidfdTarget(pidfd)
	if errno != 0 {
		refuse(errno)
		return
	}
	if target == nil || target.tg.mm == nil {
		if t.s.emulating(hostmm.EmulateProcessMadvise) {
			t.outsideProcessMadvise(plan, pidfd, iovs, advice)
		}
		return // outside the sandbox: the host answers
	}
	as := target.tg.mm
	if as.m.Lock.Held() {
		plan.Wait = as
		return
	}
	own := as == t.tg.mm
	env := t.s.madviseEnv(t, advice)
	env.OwnMM = own
	if !own {
		env.Caps.SysNice = hostmm.HasCapability(t.tid, unix.CAP_SYS_NICE)
	}
	env.LoseGuardRaces = t.s.guardRacesLeft
	kc := t.kapiBegin(as, iovs, advice, env)
	lt := t.startLockTrace()
	res := as.m.ProcessMadvise(t.holder, iovs, advice, env)
	events := lt.stop(t)
	plan.Locks = t.formatLocks(events)
	if kc != nil {
		verdict := t.kapiEnd(kc, as, vectorErrnos(iovs, res, own), events)
		if t.s.cfg.Strace != nil {
			plan.KAPI = func() string { return verdict }
		}
	}
	t.s.guardRacesLeft -= res.RacesLost
	// The model does not know credentials. The host's own call checks the
	// caller's access to another process's mm before anything else
	// (mm_access); where the host does not make the call, mmAccess checks
	// it first, in the caller (it injects: the call is then emulated).
	access := func() unix.Errno {
		if own {
			return 0
		}
		return t.mmAccess(target.tg.pid)
	}
	switch hostmm.ProcessMadviseMatch(advice, own, res, t.s.cfg.Emulations) {
	case hostmm.MatchAnswer:
		// A refusal, or a remote hint the target's model answers.
		if errno := access(); errno != 0 {
			refuse(errno)
			return
		}
		plan.Emulate = func() int64 { return res.Ret }
	case hostmm.MatchGuards:
		plan.Lock = as
		plan.Emulate = func() int64 { t.backend().GuardAdvice(advice, res.Applied); return res.Ret }
	case hostmm.MatchVector:
		t.pidfdSelfCall(plan, res, iovs, advice)
	case hostmm.MatchFlags:
		plan.Lock = as
		plan.Exit = func(ret int64) int64 {
			t.reconcileApplied(as, res.Applied)(ret)
			// As for madvise: the model's result, unless the model found
			// no error and the host did (a flag only the host knows).
			if res.Err != 0 {
				return res.Ret
			}
			return ret
		}
	}
}

// pidfdTarget resolves a process_madvise pidfd for t: the task it names
// when that task is traced by this sandbox and alive; nil (and no errno)
// when the process is outside the sandbox, in another pid namespace or
// gone from it, so the host answers; EBADF when pidfd is not an open pidfd
// of t; ESRCH when its process has been reaped. Engine thread only.
func (t *Task) pidfdTarget(pidfd int32) (*Task, unix.Errno) {
	switch pidfd {
	case abi.PIDFD_SELF_THREAD, abi.PIDFD_SELF_THREAD_GROUP:
		return t, 0
	}
	if pidfd < 0 {
		return nil, unix.EBADF
	}
	pid, ok := fdinfoPid(t.tid, int(pidfd))
	switch {
	case !ok:
		// Not open, or no "Pid:" line: not a pidfd (pidfd_get_pid).
		return nil, unix.EBADF
	case pid == -1:
		return nil, unix.ESRCH
	case pid == 0:
		return nil, 0
	}
	target := t.s.eng.tasks[pid]
	if target == nil || target.dead {
		return nil, 0
	}
	return target, 0
}

// fdinfoPid reads the "Pid:" line of /proc/TID/fdinfo/FD, which only
// pidfds have: the pid in madvisor's pid namespace, 0 if the process is in
// another one, -1 once it has been reaped.
func fdinfoPid(tid, fd int) (pid int, ok bool) {
	v, ok := hostmm.FdinfoField(tid, fd, "Pid")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(v)
	return pid, err == nil
}

// pidfdSelfCall runs a process_madvise on the caller's own mm (a
// PIDFD_SELF_* value or a pidfd of its own process) on a host that may not
// know those values, nor allow every advice on a process's own mm through
// process_madvise (both 6.14; hostmm.EmulatePidfdSelf): the
// vector is run as the kernel's vector_madvise does, one madvise(2) per
// iovec in the tracee, stopping at the first error; the result is the
// bytes of the iovecs done, or that error. Where the model decided the
// VMA changes, its result stands, as in processMadviseEntry.
func (t *Task) pidfdSelfCall(plan *syscalls.Plan, res mm.ProcessMadviseResult, iovs []mm.Iovec, advice int) {
	as := t.tg.mm
	changes := hostmm.ChangesVMAs(advice)
	if changes {
		plan.Lock = as
	}
	if t.s.cfg.Emulations.AdviceEmulated(advice) {
		plan.Lock = as
		plan.Emulate = func() int64 { return t.emulateVector(res, iovs, advice) }
		return
	}
	plan.Emulate = func() int64 {
		var done, left uint64
		var ret int64
		for _, v := range iovs {
			left += v.Len
		}
		// As vector_madvise: iovecs are visited while bytes are left
		// (empty ones too: an unaligned one is EINVAL).
		for _, v := range iovs {
			if left == 0 {
				break
			}
			r, err := t.Inject(unix.SYS_MADVISE, v.Base, v.Len, uint64(advice))
			if err != nil {
				return -int64(unix.EINTR)
			}
			if r < 0 {
				ret = r
				break
			}
			done += v.Len
			left -= v.Len
		}
		if done > 0 {
			ret = int64(done)
		}
		if changes && ret != res.Ret && res.Err != 0 {
			ret = res.Ret
		}
		return ret
	}
	if changes {
		plan.Exit = func(ret int64) int64 {
			for _, p := range res.Applied {
				t.reconcileEdges(as, p.Start, p.End)
			}
			return ret
		}
	}
}

// emulateVector runs an emulated advice's host work for a process_madvise
// on the caller's own mm, iovec by iovec over the pieces the model applied
// (res.Applied, in the vector's order): the model's result, unless the
// host fails a POPULATE first, which ends the vector there.
func (t *Task) emulateVector(res mm.ProcessMadviseResult, iovs []mm.Iovec, advice int) int64 {
	var done int64
	next := 0 // the first piece not yet done
	for _, v := range iovs {
		end := v.Base + mm.PageAlign(v.Len)
		first := next
		for next < len(res.Applied) && res.Applied[next].Start >= v.Base && res.Applied[next].End <= end {
			next++
		}
		if e := t.backend().EmulateAdvice(advice, res.Applied[first:next]); e != 0 {
			if done > 0 {
				return done
			}
			return -int64(e)
		}
		if next == len(res.Applied) {
			break
		}
		done += int64(v.Len)
	}
	return res.Ret
}

// outsideProcessMadvise answers a process_madvise on a process outside the
// sandbox when the host has no process_madvise (hostmm.EmulateProcessMadvise):
// after the caller's access check (mmAccess), a model read from the
// target's maps and smaps answers the vector (the remote advice,
// CAP_SYS_NICE, the iovecs). The remote advice are hints: nothing is done
// to its memory.
func (t *Task) outsideProcessMadvise(plan *syscalls.Plan, pidfd int32, iovs []mm.Iovec, advice int) {
	pid, ok := fdinfoPid(t.tid, int(pidfd))
	if !ok || pid <= 0 {
		return
	}
	ret := int64(0)
	if errno := t.mmAccess(pid); errno != 0 {
		ret = -int64(errno)
	} else if as, err := t.s.addressSpaceFromHost(pid); err != nil {
		ret = -int64(unix.ESRCH)
	} else {
		// What the remote advice check beyond the maps text: locked,
		// driver and huge-page VMAs.
		hostmm.FlagsFromSmaps(as.m.AS, pid, mm.VMLockedMask|mm.DriverFlags|mm.VMHugeTLB|mm.VMHugePage|mm.VMNoHugePage)
		env := t.s.madviseEnv(t, advice)
		env.OwnMM = false
		env.Caps.SysNice = hostmm.HasCapability(t.tid, unix.CAP_SYS_NICE)
		ret = as.m.ProcessMadvise(t.holder, iovs, advice, env).Ret
	}
	plan.Emulate = func() int64 { return ret }
}

// mmAccess checks the caller's access to process pid's mm that
// process_madvise needs (mm_access, PTRACE_MODE_READ_FSCREDS): an open of
// /proc/PID/maps in the caller makes the same check and fails with its
// error (ESRCH once the process is gone). It injects at t's seccomp stop,
// so the syscall must then be emulated. Engine thread only.
func (t *Task) mmAccess(pid int) unix.Errno {
	if t.beginInjection() != nil {
		return unix.ESRCH
	}
	path := append([]byte(fmt.Sprintf("/proc/%d/maps", pid)), 0)
	var fd int64
	err := t.WithScratch(path, func(addr uint64) (err error) {
		fd, err = t.Inject(unix.SYS_OPENAT, uint64(unix.AT_FDCWD&0xffffffff), addr, unix.O_RDONLY|unix.O_CLOEXEC)
		return err
	})
	switch {
	case err != nil:
		return unix.EINTR
	case fd == -int64(unix.ENOENT):
		return unix.ESRCH // reaped meanwhile
	case fd < 0:
		return unix.Errno(-fd)
	}
	if _, err := t.Inject(unix.SYS_CLOSE, uint64(fd)); err != nil {
		return unix.EINTR
	}
	return 0
}
