package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// Reads and writes of a process's /proc/PID/pagemap and /proc/PID/mem under
// guard emulation, where only the model knows the guard pages: a pagemap
// read shows them as a real marker does (bits 62 and 58), and a mem access
// stops at them (EIO at the first page). pread64/pwrite64 are trapped by
// the main filter while anything is emulated; read, write and the vector
// calls only on the fds of such files (fdtrap.go). Both files have only
// .read/.write methods, so the kernel runs a vector call as one access per
// iovec, in order, stopping at the first short or failed one; so does
// this.

// procFileCalls are the calls procFileAccessEntry answers.
var procFileCalls = map[uint64]*procFileCall{
	unix.SYS_READ:     {},
	unix.SYS_WRITE:    {write: true},
	unix.SYS_PREAD64:  {positional: true},
	unix.SYS_PWRITE64: {write: true, positional: true},
	unix.SYS_READV:    {vector: true},
	unix.SYS_WRITEV:   {write: true, vector: true},
	unix.SYS_PREADV:   {vector: true, positional: true},
	unix.SYS_PWRITEV:  {write: true, vector: true, positional: true},
	unix.SYS_PREADV2:  {vector: true, positional: true},
	unix.SYS_PWRITEV2: {write: true, vector: true, positional: true},
}

// procFileCall is how a call of procFileCalls accesses the file.
type procFileCall struct{ write, vector, positional bool }

// procFileAccessEntry answers a read or write of a process's pagemap or
// mem file (procFileCalls) where the emulated guard pages show; other
// accesses run natively. It reports whether it set act. Engine thread only.
func (t *Task) procFileAccessEntry(act *action, si *syscallInfo) bool {
	call := procFileCalls[si.Nr]
	if call == nil {
		return false
	}
	a := si.Args
	fd := int(int32(a[0]))
	target := t.procFileTarget(fd, "pagemap")
	pagemap := target != nil
	switch {
	case pagemap && call.write:
		return false // EBADF: pagemap is read-only
	case !pagemap:
		target = t.procFileTarget(fd, "mem")
	}
	if target == nil {
		return false // another file (a read of a trapped fd number reused)
	}
	iovs := []mm.Iovec{{Base: a[1], Len: a[2]}}
	if call.vector {
		if a[2] > mm.UIOMaxIOV {
			return false // the host's EINVAL
		}
		b := make([]byte, 16*a[2])
		if t.readMem(a[1], b) != nil {
			return false // the host's EFAULT
		}
		iovs = make([]mm.Iovec, a[2])
		for i := range iovs {
			iovs[i] = mm.Iovec{Base: binary.LittleEndian.Uint64(b[16*i:]), Len: binary.LittleEndian.Uint64(b[16*i+8:])}
		}
	}
	off := uint64(0)
	positional := call.positional
	switch {
	case call.vector && positional:
		off = a[3] // pos_l: the whole offset on 64-bit
		if (si.Nr == unix.SYS_PREADV2 || si.Nr == unix.SYS_PWRITEV2) && int64(off) == -1 {
			positional = false // the file position
		}
	case positional:
		off = a[3]
	}
	if !positional {
		pos, ok := fdinfoField(t.tid, fd, "pos")
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
		return t.memAccess(tr, as, fd, call.write, buf, count, at)
	}
	if pagemap {
		if off%8 != 0 || total > 1<<20 {
			return false
		}
		access = func(_ hostmm.Tracee, buf, count, at uint64) (int64, unix.Errno) {
			return t.pagemapRead(target, buf, count, at)
		}
	}
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
		var done uint64
		for _, v := range iovs {
			n, errno := access(tr, v.Base, v.Len, off+done)
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
			if _, err := tr.Inject(unix.SYS_LSEEK, uint64(fd), off+done, unix.SEEK_SET); err != nil {
				return -int64(unix.EINTR)
			}
		}
		return int64(done)
	}
	return true
}

// pagemapRead reads count bytes of target's pagemap at off into the
// tracee's buf: the host's entries, with the guard pages' ones as a real
// marker shows them (frame bits only for a reader with CAP_SYS_ADMIN).
func (t *Task) pagemapRead(target *Task, buf, count, off uint64) (int64, unix.Errno) {
	if off%8 != 0 || count%8 != 0 {
		return 0, unix.EINVAL
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", target.tg.pid))
	if err != nil {
		return 0, unix.EIO
	}
	defer f.Close()
	b := make([]byte, count)
	n, err := f.ReadAt(b, int64(off))
	if n == 0 && err != nil && count > 0 {
		return 0, unix.EIO
	}
	guard := uint64(pmSwap | pmGuardRegion)
	if hasCapability(t.tid, unix.CAP_SYS_ADMIN) {
		guard |= pmGuardFrame
	}
	b = b[:n&^7]
	for i := 0; i < len(b); i += 8 {
		if page := (off/8 + uint64(i/8)) << mm.PageShift; target.tg.mm.m.AS.IsGuard(page) {
			binary.LittleEndian.PutUint64(b[i:], guard)
		}
	}
	if len(b) > 0 && t.writeMem(buf, b) != nil {
		return 0, unix.EFAULT
	}
	return int64(len(b)), 0
}

// memAccess reads or writes count bytes of a /proc/PID/mem at off, for
// the tracee's buf, stopping where an emulated guard page begins (EIO if
// it is the first byte), by an injected pread64/pwrite64 on fd.
func (t *Task) memAccess(tr hostmm.Tracee, as *AddressSpace, fd int, write bool, buf, count, off uint64) (int64, unix.Errno) {
	if runs := as.m.AS.GuardRuns(off&^(mm.PageSize-1), off+count); len(runs) > 0 {
		if runs[0].Start <= off {
			return 0, unix.EIO
		}
		count = min(count, runs[0].Start-off)
	}
	if count == 0 {
		return 0, 0
	}
	nr := uintptr(unix.SYS_PREAD64)
	if write {
		nr = unix.SYS_PWRITE64
	}
	ret, err := tr.Inject(nr, uint64(fd), buf, count, off)
	switch {
	case err != nil:
		return 0, unix.EINTR
	case ret < 0:
		return 0, unix.Errno(-ret)
	}
	return ret, 0
}
