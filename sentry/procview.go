package sentry

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// The program's own view of /proc, kept while the sentry emulates a kernel
// feature (Sandbox.procView): the host's /proc/PID/maps shows the host's
// VMAs, which an emulation changes (a seal the host never saw does not
// split a VMA there), so an open of the maps file of a process under the
// sandbox is answered with the model's text, which is what the emulated
// kernel prints. The program gets a memfd holding that text, named after
// the path it opened; it reads it like the real file. The text is written
// at the open and again after every change of the model while the file is
// open (viewFile), so a program that rewinds and re-reads it sees the
// current VMAs (the text is hostmm's: hostmm.View). pagemap, mem,
// PAGEMAP_SCAN and PROCMAP_QUERY are answered per call (procfileio.go,
// pagemapscan.go, procmapquery.go).

// procViewOpen answers an open, openat or openat2 of path p (at pathAddr)
// when it names a maps file the model knows; any other open runs natively
// (and watchOpen sees what it opened). It reports whether it set plan.
// Engine thread only.
func (t *Task) procViewOpen(plan *syscalls.Plan, pathAddr uint64, p string, flags uint64) bool {
	if flags&(unix.O_PATH|unix.O_DIRECTORY) != 0 {
		return false
	}
	target, file := t.procFileOf(p)
	if target == nil || target.tg.mm == nil {
		return false
	}
	if file == "pagemap" || file == "mem" || flags&unix.O_ACCMODE != unix.O_RDONLY {
		return false // the host's file (watchOpen)
	}
	as, pid := target.tg.mm, target.tg.pid
	plan.Lock = as
	plan.Emulate = func() int64 {
		fd := t.openMemfd(pathAddr, flags)
		if fd < 0 {
			return fd
		}
		v := viewFile{View: hostmm.View{Tid: t.tid, FD: int(fd), Pid: pid, Smaps: file == "smaps"}, link: "/memfd:" + p + " (deleted)"}
		if err := t.s.writeView(as, v); err != nil {
			t.s.logf("pid %d: writing the model's maps for %s: %v", t.tg.pid, p, err)
		}
		as.views = append(as.views, v)
		return fd
	}
	return true
}

// watchOpen is the step of an open that procViewOpen did not answer: it
// runs natively, and at its exit the sentry asks the kernel which file it
// opened (hostmm.ProcFileOfFD), so that however the program named it (a
// dirfd, a relative path, symlinks, /proc/self/fd/N, thread-self, a task
// directory), a pagemap or mem file of a process under the sandbox gets
// its reads and writes trapped (fdtrap.go) and a maps or smaps file opened
// for reading is replaced by the view's (viewOpened). Engine thread only.
func (t *Task) watchOpen(flags uint64) (syscalls.Plan, bool) {
	if !t.s.procView() || flags&unix.O_PATH != 0 {
		return syscalls.Plan{}, false
	}
	return syscalls.Plan{Exit: func(ret int64) int64 {
		if ret < 0 {
			return ret
		}
		fd := int(ret)
		pid, file, ok := hostmm.ProcFileOfFD(t.tid, fd)
		if !ok {
			return ret
		}
		target := t.s.programTask(pid)
		if target == nil || target.tg.mm == nil {
			return ret
		}
		switch {
		case file == "pagemap" || file == "mem":
			if t.s.emulating(hostmm.EmulateGuard) {
				return t.trapOpened(fd, ret)
			}
		case flags&unix.O_ACCMODE == unix.O_RDONLY:
			t.viewOpened(target, fmt.Sprintf("/proc/%d/%s", pid, file), fd, flags)
		}
		return ret
	}}, true
}

