package hostmm

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// Reads and writes of a process's /proc/PID/pagemap and /proc/PID/mem
// under guard emulation, where only the model knows the guard pages: a
// pagemap read shows them as a real marker does (bits 62 and 58), and a
// mem access stops at them (EIO at the first page). The sentry decides
// which accesses come here (those that reach a guard page); these are one
// access each, for one iovec.

// PagemapRead reads count bytes of process pid's pagemap at off into
// tr's buf: the host's entries, with the guard pages of as (pid's model)
// as a real marker shows them (frame bits only for a reader, tr, with
// CAP_SYS_ADMIN).
//
// Preconditions: as is locked by the caller.
func PagemapRead(tr Tracee, pid int, as *mm.AddressSpace, buf, count, off uint64) (int64, unix.Errno) {
	if off%8 != 0 || count%8 != 0 {
		return 0, unix.EINVAL
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return 0, unix.EIO
	}
	defer f.Close()
	b := make([]byte, count)
	n, err := f.ReadAt(b, int64(off))
	if n == 0 && err != nil && count > 0 {
		return 0, unix.EIO
	}
	guard := uint64(abi.PM_SWAP | abi.PM_GUARD_REGION)
	if HasCapability(tr.Tid(), unix.CAP_SYS_ADMIN) {
		guard |= abi.PMGuardFrame
	}
	b = b[:n&^7]
	for i := 0; i < len(b); i += 8 {
		if page := (off/8 + uint64(i/8)) << mm.PageShift; as.IsGuard(page) {
			binary.LittleEndian.PutUint64(b[i:], guard)
		}
	}
	if len(b) > 0 && tr.WriteMem(buf, b) != nil {
		return 0, unix.EFAULT
	}
	return int64(len(b)), 0
}

// MemAccess reads or writes count bytes of a /proc/PID/mem at off, for
// tr's buf, stopping where a guard page of as (the model of the file's
// process) begins (EIO if it is the first byte), by an injected
// pread64/pwrite64 on tr's fd.
//
// Preconditions: as is locked by the caller.
func MemAccess(tr Tracee, as *mm.AddressSpace, fd int, write bool, buf, count, off uint64) (int64, unix.Errno) {
	if runs := as.GuardRuns(off&^(mm.PageSize-1), off+count); len(runs) > 0 {
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
