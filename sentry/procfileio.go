package sentry

import (
	"strconv"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// Reads and writes of a process's /proc/PID/pagemap and /proc/PID/mem under
// guard emulation, where only the model knows the guard pages: a pagemap
// read shows them as a real marker does (bits 62 and 58), and a mem access
// stops at them (EIO at the first page). pread64/pwrite64 are trapped by
// the main filter while anything is emulated; read, write and the vector
// calls only on the fds of such files (fdtrap.go). Both files have only
// .read/.write methods, so the kernel runs a vector call as one access per
// iovec, in order, stopping at the first short or failed one; so does
// this (each access is hostmm's: PagemapRead, MemAccess).

// procFileAccess answers a read or write of a process's pagemap or mem
// file where the emulated guard pages show; other accesses run natively.
// It reports whether it set plan. Engine thread only.
func (t *Task) procFileAccess(plan *syscalls.Plan, call syscalls.FileAccess) bool {
	fd := call.Fd
	target := t.procFileTarget(fd, "pagemap")
	pagemap := target != nil
	switch {
	case pagemap && call.Write:
		return false // EBADF: pagemap is read-only
	case !pagemap:
		target = t.procFileTarget(fd, "mem")
	}
	if target == nil {
		return false // another file (a read of a trapped fd number reused)
	}
	iovs := []mm.Iovec{{Base: call.Buf, Len: call.Count}}
	if call.Vector {
		if call.Count > mm.UIOMaxIOV {
			return false // the host's EINVAL
		}
		b := make([]byte, 16*call.Count)
		if t.readMem(call.Buf, b) != nil {
			return false // the host's EFAULT
		}
		iovs = mm.DecodeIovecs(b)
	}
	off, positional := call.Offset, call.Positional
	if !positional {
		pos, ok := hostmm.FdinfoField(t.tid, fd, "pos")
		if !ok {
			return false
		}
		var err error
		if off, err = strconv.ParseUint(pos, 10, 64); err != nil {
			return false
		}
	}
	var total uint64
	for _, v := range iovs {
		total += v.Len
	}
	as := target.tg.mm
	lo, hi := off&^(mm.PageSize-1), off+total // the bytes of mem, or...
	if pagemap {
		lo, hi = off/8<<mm.PageShift, (off+total+7)/8<<mm.PageShift // ...the pages of the entries
	}
	if total == 0 || hi <= lo || len(as.m.AS.GuardRuns(lo, hi)) == 0 {
		return false // no guard page in reach: the host is exact
	}
	access := func(tr hostmm.Tracee, buf, count, at uint64) (int64, unix.Errno) {
		return hostmm.MemAccess(tr, as.m.AS, fd, call.Write, buf, count, at)
	}
	if pagemap {
		if off%8 != 0 || total > 1<<20 {
			return false
		}
		access = func(tr hostmm.Tracee, buf, count, at uint64) (int64, unix.Errno) {
			return hostmm.PagemapRead(tr, target.tg.pid, as.m.AS, buf, count, at)
		}
	}
	plan.Lock = as
	plan.Emulate = func() int64 {
		var done uint64
		for _, v := range iovs {
			n, errno := access(t, v.Base, v.Len, off+done)
			if errno != 0 {
				if done > 0 {
					break
				}
				return -int64(errno)
			}
			done += uint64(n)
			if uint64(n) < v.Len {
				break
			}
		}
		if !positional && done > 0 {
			if _, err := t.Inject(unix.SYS_LSEEK, uint64(fd), off+done, unix.SEEK_SET); err != nil {
				return -int64(unix.EINTR)
			}
		}
		return int64(done)
	}
	return true
}
