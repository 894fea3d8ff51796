package sentry

import (
	"fmt"
	"os"
	"strings"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// The PROCMAP_QUERY ioctl (6.11) while the sentry keeps the program's view
// of /proc: the program's maps fd is then the sentry's memfd (procview.go),
// on which the host has no such ioctl, and a host before 6.11 has none at
// all; so the query is answered from the model (hostmm.ProcmapQuery).

// procmapQueryEntry answers PROCMAP_QUERY on a maps fd of the /proc view.
// It reports whether it set plan. Engine thread only.
func (t *Task) procmapQueryEntry(plan *syscalls.Plan, fd int, argAddr uint64) bool {
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", t.tid, fd))
	if err != nil {
		return false
	}
	// The view's memfd is named after the path the program opened ("self"
	// is read as the caller: the opener, unless the fd was inherited).
	path, ok := strings.CutPrefix(strings.TrimSuffix(link, " (deleted)"), "/memfd:")
	if !ok {
		path = link // the host's own maps file (a host without the ioctl)
	}
	target, file := t.procFileOf(path)
	if target == nil || target.tg.mm == nil || file != "maps" {
		return false
	}
	as := target.tg.mm
	plan.Lock = as
	plan.Emulate = func() int64 {
		return hostmm.ProcmapQuery(t, as.m.AS, argAddr)
	}
	return true
}