// viewOpened replaces fd, a maps or smaps file (path) of target that the
// host has just opened for the call at t's exit stop, by a memfd of the
// /proc view, as procViewOpen answers an open it recognizes: a memfd
// named path (made at a free number, copied over fd, closed). The model
// is not locked: only the engine thread touches it, and a call that holds
// its lock meanwhile rewrites the view when it ends (refreshViews).
// Engine thread only.
func (t *Task) viewOpened(target *Task, path string, fd int, flags uint64) {
	if t.beginExitInjection() != nil {
		return
	}
	defer t.finishInjection(int64(fd))
	var mfd int64 = -1
	err := t.WithScratch(append([]byte(path), 0), func(addr uint64) error {
		var err error
		mfd, err = t.Inject(unix.SYS_MEMFD_CREATE, addr, unix.MFD_CLOEXEC)
		return err
	})
	if err != nil || mfd < 0 {
		t.s.warnOnce("view-reopen", "pid %d: cannot replace %s by the /proc view (%v, %d): the program reads the host's", t.tg.pid, path, err, mfd)
		return
	}
	cloexec := uint64(0)
	if flags&unix.O_CLOEXEC != 0 {
		cloexec = unix.O_CLOEXEC
	}
	ret, err := t.Inject(unix.SYS_DUP3, uint64(mfd), uint64(fd), cloexec)
	if err != nil {
		return
	}
	t.Inject(unix.SYS_CLOSE, uint64(mfd))
	if ret < 0 {
		t.s.warnOnce("view-reopen", "pid %d: cannot replace %s by the /proc view (%d): the program reads the host's", t.tg.pid, path, ret)
		return
	}
	as := target.tg.mm
	v := viewFile{View: hostmm.View{Tid: t.tid, FD: fd, Pid: target.tg.pid, Smaps: strings.HasSuffix(path, "/smaps")}, link: "/memfd:" + path + " (deleted)"}
	if err := t.s.writeView(as, v); err != nil {
		t.s.logf("pid %d: writing the model's maps for %s: %v", t.tg.pid, path, err)
	}
	as.views = append(as.views, v)
}

// openMemfd answers an open whose flags are flags with a new memfd in
// t named after the path at pathAddr (close-on-exec as the open asked):
// its fd, or the error to return.
func (t *Task) openMemfd(pathAddr, flags uint64) int64 {
	mfdFlags := uint64(0)
	if flags&unix.O_CLOEXEC != 0 {
		mfdFlags = unix.MFD_CLOEXEC
	}
	fd, err := t.Inject(unix.SYS_MEMFD_CREATE, pathAddr, mfdFlags)
	if err != nil {
		return -int64(unix.EINTR)
	}
	return fd
}

// procFileOf returns the task whose maps, smaps, pagemap or mem file p
// names, if it is a process under the sandbox, and which file:
// /proc/self/F, /proc/thread-self/F, /proc/PID/F and /proc/PID/task/TID/F
// (absolute paths only).
func (t *Task) procFileOf(p string) (*Task, string) {
	p = path.Clean(p)
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return nil, ""
	}
	parts := strings.Split(rest, "/")
	file := parts[len(parts)-1]
	switch file {
	case "maps", "smaps", "pagemap", "mem":
	default:
		return nil, ""
	}
	parts = parts[:len(parts)-1]
	if len(parts) == 3 && parts[1] == "task" {
		parts = parts[2:] // a thread: its process's mm
	}
	if len(parts) != 1 {
		return nil, ""
	}
	switch parts[0] {
	case "self", "thread-self":
		return t, file
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil {
		return nil, ""
	}
	if target := t.s.programTask(pid); target != nil {
		return target, file
	}
	return nil, ""
}

// viewFile is a maps or smaps file of the /proc view that a program holds
// open (hostmm.View). A program may read it again after lseek (mremap_test
// re-reads its maps fd), so its text follows the model: it is rewritten
// after every change.
type viewFile struct {
	hostmm.View
	link string // the memfd's /proc/TID/fd link while it is ours
}

// writeView writes the current text of v.
func (s *Sandbox) writeView(as *AddressSpace, v viewFile) error {
	return v.Write(as.m.AS, s.emulatedFlags())
}

// refreshViews rewrites the open view files of as after a change of its
// model, and forgets those the program closed. Engine thread only.
func (s *Sandbox) refreshViews(as *AddressSpace) {
	if as == nil || len(as.views) == 0 {
		return
	}
	kept := as.views[:0]
	for _, v := range as.views {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", v.Tid, v.FD))
		if err != nil || link != v.link || s.writeView(as, v) != nil {
			continue
		}
		kept = append(kept, v)
	}
	as.views = kept
}
