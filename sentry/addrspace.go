package sentry

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/abi"
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
	// held: a task holds m.Lock across a syscall's host execution (from
	// its entry to its exit stop). Every other use of m.Lock begins and
	// ends within one engine step. Engine thread only.
	held bool
	// waiters are the tasks stopped at a syscall entry that need m.Lock, in
	// arrival order, and waiting the same tasks, for the Scheduler. Engine
	// thread only.
	waiters []waiter
	waiting []*Task
	// views are the program's open maps/smaps files of this address space
	// in the /proc view, refreshed when the model changes (procview.go).
	// Engine thread only.
	views []viewFile
}

// waiter is a task whose seccomp stop waits for an mmap_lock.
type waiter struct {
	t  *Task
	ev stopEvent
}

// wakeWaiters hands the just-released lock to the waiters, in the order the
// scheduler picks: each one's stop is handled again, until one of them
// holds the lock across its syscall (the others keep waiting) or none is
// left. Engine thread only.
func (as *AddressSpace) wakeWaiters(sched Scheduler) {
	for !as.held && len(as.waiters) > 0 {
		i := sched.Next("mmap_lock", as.waiting)
		w := as.waiters[i]
		as.waiters = slices.Delete(as.waiters, i, i+1)
		as.waiting = slices.Delete(as.waiting, i, i+1)
		if w.t.dead {
			continue
		}
		w.t.setWaiting("")
		w.t.handleStop(w.ev)
	}
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
	return &AddressSpace{m: mm.NewMM(model)}
}

// addressSpaceFromHost builds the model of process pid from the host's
// /proc/PID/maps and /proc/PID/stat (brk and stack start), as at exec.
func (s *Sandbox) addressSpaceFromHost(pid int) (*AddressSpace, error) {
	lines, err := readMaps(pid)
	if err != nil {
		return newAddressSpace(mm.NewAddressSpace()), err
	}
	model := mm.FromMaps(lines)
	if startBrk, startStack, err := readStatLayout(pid); err == nil {
		// A new program's break is its start.
		model.SetBrk(startBrk, startBrk)
		model.SetStackStart(startStack)
	}
	return newAddressSpace(model), nil
}

func readMaps(pid int) ([]mm.MapsLine, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	return mm.ParseMaps(string(b))
}

// readStatLayout reads start_brk and start_stack from /proc/PID/stat
// (fields 47 and 28; the current break is not there).
func readStatLayout(pid int) (startBrk, startStack uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which may hold spaces: field 3 on.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	field := func(n int) uint64 {
		if n-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseUint(f[n-3], 10, 64)
		return v
	}
	return field(47), field(28), nil
}

// checkMaps compares the model with the host's /proc/PID/maps and reports
// the first difference.
//
// Preconditions: as is write-locked (the model cannot move under us).
func (s *Sandbox) checkMaps(t *Task, as *AddressSpace, nr uint64) {
	if as == nil || t.dead {
		return
	}
	host, err := readMaps(t.tid)
	if err != nil {
		return // the process is going away
	}
	as.m.AS.SyncGrowsDown(host)
	hidden := s.emulatedFlags()
	guards := s.emulating(hostmm.EmulateGuard)
	if d := mm.DiffMaps(as.m.AS.HostMaps(hidden, guards), host); d != "" {
		s.diffs.Add(1)
		s.logf("check-maps: pid %d after %s: the model and /proc/%d/maps differ:\n%s",
			t.tg.pid, syscalls.Name(uintptr(nr)), t.tg.pid, indent(d))
		if hidden != 0 || guards {
			return // the host lacks the emulated state: keep the model
		}
		// Adopt the host's view so one difference is reported once.
		startBrk, brk := as.m.AS.Brk()
		startStack := as.m.AS.StackStart()
		defFlags := as.m.AS.DefFlags
		as.m.AS = mm.FromMaps(host)
		as.m.AS.SetBrk(startBrk, brk)
		as.m.AS.SetStackStart(startStack)
		as.m.AS.DefFlags = defFlags
		// The maps text does not show seals; smaps does.
		flagsFromSmaps(as.m.AS, t.tid, mm.VMSealed)
	}
}

func indent(s string) string {
	return "madvisor: check-maps:   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\nmadvisor: check-maps:   ")
}

