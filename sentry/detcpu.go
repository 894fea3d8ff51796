package sentry

import (
	"fmt"
	"os"
	"path"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/syscalls"
)

// One CPU seen in deterministic mode: the sentry runs one thread at a
// time, and a program that sized its work by the host's CPUs, or read
// which CPU it runs on, would behave per host. The affinity calls and
// getcpu answer CPU 0 only; rseq is refused (ENOSYS: its cpu_id field is
// written by the host's scheduler; glibc then does without it); the
// sysfs files libc reads for the CPU count say "0". Not covered:
// /proc/cpuinfo, /proc/stat and the /sys/devices/system/cpu/cpuN
// directories, which still show the host's.

// pinToOneCPU keeps the engine thread (the caller) and, by inheritance,
// every tracee on the CPU the engine runs on now. One thread runs at a
// time in this mode, so nothing is lost, and a stop then wakes the engine
// on the CPU the tracee just left instead of another (on a virtual
// machine an idle vCPU's wakeup is an interrupt and a VM exit): Python
// threads ran 2.2x faster so. The program's own sched_setaffinity is
// answered without changing it. Engine thread only.
func (d *detRun) pinToOneCPU() {
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 {
		return
	}
	var set unix.CPUSet
	set.Set(int(cpu))
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		d.s.logf("deterministic mode: keeping the run on CPU %d: %v", cpu, err)
	}
}

// oneCPUMaskSize is the kernel's cpumask_size() on a machine with one
// CPU: one long.
const oneCPUMaskSize = 8

// CPU implements syscalls.Context.
func (t *Task) CPU(k syscalls.CPUCall, r syscalls.Regs) (syscalls.Plan, bool) {
	if t.detRun() == nil {
		return syscalls.Plan{}, false
	}
	switch k {
	case syscalls.SchedGetaffinity:
		// The host's call first, for its checks of pid and len (its
		// result is a mask of the host's CPUs, replaced here).
		return syscalls.Plan{Emulate: func() int64 {
			ret, err := t.Inject(unix.SYS_SCHED_GETAFFINITY, r[0], r[1], r[2])
			if err != nil {
				return -int64(unix.EINTR)
			}
			if ret < 0 {
				return ret
			}
			mask := make([]byte, min(int(ret), oneCPUMaskSize))
			mask[0] = 1
			if t.writeMem(r[2], mask) != nil {
				return -int64(unix.EFAULT)
			}
			return int64(len(mask))
		}}, true
	case syscalls.SchedSetaffinity:
		// A mask must hold CPU 0, the only one; the host's affinity is
		// left alone (one thread runs at a time anyway).
		if r[1] == 0 {
			return emulated(-int64(unix.EINVAL))
		}
		var b [1]byte
		if t.readMem(r[2], b[:]) != nil {
			return emulated(-int64(unix.EFAULT))
		}
		if b[0]&1 == 0 {
			return emulated(-int64(unix.EINVAL))
		}
		if pid := int32(r[0]); pid < 0 {
			return emulated(-int64(unix.ESRCH))
		}
		return emulated(0)
	case syscalls.Getcpu:
		var zero [4]byte
		for _, addr := range []uint64{r[0], r[1]} {
			if addr != 0 && t.writeMem(addr, zero[:]) != nil {
				return emulated(-int64(unix.EFAULT))
			}
		}
		return emulated(0)
	case syscalls.Rseq:
		return emulated(-int64(unix.ENOSYS))
	}
	return syscalls.Plan{}, false
}

// sysCPUFiles are the sysfs CPU lists libc reads for the number of CPUs.
var sysCPUFiles = map[string]bool{
	"/sys/devices/system/cpu/online":   true,
	"/sys/devices/system/cpu/possible": true,
	"/sys/devices/system/cpu/present":  true,
}

// sysCPUOpen answers, in deterministic mode, a read-only open of one of
// sysCPUFiles (path p, at pathAddr) with a memfd, named after the path,
// that holds "0\n".
func (t *Task) sysCPUOpen(pathAddr uint64, p string, flags uint64) (syscalls.Plan, bool) {
	if t.detRun() == nil || flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_PATH|unix.O_DIRECTORY) != 0 ||
		!sysCPUFiles[path.Clean(p)] {
		return syscalls.Plan{}, false
	}
	return syscalls.Plan{Emulate: func() int64 {
		fd := t.openMemfd(pathAddr, flags)
		if fd < 0 {
			return fd
		}
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/fd/%d", t.tid, fd), []byte("0\n"), 0); err != nil {
			t.s.logf("pid %d: writing %s: %v", t.tg.pid, p, err)
		}
		return fd
	}}, true
}
