package hostmm

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"madvisor/abi"
	"madvisor/mm"
)

// Emulation of the advice that hosts before 6.1 lack (EmulatePopulate,
// EmulateColdPageout, EmulateDontneedLocked, EmulateWipeOnFork,
// EmulateFree). The model decides every result, as for any advice; what
// the advice does to the host's memory is done with calls such a host has,
// on the pieces the model applied it to (EmulateAdvice). WIPEONFORK's flag
// lives only in the model; a forked child's wipe-on-fork VMAs are
// discarded in it before it runs (NewForkFix).

// EmulateAdvice does advice's work on the host over pieces, with calls a
// host without the advice has. It returns 0, or POPULATE's errno for the
// first page it could not fault in (the pieces after it are not visited).
// The tracee is in an injection.
func (b *Backend) EmulateAdvice(advice int, pieces []mm.MadviseRange) unix.Errno {
	for _, p := range pieces {
		size := p.End - p.Start
		switch advice {
		case unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
			if e := b.populate(p, advice == unix.MADV_POPULATE_WRITE); e != 0 {
				return populateErrno(e)
			}
		case unix.MADV_DONTNEED_LOCKED:
			if p.VMA.Flags&mm.VMLocked == 0 {
				b.inject(unix.SYS_MADVISE, p.Start, size, unix.MADV_DONTNEED)
				continue
			}
			// DONTNEED refuses locked VMAs: unlock, discard, lock again
			// (the host's VMAs split and merge back meanwhile).
			var onFault uint64
			if p.VMA.Flags&mm.VMLockOnFault != 0 {
				onFault = unix.MLOCK_ONFAULT
			}
			if b.inject(unix.SYS_MUNLOCK, p.Start, size) == 0 {
				b.inject(unix.SYS_MADVISE, p.Start, size, unix.MADV_DONTNEED)
				b.inject(unix.SYS_MLOCK2, p.Start, size, onFault)
			}
		case unix.MADV_FREE:
			// A FREE page stays until reclaim wants memory; the host's
			// reclaim cannot know it may drop it, so the sentry frees it
			// at once when memory is short now (which FREE allows: its
			// contents may be lost any time until it is written).
			if memoryShort() {
				b.inject(unix.SYS_MADVISE, p.Start, size, unix.MADV_DONTNEED)
			}
		case unix.MADV_PAGEOUT:
			// Reclaim unmaps the pages it takes; a file or shmem page's
			// contents stay in the page cache. Anonymous pages would go
			// to swap, which this emulation does not do (as a kernel
			// without swap). Driver mappings (VM_SPECIAL) are not on the
			// LRU lists: reclaim never takes their pages.
			if p.VMA.Flags&mm.VMSpecial != 0 || p.VMA.Backing.Kind != mm.BackingFile && p.VMA.Backing.Kind != mm.BackingSharedAnon {
				continue
			}
			inCache := func(_, entry uint64) bool {
				return entry&(abi.PM_PRESENT|abi.PM_FILE_SHARED) == abi.PM_PRESENT|abi.PM_FILE_SHARED
			}
			for _, r := range PagemapRuns(b.tr.Pid(), p.Start, p.End, inCache) {
				b.inject(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
			}
		}
		// COLD only ages pages on the LRU lists; WIPEONFORK and
		// KEEPONFORK change the model's flag: nothing on the host.
	}
	return 0
}

// populate faults in the pages of r as POPULATE_READ / POPULATE_WRITE do,
// and returns 0 or the errno of the first page that could not be faulted
// in. Read faults are taken in batches through process_vm_readv
// (madvisor's own access to the tracee: no signal, the VMA's protection
// honoured); a page it cannot read, and every write fault, is faulted in
// by a futex call injected in the tracee, which touches the word at the
// page's start as user access does and changes nothing (futexFault).
func (b *Backend) populate(r mm.MadviseRange, write bool) unix.Errno {
	if write && r.End-r.Start > 2*mm.PageSize && writeFaultsByMlock(r.VMA) {
		// Two calls instead of one per page: mlock populates a private
		// writable VMA with write faults (copy-on-write broken), and
		// munlock gives the VMA back as it was. If it fails (a file's
		// end, RLIMIT_MEMLOCK), the pages are taken one by one below,
		// which finds where and why.
		ret, err := b.tr.Inject(unix.SYS_MLOCK, r.Start, r.End-r.Start)
		if err != nil {
			return unix.EINTR
		}
		if _, err := b.tr.Inject(unix.SYS_MUNLOCK, r.Start, r.End-r.Start); err != nil {
			return unix.EINTR
		}
		if ret == 0 {
			return 0
		}
	}
	for at := r.Start; at < r.End; at += mm.PageSize {
		if !write {
			if at += readFaults(b.tr.Tid(), at, r.End) << mm.PageShift; at == r.End {
				break
			}
		}
		if e := futexFault(b.tr, at, write); e != 0 {
			return e
		}
	}
	return 0
}

// writeFaultsByMlock reports whether mlock + munlock populate v as
// POPULATE_WRITE does and leave it as it was: a private writable VMA (mlock
// write-faults only those), not locked already (munlock would unlock it),
// not armed with a userfaultfd (whose faults must reach the program's
// handler as the kernel's populate delivers them).
func writeFaultsByMlock(v mm.VMA) bool {
	return v.Flags&(mm.VMWrite|mm.VMShared|mm.VMLockedMask) == mm.VMWrite && !v.UffdArmed
}

// readFaults faults in the pages of [start, end) of thread tid for
// reading by reading one byte of each through process_vm_readv, up to the
// first it cannot read; it returns how many it read.
func readFaults(tid int, start, end uint64) uint64 {
	const batch = 1024 // IOV_MAX
	var buf [batch]byte
	var done uint64
	for at := start; at < end; {
		n := min(uint64(batch), (end-at)>>mm.PageShift)
		remote := make([]unix.RemoteIovec, n)
		for i := range remote {
			remote[i] = unix.RemoteIovec{Base: uintptr(at + uint64(i)<<mm.PageShift), Len: 1}
		}
		local := []unix.Iovec{{Base: &buf[0]}}
		local[0].SetLen(int(n))
		got, _ := unix.ProcessVMReadv(tid, local, remote, 0)
		done += uint64(max(got, 0))
		if uint64(got) < n {
			break
		}
		at += n << mm.PageShift
	}
	return done
}

// futexFault makes the tracee fault in the page at addr for reading or
// writing, through the futex word at its start:
//   - read: FUTEX_CMP_REQUEUE with nothing to wake or requeue reads the
//     word (0, or EAGAIN when it is not the expected value: either is a
//     success);
//   - write: FUTEX_WAKE_OP adds zero to the word atomically; its
//     comparison code is none of FUTEX_OP_CMP_*, so after the add the
//     kernel returns ENOSYS and wakes no one.
//
// EFAULT means the page cannot be faulted in (a SIGBUS or SIGSEGV on
// access; for a write, a page that cannot be written).
func futexFault(tr Tracee, addr uint64, write bool) unix.Errno {
	var ret int64
	var err error
	if write {
		const op = linux.FUTEX_OP_ADD<<28 | 15<<24
		ret, err = tr.Inject(unix.SYS_FUTEX, addr, linux.FUTEX_WAKE_OP|linux.FUTEX_PRIVATE_FLAG, 0, 0, addr, op)
		if ret == -int64(unix.ENOSYS) {
			ret = 0
		}
	} else {
		ret, err = tr.Inject(unix.SYS_FUTEX, addr, linux.FUTEX_CMP_REQUEUE|linux.FUTEX_PRIVATE_FLAG, 0, 0, addr+4, 0)
		if ret == -int64(unix.EAGAIN) {
			ret = 0
		}
	}
	switch {
	case err != nil:
		return unix.EINTR
	case ret < 0:
		return unix.Errno(-ret)
	case ret > 0:
		return unix.ENOMEM // woke or requeued a waiter: never seen
	}
	return 0
}

// PagemapRuns returns the runs of pages in [start, end) of process pid
// whose pagemap entries, read now, satisfy keep.
func PagemapRuns(pid int, start, end uint64, keep func(page, entry uint64) bool) [][2]uint64 {
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return nil
	}
	defer pm.Close()
	b := make([]byte, 8*((end-start)>>mm.PageShift))
	if n, _ := pm.ReadAt(b, int64(start>>mm.PageShift*8)); n != len(b) {
		return nil
	}
	var runs [][2]uint64
	for i := 0; i < len(b); i += 8 {
		page := start + uint64(i/8)<<mm.PageShift
		if !keep(page, binary.LittleEndian.Uint64(b[i:])) {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1][1] == page {
			runs[n-1][1] += mm.PageSize
		} else {
			runs = append(runs, [2]uint64{page, page + mm.PageSize})
		}
	}
	return runs
}

// memoryShort reports whether the host is short of memory: less than a
// tenth of it available (/proc/meminfo MemAvailable), where reclaim would
// be taking FREE pages. /proc/meminfo costs ~150 µs to read: the answer
// is kept for 100 ms. Engine thread only (lastMeminfo is unguarded).
func memoryShort() bool {
	if now := time.Now(); now.Sub(lastMeminfo.at) > 100*time.Millisecond {
		b, err := os.ReadFile("/proc/meminfo")
		lastMeminfo.at, lastMeminfo.short = now, err == nil && meminfoShort(string(b))
	}
	return lastMeminfo.short
}

// lastMeminfo is memoryShort's last answer and when it was read.
var lastMeminfo struct {
	at    time.Time
	short bool
}

// meminfoShort is memoryShort's decision on the text of /proc/meminfo.
func meminfoShort(meminfo string) bool {
	var total, avail uint64
	found := false
	for _, l := range strings.Split(meminfo, "\n") {
		fmt.Sscanf(l, "MemTotal: %d kB", &total)
		if n, _ := fmt.Sscanf(l, "MemAvailable: %d kB", &avail); n == 1 {
			found = true
		}
	}
	return found && avail < total/10
}