// strace prints one intercepted syscall and its result.
func (s *Sandbox) strace(t *Task, a *action, ret int64) {
	call := syscalls.FormatCall(uintptr(a.nr), a.args, hostView{t})
	s.logMu.Lock()
	defer s.logMu.Unlock()
	locks := ""
	if a.locks != "" {
		locks = " {locks: " + a.locks + "}"
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
	writable := withMode && openForWriting(h.t.tg.pid, fd)
	return mm.Backing{
		Kind:     mm.BackingFile,
		DevMajor: unix.Major(st.Dev),
		DevMinor: unix.Minor(st.Dev),
		Inode:    st.Ino,
		Path:     path,
		Writable: writable,
	}, st.Mode&unix.S_IFMT == unix.S_IFREG, nil
}

// openForWriting reports whether process pid's fd was opened for writing
// (/proc/PID/fdinfo/FD flags).
func openForWriting(pid, fd int) bool {
	v, ok := fdinfoField(pid, fd, "flags")
	fl, err := strconv.ParseUint(v, 8, 64)
	return ok && err == nil && fl&unix.O_ACCMODE != unix.O_RDONLY
}

// fdinfoField returns the value of the "name:" line of /proc/PID/fdinfo/FD.
func fdinfoField(pid, fd int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// MapsLineAt returns the host's /proc/PID/maps line containing addr: the
// identity of mappings the sentry cannot name otherwise (SysV shm, the
// shmem file of a shared anonymous mapping). One PROCMAP_QUERY, or the
// maps text on hosts without it (before 6.11).
func (h hostView) MapsLineAt(addr uint64) (mm.MapsLine, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", h.t.tg.pid))
	if err != nil {
		return mm.MapsLine{}, false
	}
	defer f.Close()
	var name [4096]byte
	q, errno := queryVMA(f, addr, name[:])
	switch errno {
	case 0:
		perms := []byte("---p")
		for i, bit := range []uint64{abi.PROCMAP_QUERY_VMA_READABLE, abi.PROCMAP_QUERY_VMA_WRITABLE, abi.PROCMAP_QUERY_VMA_EXECUTABLE} {
			if q.VMAFlags&bit != 0 {
				perms[i] = "rwx"[i]
			}
		}
		if q.VMAFlags&abi.PROCMAP_QUERY_VMA_SHARED != 0 {
			perms[3] = 's'
		}
		n := int(q.VMANameSize)
		if n > 0 {
			n-- // the size counts the NUL
		}
		return mm.MapsLine{Start: q.VMAStart, End: q.VMAEnd, Perms: string(perms), Offset: q.VMAOffset,
			DevMajor: q.DevMajor, DevMinor: q.DevMinor, Inode: q.Inode, Path: string(name[:n])}, true
	case unix.ENOENT:
		return mm.MapsLine{}, false
	}
	lines, err := readMaps(h.t.tg.pid)
	if err != nil {
		return mm.MapsLine{}, false
	}
	for _, l := range lines {
		if l.Start <= addr && addr < l.End {
			return l, true
		}
	}
	return mm.MapsLine{}, false
}

// DriverFlags implements syscalls.Host: the flags are read from the VMA's
// VmFlags line in /proc/PID/smaps (rare: only device and anon-inode
// mappings ask; the file costs a page-table walk per VMA).
func (h hostView) DriverFlags(addr uint64) (mm.VMFlags, bool) {
	v, ok := smapsField(h.t.tg.pid, addr, "VmFlags")
	return mm.ParseVmFlags(v) & mm.DriverFlags, ok
}

var _ syscalls.Host = hostView{}

// flagsFromSmaps sets on the model's VMAs the flags in mask that the
// host's smaps shows for them (the maps text shows only the access bits
// and sharing).
//
// Preconditions: the model is write-locked or not shared yet.
func flagsFromSmaps(as *mm.AddressSpace, pid int, mask mm.VMFlags) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return
	}
	for _, b := range parseSmaps(string(raw)) {
		for _, f := range b.fields {
			if v, ok := strings.CutPrefix(f, "VmFlags:"); ok {
				if set := mm.ParseVmFlags(v) & mask; set != 0 {
					as.SetFlags(b.line.Start, b.line.End, set, 0)
				}
			}
		}
	}
}
