package sentry

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// AddressSpace is the sentry's handle on one address space: the shadow
// model and the lock that serializes the memory syscalls of every task that
// shares it.
type AddressSpace struct {
	// m is the model's mm: the VMA tree and its mmap_lock. The sentry
	// write-holds m.Lock from a memory syscall's entry to its exit stop,
	// across the host's execution and the model update; madvise takes the
	// locks the spec prescribes itself (mm.MM.Madvise).
	m *mm.MM
	// Tasks that find m.Lock held queue on it (mm.MmapLock.Enqueue) as
	// waiters stopped at their syscall entry, and are retried in the
	// Scheduler's order when it is released.
	// id numbers the address space in deterministic mode (futex keys); 0
	// until asked. Engine thread only.
	id uint64
	// views are the program's open maps/smaps files of this address space
	// in the /proc view, refreshed when the model changes (procview.go).
	// Engine thread only.
	views []viewFile
	// uffdArmed: the model may have VMAs registered with a userfaultfd;
	// uffdGen is the sandbox's uffd generation they were last checked at
	// (uffd.go). Engine thread only.
	uffdArmed bool
	uffdGen   uint64
	// reported is the first differing pair of lines of the last
	// --check-maps report, so that a difference that persists is reported
	// once. Engine thread only.
	reported string
}

// waiter is a task whose seccomp stop waits for an mmap_lock.
type waiter struct {
	t  *Task
	ev stopEvent
}

// Retry implements mm.Waiter: the stop is handled again (in
// deterministic mode, when the scheduler picks the task). Engine thread
// only.
func (w *waiter) Retry() {
	if w.t.dead {
		return
	}
	w.t.setWaiting("")
	if w.t.det != nil {
		w.t.det.step = func() { w.t.handleStop(w.ev) }
		return
	}
	w.t.handleStop(w.ev)
}

// wakeWaiters hands the just-released lock to the waiters, in the order the
// scheduler picks: each one's stop is handled again, until one of them
// holds the lock across its syscall (the others keep waiting) or none is
// left. Engine thread only.
func (as *AddressSpace) wakeWaiters(sched Scheduler) {
	as.m.Lock.WakeWaiters(func(queue []mm.Waiter) int {
		waiting := make([]*Task, len(queue))
		for i, w := range queue {
			waiting[i] = w.(*waiter).t
		}
		return sched.Next("mmap_lock", waiting)
	})
}

// fork returns the child's copy of the address space.
//
// Preconditions: the parent's m.Lock is write-held by the forking task.
func (as *AddressSpace) fork() *AddressSpace {
	if as == nil {
		return nil
	}
	return newAddressSpace(as.m.AS.Fork())
}

func newAddressSpace(model *mm.AddressSpace) *AddressSpace {
	// mremap's charges are the host's overcommit policy's to refuse
	// (forks copy it).
	model.EnoughMemory = hostmm.VMEnoughMemory
	return &AddressSpace{m: mm.NewMM(model)}
}

// addressSpaceFromHost builds the model of process pid from the host's
// /proc/PID/maps and /proc/PID/stat (brk and stack start), as at exec.
func (s *Sandbox) addressSpaceFromHost(pid int) (*AddressSpace, error) {
	lines, err := hostmm.ReadMaps(pid)
	if err != nil {
		return newAddressSpace(mm.NewAddressSpace()), err
	}
	model := mm.FromMaps(lines)
	model.HiddenFlags = s.emulatedFlags()
	if startBrk, startStack, err := hostmm.ReadStatLayout(pid); err == nil {
		// A new program's break is its start.
		model.SetBrk(startBrk, startBrk)
		model.SetStackStart(startStack)
	}
	return newAddressSpace(model), nil
}

// checkMaps compares the model with the host's /proc/PID/maps and reports
// the first difference. The growth of grows-down VMAs by page faults is
// not one (the model learns it first, where the kernel could have made
// it); anything else is reported, once while it persists, and the model
// is kept as it is: adopting the host's text would lose what maps does
// not show (file identities, VM_ACCOUNT, uffd arming, guard pages, seals)
// and hide the next difference. The maps are read through a file held
// open (readHostMaps), so a process that makes itself non-dumpable is
// still checked; one whose maps cannot be read at all (a child born
// non-dumpable, madvisor without CAP_SYS_PTRACE) is named once, and
// counted in the run's summary.
//
// Preconditions: as is write-locked (the model cannot move under us).
func (s *Sandbox) checkMaps(t *Task, as *AddressSpace, nr uint64) {
	if as == nil || t.dead {
		return
	}
	host, err := t.tg.readHostMaps(t.tid)
	if err != nil {
		if !errors.Is(err, os.ErrPermission) || t.dead {
			return // the process is going away
		}
		key := fmt.Sprintf("check-maps-unreadable-%d", t.tg.pid)
		if _, seen := s.warned.LoadOrStore(key, true); !seen {
			s.unchecked.Add(1)
			s.logf("check-maps: pid %d after %s: cannot read /proc/%d/maps (%v): the process is not dumpable (PR_SET_DUMPABLE 0, or inherited from its parent) and madvisor lacks CAP_SYS_PTRACE; it is not checked from here on",
				t.tg.pid, syscalls.Name(uintptr(nr)), t.tg.pid, err)
		}
		return
	}
	as.m.AS.SyncGrowsDown(host)
	d := mm.DiffMaps(as.m.AS.HostMaps(s.emulatedFlags(), s.emulating(hostmm.EmulateGuard)), host)
	if d == "" {
		as.reported = ""
		return
	}
	if key := diffKey(d); key != as.reported {
		as.reported = key
		s.diffs.Add(1)
		s.logf("check-maps: pid %d after %s: the model and /proc/%d/maps differ:\n%s",
			t.tg.pid, syscalls.Name(uintptr(nr)), t.tg.pid, indent(d))
	}
}

