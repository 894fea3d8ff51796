package sentry

import (
	"errors"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// Trapping read(2), write(2) and the vector calls on the program's pagemap
// and mem files, whose guard pages only the sentry can show under guard
// emulation (procfileio.go). The main filter cannot trap read and write
// (every program's I/O would stop in the sentry) and cannot change once
// installed, but a process may add
// filters: when the program opens a pagemap or mem file of a process under
// the sandbox, the sentry makes the open by injection and then a
// seccomp(SET_MODE_FILTER, TSYNC) of a filter that traces those calls on
// that fd number only, in every thread. Filters outlive close and exec,
// so a later file with the same number is trapped too (one ptrace stop per
// call; it runs natively): one filter per fd number, ever.

// trapFileAccess adds, if the process has none yet, a filter tracing the
// reads and writes of fd, and reports whether fd is traced. It is not
// when the filter cannot be added: the seccomp filters of a thread hold
// at most 32,768 instructions in all (about 1,000 per-fd filters beside
// the main one), and a thread with filters of its own refuses the
// synchronization. The caller then refuses the fd (EMFILE, as when the
// fd table is full): a pagemap or mem fd whose reads run natively would
// show what the host has where the model has guard pages. t is in an
// injection. Engine thread only.
func (t *Task) trapFileAccess(tr hostmm.Tracee, fd int) bool {
	if t.tg.readTraps[fd] {
		return true
	}
	insns := hostmm.FdAccessFilter(fd, trappedFileCalls)
	ret, err := hostmm.InstallFilter(tr, insns)
	switch {
	case errors.Is(err, hostmm.ErrNoScratch):
		t.s.warnOnce("fdtrap-mem", "pid %d: no stack room for the read/write filter of a pagemap or mem fd: its open fails with EMFILE", t.tg.pid)
		return false
	case err != nil:
		return false
	case ret != 0:
		// -ENOMEM: no room left for filters; a positive ret: a thread
		// with filters of its own.
		t.s.warnOnce("fdtrap-install", "pid %d: cannot add the read/write filter of a pagemap or mem fd (%d): its open fails with EMFILE", t.tg.pid, ret)
		return false
	}
	if t.tg.readTraps == nil {
		t.tg.readTraps = map[int]bool{}
	}
	t.tg.readTraps[fd] = true
	return true
}

// trapOpened traces fd, a pagemap or mem file the host has just opened
// for the call at t's exit stop (whose result is ret), or closes it and
// refuses the open with EMFILE if it cannot be traced. It returns the
// call's result. Engine thread only.
func (t *Task) trapOpened(fd int, ret int64) int64 {
	if t.tg.readTraps[fd] {
		return ret
	}
	if t.beginExitInjection() != nil {
		return ret // the thread is gone
	}
	if !t.trapFileAccess(t, fd) {
		if _, err := t.Inject(unix.SYS_CLOSE, uint64(fd)); err == nil {
			ret = -int64(unix.EMFILE)
		}
	}
	t.finishInjection(ret)
	return ret
}

// trappedFileCalls are the calls the per-fd filter traces, from the
// table (syscalls.TracePerFD).
var trappedFileCalls = func() []hostmm.FdTrap {
	var calls []hostmm.FdTrap
	for _, e := range syscalls.PerFDIntercepted() {
		c := hostmm.FdTrap{Nr: e.Nr}
		for _, m := range e.Match {
			if m.Index != 1 {
				panic("sentry: a per-fd trap matches an argument other than the second: " + e.Name)
			}
			c.Arg1 = append(c.Arg1, uint32(m.Value))
		}
		calls = append(calls, c)
	}
	return calls
}()

// procFileDupEntry answers a copy of the fd of a pagemap or mem file of a
// process under the sandbox: the copy is made by injection, and its number
// trapped as the original's is. Other copies run natively. It reports
// whether it set plan. Engine thread only.
func (t *Task) procFileDupEntry(plan *syscalls.Plan, si *syscallInfo) bool {
	fd := int(int32(si.Args[0]))
	if _, file := t.procFileOfFD(fd); file != "pagemap" && file != "mem" {
		return false
	}
	a := si.Args
	plan.Emulate = func() int64 {
		// A copy onto a given number: that number is traced first, so
		// that a refusal leaves the file it holds open.
		if nr := uintptr(si.Nr); (nr == unix.SYS_DUP2 || nr == unix.SYS_DUP3) && int32(a[1]) >= 0 && int32(a[1]) != int32(a[0]) {
			if !t.trapFileAccess(t, int(int32(a[1]))) {
				return -int64(unix.EMFILE)
			}
		}
		nfd, err := t.Inject(uintptr(si.Nr), a[0], a[1], a[2])
		if err != nil {
			return -int64(unix.EINTR)
		}
		if nfd >= 0 && !t.trapFileAccess(t, int(nfd)) {
			if _, err := t.Inject(unix.SYS_CLOSE, uint64(nfd)); err != nil {
				return -int64(unix.EINTR)
			}
			return -int64(unix.EMFILE)
		}
		return nfd
	}
	return true
}
