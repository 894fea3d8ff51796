package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// The PAGEMAP_SCAN ioctl (6.7) under guard emulation, when the range holds
// emulated guard pages (the host's own scan would not see them) or the
// host has no such ioctl (before 6.7): the scan is emulated from the
// target's model and the host's pagemap (hostmm.PagemapScan). Other scans
// are the host's, which is exact.

// pagemapScanEntry answers PAGEMAP_SCAN on a /proc/PID/pagemap of a
// process under the sandbox. It reports whether it set plan (scans with
// write-protect flags run natively). Engine thread only.
func (t *Task) pagemapScanEntry(plan *syscalls.Plan, fd int, argAddr uint64) bool {
	target := t.procFileTarget(fd, "pagemap")
	if target == nil {
		return false
	}
	pid := target.tg.pid
	var b [abi.PMScanArgSize]byte
	if t.readMem(argAddr, b[:]) != nil {
		plan.Emulate = func() int64 { return -int64(unix.EFAULT) }
		return true
	}
	a := hostmm.DecodePagemapScanArgs(b[:])
	as := target.tg.mm
	if a.Flags != 0 || hostmm.HostFeatures().PagemapScan && len(as.m.AS.GuardRuns(a.Start&^(mm.PageSize-1), a.End)) == 0 {
		return false // the host's scan is exact
	}
	plan.Lock = as
	plan.Emulate = func() int64 {
		return hostmm.PagemapScan(t, pid, as.m.AS, argAddr, a)
	}
	return true
}
