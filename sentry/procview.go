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

// procViewOpen answers an open, openat or openat2 (nr, with registers a)
// of path p (at pathAddr) when it is a maps file the model knows; any
// other open runs natively. It reports whether it set plan. Engine thread
// only.
func (t *Task) procViewOpen(plan *syscalls.Plan, nr uintptr, a syscalls.Regs, pathAddr uint64, p string, flags uint64) bool {
	if flags&(unix.O_PATH|unix.O_DIRECTORY) != 0 {
		return false
	}
	target, file := t.procFileOf(p)
	if target == nil || target.tg.mm == nil {
		return false
	}
	switch {
	case file == "pagemap" || file == "mem":
		if t.s.emulating(hostmm.EmulateGuard) {
			// The host's file, with read(2)/write(2) on it trapped
			// (fdtrap.go).
			plan.Emulate = func() int64 {
				fd, err := t.Inject(nr, a[0], a[1], a[2], a[3], a[4], a[5])
				if err != nil {
					return -int64(unix.EINTR)
				}
				if fd >= 0 {
					t.trapFileAccess(t, int(fd))
				}
				return fd
			}
			return true
		}
		return false
	case flags&unix.O_ACCMODE != unix.O_RDONLY:
		return false
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