// readHostMaps reads the host's maps of the process for checkMaps (tid is
// one of its threads): through a maps file opened at the first check and
// kept until exec or exit. A process that makes itself non-dumpable
// (PR_SET_DUMPABLE 0) refuses new opens of its /proc files to a reader
// without CAP_SYS_PTRACE, but the kernel checks access at the open only,
// so a file opened before keeps reading. Engine thread only.
func (tg *ThreadGroup) readHostMaps(tid int) ([]mm.MapsLine, error) {
	f, err := tg.mapsFile(tid)
	if err != nil {
		return nil, err
	}
	return hostmm.ReadMapsFile(f)
}

// mapsFile returns the process's /proc/PID/maps, opened at the first ask
// (tid is one of its threads) and kept until exec or exit: for
// --check-maps (see readHostMaps) and for the PROCMAP_QUERY of every
// reconciliation, which an open and a close per call would double.
// Engine thread only.
func (tg *ThreadGroup) mapsFile(tid int) (*os.File, error) {
	if tg.hostMaps == nil {
		f, err := os.Open(fmt.Sprintf("/proc/%d/maps", tid))
		if err != nil {
			return nil, err
		}
		tg.hostMaps = f
	}
	return tg.hostMaps, nil
}

// closeHostMaps closes the maps file mapsFile holds (at exec: it shows
// the old mm; at exit).
func (tg *ThreadGroup) closeHostMaps() {
	if tg.hostMaps != nil {
		tg.hostMaps.Close()
		tg.hostMaps = nil
	}
}

// diffKey is what identifies a difference DiffMaps reports: its marked
// lines (the first model and host lines that differ).
func diffKey(d string) string {
	var b strings.Builder
	for _, l := range strings.Split(d, "\n") {
		if strings.HasPrefix(l, "> ") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func indent(s string) string {
	return "madvisor: check-maps:   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\nmadvisor: check-maps:   ")
}

// strace prints one intercepted syscall and its result.
func (s *Sandbox) strace(t *Task, a *call, ret int64) {
	call := syscalls.FormatCall(uintptr(a.nr), a.args, hostView{t})
	s.logMu.Lock()
	defer s.logMu.Unlock()
	locks := ""
	if a.Locks != "" {
		locks = " {locks: " + a.Locks + "}"
	}
	if a.KAPI != nil {
		locks += " {kapi: " + a.KAPI() + "}"
	}
	fmt.Fprintf(s.cfg.Strace, "[pid %5d] %s %s%s\n", t.tid, call, syscalls.FormatReturn(uintptr(a.nr), uint64(ret)), locks)
}

// hostView is what syscall handlers and the formatter may ask of a task's
// process: its memory and its open files.
type hostView struct{ t *Task }

func (h hostView) ReadBytes(addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	return b, h.t.readMem(addr, b)
}

func (h hostView) ReadString(addr uint64, max int) (string, error) {
	return h.t.readString(addr, max)
}

// FileBacking implements syscalls.Host. The open mode costs a read of
// /proc/PID/fdinfo, so it is read only when asked (shared mappings).
func (h hostView) FileBacking(fd int, withMode bool) (mm.Backing, bool, error) {
	link := fmt.Sprintf("/proc/%d/fd/%d", h.t.tg.pid, fd)
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil {
		return mm.Backing{}, false, err
	}
	path, err := os.Readlink(link)
	if err != nil {
		return mm.Backing{}, false, err
	}
	writable := withMode && hostmm.OpenForWriting(h.t.tg.pid, fd)
	return mm.Backing{
		Kind:     mm.BackingFile,
		DevMajor: unix.Major(st.Dev),
		DevMinor: unix.Minor(st.Dev),
		Inode:    st.Ino,
		Path:     path,
		Writable: writable,
	}, st.Mode&unix.S_IFMT == unix.S_IFREG, nil
}

// MapsLineAt returns the host's /proc/PID/maps line containing addr: the
// identity of mappings the sentry cannot name otherwise (SysV shm, the
// shmem file of a shared anonymous mapping). One PROCMAP_QUERY, or the
// maps text on hosts without it (before 6.11).
func (h hostView) MapsLineAt(addr uint64) (mm.MapsLine, bool) {
	return hostmm.MapsLineAt(h.t.tg.pid, addr)
}

// VMFlags implements syscalls.Host.
func (h hostView) VMFlags(addr uint64) (mm.VMFlags, bool) {
	return hostmm.VMFlagsAt(h.t.tg.pid, addr)
}

// DriverFlags implements syscalls.Host: the flags are read from the VMA's
// VmFlags line in /proc/PID/smaps (rare: only device and anon-inode
// mappings ask; the file costs a page-table walk per VMA).
func (h hostView) DriverFlags(addr uint64) (mm.VMFlags, bool) {
	return hostmm.DriverFlags(h.t.tg.pid, addr)
}

var _ syscalls.Host = hostView{}
