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
// reads and writes of fd. t is in an injection. Engine thread only.
func (t *Task) trapFileAccess(tr hostmm.Tracee, fd int) {
	if t.tg.readTraps[fd] {
		return
	}
	insns, err := hostmm.FdAccessFilter(fd, trappedFileCalls)
	if err != nil {
		t.s.warnOnce("fdtrap-build", "cannot build the read/write filter: %v", err)
		return
	}
	ret, err := hostmm.InstallFilter(tr, insns)
	switch {
	case errors.Is(err, hostmm.ErrNoScratch):
		t.s.warnOnce("fdtrap-mem", "pid %d: no stack room for the read/write filter: read(2) of pagemap and mem runs natively", t.tg.pid)
	case err != nil:
	case ret != 0:
		// A thread with filters of its own (ret is its tid) or no room.
		t.s.warnOnce("fdtrap-install", "pid %d: cannot add the read/write filter (%d): read(2) of pagemap and mem runs natively", t.tg.pid, ret)
	default:
		if t.tg.readTraps == nil {
			t.tg.readTraps = map[int]bool{}
		}
		t.tg.readTraps[fd] = true
	}
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
	if t.procFileTarget(fd, "pagemap") == nil && t.procFileTarget(fd, "mem") == nil {
		return false
	}
	a := si.Args
	plan.Emulate = func() int64 {
		nfd, err := t.Inject(uintptr(si.Nr), a[0], a[1], a[2])
		if err != nil {
			return -int64(unix.EINTR)
		}
		if nfd >= 0 {
			t.trapFileAccess(t, int(nfd))
		}
		return nfd
	}
	return true
}
