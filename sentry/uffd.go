package sentry

import (
	"errors"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
)

// The release of a userfaultfd. When the last reference to one goes away,
// the kernel unregisters the VMAs registered with it (in the mm of the
// process that created it) and merges them with their neighbours. That
// happens in calls that are no memory calls and may come from any
// process holding a copy: close, close_range, dup2/dup3 over the fd, an
// exec closing it (close-on-exec), an exit. The model keeps registrations
// exact, as mremap's and madvise's decisions depend on them:
//
//   - a process that creates a userfaultfd gets a filter tracing its fd
//     drops (hostmm.DropFilter; deterministic mode traces every call), and
//     so do its children: filters are inherited;
//   - such a call that drops a userfaultfd, an exec and an exit start a new
//     generation of the sandbox's uffd state, once the host's release is
//     done: a close releases before it returns; the others leave it to
//     task work, which the kernel runs before a ptrace stop (the call's
//     exit stop, the exec event), and an exit before the death report;
//   - each address space that may have registered VMAs re-reads then which
//     still are (smaps VmFlags) and unregisters the others: at once if it
//     is not in a call, else when that call finishes (and before any call
//     of its own).
//
// Not seen until the next such event: the closes of a process that got
// its userfaultfd otherwise (SCM_RIGHTS, pidfd_getfd, a CLONE_FILES table)
// and never registered with it, io_uring's closes, the release of a
// userfaultfd in flight in a unix socket's queue.

// uffdWatch is the sandbox's userfaultfd state. Engine thread only.
type uffdWatch struct {
	// used: a userfaultfd was created or registered in the sandbox; drops
	// are watched from then on.
	used bool
	// gen counts the events after which a userfaultfd may have been
	// released.
	gen uint64
}

// watchUffd adds to c, the plan of the call at its seccomp stop, the
// sentry's userfaultfd steps: the creation of one, a registration, a drop
// of one. Engine thread only.
func (t *Task) watchUffd(c *call, si *syscallInfo) {
	if c.Wait != nil {
		return // dispatched again
	}
	a := si.Args
	switch si.Nr {
	case unix.SYS_USERFAULTFD:
	case unix.SYS_IOCTL:
		switch uint32(a[1]) {
		case abi.USERFAULTFD_IOC_NEW, abi.UFFDIO_REGISTER:
		default:
			return
		}
	case unix.SYS_CLOSE:
		if !t.s.uffd.used || !hostmm.IsUffd(t.tid, int(int32(a[0]))) {
			return
		}
	case unix.SYS_DUP2, unix.SYS_DUP3:
		if !t.s.uffd.used || int32(a[0]) == int32(a[1]) || !hostmm.IsUffd(t.tid, int(int32(a[1]))) {
			return
		}
	case unix.SYS_CLOSE_RANGE:
		if !t.s.uffd.used || a[2]&unix.CLOSE_RANGE_CLOEXEC != 0 || !hostmm.UffdIn(t.tid, uint32(a[0]), uint32(a[1])) {
			return
		}
	default:
		return
	}
	nr := si.Nr
	prev := c.Exit
	c.Ignore = false
	c.Exit = func(ret int64) int64 {
		if prev != nil {
			ret = prev(ret)
		}
		switch nr {
		case unix.SYS_USERFAULTFD, unix.SYS_IOCTL:
			if ret < 0 {
				return ret
			}
			if nr == unix.SYS_IOCTL && uint32(a[1]) == abi.UFFDIO_REGISTER {
				if as := t.tg.mm; as != nil {
					as.uffdArmed = true
				}
			}
			t.s.uffd.used = true
			if t.s.det == nil && !t.tg.uffdTrap {
				t.atExit(ret, t.trapUffdDrops)
			}
		default:
			t.s.uffdReleased(t)
		}
		return ret
	}
}

// atExit runs fn, which injects calls, at the exit stop of the call whose
// result is ret (or in its emulation). Engine thread only.
func (t *Task) atExit(ret int64, fn func()) {
	if t.inj != nil {
		fn() // an emulated call: already injecting
		return
	}
	if t.beginExitInjection() != nil {
		return // the thread is gone
	}
	fn()
	t.finishInjection(ret)
}

// trapUffdDrops adds to t's process the filter that traces its fd drops.
// t is in an injection. Engine thread only.
func (t *Task) trapUffdDrops() {
	ret, err := hostmm.InstallFilter(t, hostmm.DropFilter(hostmm.UffdDropCalls))
	switch {
	case errors.Is(err, hostmm.ErrNoScratch):
		t.s.warnOnce("uffd-trap", "pid %d: no stack room for the filter that watches userfaultfd closes: a registration may outlive its userfaultfd in the model", t.tg.pid)
	case err != nil:
	case ret != 0:
		t.s.warnOnce("uffd-trap", "pid %d: cannot add the filter that watches userfaultfd closes (%d): a registration may outlive its userfaultfd in the model", t.tg.pid, ret)
	default:
		t.tg.uffdTrap = true
	}
}

// uffdReleased starts a new generation: a userfaultfd may have been
// released (its release done on the host). Each address space that may
// have registered VMAs catches up now, unless a call holds it (it does
// when that call finishes). t is the task whose call or event it was.
// Engine thread only.
func (s *Sandbox) uffdReleased(t *Task) {
	s.uffd.gen++
	s.mu.Lock()
	tasks := make([]*Task, 0, len(s.tasks))
	for o := range s.tasks {
		tasks = append(tasks, o)
	}
	s.mu.Unlock()
	for _, o := range tasks {
		as := o.tg.mm
		if o.dead || as == nil || !as.uffdArmed || as.uffdGen == s.uffd.gen || !as.m.Lock.TryWrite(t.holder) {
			continue
		}
		s.syncUffdLocked(as, o.tid)
		as.m.Lock.Unlock(t.holder)
	}
}

// syncUffd catches up as, the address space of t, at a call's seccomp
// stop (before its handler decides anything), if it is behind and no call
// holds it. Engine thread only.
func (t *Task) syncUffd() {
	as := t.tg.mm
	if as == nil || !as.uffdArmed || as.uffdGen == t.s.uffd.gen || !as.m.Lock.TryWrite(t.holder) {
		return
	}
	t.s.syncUffdLocked(as, t.tid)
	as.m.Lock.Unlock(t.holder)
}

// syncUffdLocked unregisters in the model the VMAs of as that the host no
// longer has registered (tid is a thread using as), if as is behind the
// sandbox's generation.
//
// Preconditions: as is write-locked.
func (s *Sandbox) syncUffdLocked(as *AddressSpace, tid int) {
	if as.uffdGen == s.uffd.gen || !as.uffdArmed {
		return
	}
	registered, err := hostmm.UffdRegistered(tid)
	if err != nil {
		return // the thread is going away: another one's turn
	}
	as.uffdGen = s.uffd.gen
	remain, changed := as.m.AS.UffdReleased(registered)
	as.uffdArmed = remain
	if changed {
		s.refreshViews(as)
	}
}
