package hostmm

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"madvisor/abi"

	"golang.org/x/sys/unix"
)

// Features is what the host kernel offers of the memory API madvisor
// emulates, found by probing it (not by its version: distributions
// backport and configure).
type Features struct {
	// Release is the kernel release (uname -r).
	Release string
	// Advice reports, per madvise advice value, whether the host accepts
	// it (madvise_behavior_valid: a known value whose Kconfig is on).
	Advice map[int]bool
	// KSM, THP and MemoryFailure are the Kconfig options that gate advice
	// (MERGEABLE/UNMERGEABLE; HUGEPAGE/NOHUGEPAGE/COLLAPSE;
	// HWPOISON/SOFT_OFFLINE); Swap is CONFIG_SWAP (WILLNEED on anonymous
	// memory).
	KSM, THP, MemoryFailure, Swap bool
	// ProcessMadvise (5.10), PidfdSelf (PIDFD_SELF_*, 6.14/6.15), Mseal
	// (6.10), GuardFile (guard markers on file mappings, 6.15),
	// ProcmapQuery (the PROCMAP_QUERY ioctl, 6.11), Userfaultfd,
	// PagemapScan (the PAGEMAP_SCAN ioctl, 6.7), SmapsGuardFlag (smaps
	// VmFlags "gu" on a VMA that had a marker, ~6.19), PagemapGuardBit
	// (pagemap bit 58 on a guard page, 6.15).
	ProcessMadvise, PidfdSelf, Mseal, GuardFile, ProcmapQuery, Userfaultfd bool
	PagemapScan, SmapsGuardFlag, PagemapGuardBit                           bool
	// Pkeys is memory protection keys (pkey_alloc works: a CPU with PKU).
	Pkeys bool
}

// HostFeatures probes the host once (in madvisor's own process) and
// returns what it found.
var HostFeatures = sync.OnceValue(probe)

func probe() Features {
	f := Features{Advice: map[int]bool{}}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Release = unix.ByteSliceToString(u.Release[:])
	}
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err == nil {
		defer unix.Munmap(page)
		addr := uintptr(unsafe.Pointer(&page[0]))
		for _, a := range abi.AdviceValues {
			// A zero length: the advice is checked first, then nothing
			// is done (facts "order of checks" 1 and 4).
			_, _, e := unix.Syscall(unix.SYS_MADVISE, addr, 0, uintptr(a))
			f.Advice[a] = e == 0
		}
	}
	f.KSM = f.Advice[unix.MADV_MERGEABLE]
	f.THP = f.Advice[unix.MADV_HUGEPAGE]
	f.MemoryFailure = f.Advice[unix.MADV_HWPOISON]
	_, err = os.Stat("/proc/swaps")
	f.Swap = err == nil

	// process_madvise(-1, NULL, 0, COLD, 0): EBADF where it exists.
	_, _, e := unix.Syscall6(unix.SYS_PROCESS_MADVISE, ^uintptr(0), 0, 0, unix.MADV_COLD, 0, 0)
	f.ProcessMadvise = e != unix.ENOSYS
	selfFD := abi.PIDFD_SELF_THREAD_GROUP
	_, _, e = unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(selfFD), 0, 0, unix.MADV_COLD, 0, 0)
	f.PidfdSelf = f.ProcessMadvise && e == 0
	// mseal(0, 0, 0) seals nothing and returns 0 where it exists.
	_, _, e = unix.Syscall(unix.SYS_MSEAL, 0, 0, 0)
	f.Mseal = e != unix.ENOSYS
	f.GuardFile = f.Advice[unix.MADV_GUARD_INSTALL] && probeGuardFile()
	if maps, err := os.Open("/proc/self/maps"); err == nil {
		// A zero-sized query is refused with EINVAL where the ioctl
		// exists, ENOTTY where it does not.
		var q [104]byte
		_, _, e = unix.Syscall(unix.SYS_IOCTL, maps.Fd(), abi.PROCMAP_QUERY, uintptr(unsafe.Pointer(&q[0])))
		f.ProcmapQuery = e != unix.ENOTTY
		maps.Close()
	}
	_, _, e = unix.Syscall(unix.SYS_USERFAULTFD, ^uintptr(0), 0, 0)
	f.Userfaultfd = e != unix.ENOSYS
	if pm, err := os.Open("/proc/self/pagemap"); err == nil {
		// A zero-sized argument is EINVAL where the ioctl exists.
		var arg [96]byte
		_, _, e = unix.Syscall(unix.SYS_IOCTL, pm.Fd(), abi.PAGEMAP_SCAN, uintptr(unsafe.Pointer(&arg[0])))
		f.PagemapScan = e != unix.ENOTTY
		pm.Close()
	}
	if f.Advice[unix.MADV_GUARD_INSTALL] {
		f.SmapsGuardFlag, f.PagemapGuardBit = probeGuardObservables()
	}
	if key, _, e := unix.Syscall(unix.SYS_PKEY_ALLOC, 0, 0, 0); e == 0 {
		f.Pkeys = true
		unix.Syscall(unix.SYS_PKEY_FREE, key, 0, 0)
	}
	return f
}

// probeGuardObservables installs a marker on a scratch page and reports
// whether smaps shows "gu" for its VMA and pagemap bit 58 for the page.
func probeGuardObservables() (smapsGu, pagemapBit bool) {
	size := os.Getpagesize()
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false, false
	}
	defer unix.Munmap(b)
	if unix.Madvise(b, unix.MADV_GUARD_INSTALL) != nil {
		return false, false
	}
	addr := uint64(uintptr(unsafe.Pointer(&b[0])))
	if pm, err := os.Open("/proc/self/pagemap"); err == nil {
		var e [8]byte
		if n, _ := pm.ReadAt(e[:], int64(addr/uint64(size)*8)); n == 8 {
			pagemapBit = e[7]&(1<<(58-56)) != 0
		}
		pm.Close()
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return false, pagemapBit
	}
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		var lo, hi uint64
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") && !strings.HasSuffix(line, "kB") {
			in = lo <= addr && addr < hi
			continue
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return slices.Contains(strings.Fields(v), "gu"), pagemapBit
		}
	}
	return false, pagemapBit
}

// probeGuardFile reports whether GUARD_INSTALL works on a shared memfd
// mapping (6.15; before, file mappings are EINVAL).
func probeGuardFile() bool {
	fd, err := unix.MemfdCreate("madvisor-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	size := os.Getpagesize()
	if unix.Ftruncate(fd, int64(size)) != nil {
		return false
	}
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return false
	}
	defer unix.Munmap(b)
	return unix.Madvise(b, unix.MADV_GUARD_INSTALL) == nil
}

// An Emulation is a kernel feature madvisor can provide itself when the
// host lacks it (or when asked to, so that the emulation runs on a host
// that has the feature).
type Emulation string

const (
	// EmulateMseal: mseal(2) in the model; the sentry refuses what a seal
	// forbids (munmap, mprotect, mremap, mmap MAP_FIXED, brk, discards).
	EmulateMseal Emulation = "mseal"
	// EmulateGuard: guard markers (MADV_GUARD_INSTALL / REMOVE). The
	// model keeps the markers; on the host a guard page is PROT_NONE with
	// its contents discarded, a fault on it is reported as SEGV_MAPERR,
	// and the program's /proc view hides the PROT_NONE pieces.
	EmulateGuard Emulation = "guard"
	// EmulatePidfdSelf: PIDFD_SELF_THREAD / _THREAD_GROUP for
	// process_madvise, and every advice on the caller's own mm: the
	// vector runs as madvise(2) calls in the process itself (old hosts
	// allow only the remote advice there).
	EmulatePidfdSelf Emulation = "pidfd-self"

	// The advice of hosts before 6.1, each answered by the model and made
	// real on the host with what such a host has (sentry/adviceemu.go):

	// EmulatePopulate: MADV_POPULATE_READ / _WRITE (5.14), by faulting each
	// page in: a read through process_vm_readv, a write fault through an
	// atomic add of zero (FUTEX_WAKE_OP).
	EmulatePopulate Emulation = "populate"
	// EmulateColdPageout: MADV_COLD (5.4) only ages pages, which no
	// program can see: nothing is done on the host. MADV_PAGEOUT (5.4)
	// unmaps the file and shmem pages (their contents stay in the page
	// cache), as reclaim does; anonymous pages stay, as with no swap.
	EmulateColdPageout Emulation = "cold-pageout"
	// EmulateDontneedLocked: MADV_DONTNEED_LOCKED (5.18): mlocked pieces
	// are unlocked, discarded and locked again (an eager lock faults the
	// pages back in: the contents are those after the discard, but Rss
	// does not drop); others are discarded with MADV_DONTNEED.
	EmulateDontneedLocked Emulation = "dontneed-locked"
	// EmulateWipeOnFork: MADV_WIPEONFORK / KEEPONFORK (4.14): the flag
	// is the model's; a forked child's wipe-on-fork VMAs are discarded in
	// it before it runs.
	EmulateWipeOnFork Emulation = "wipeonfork"
	// EmulateFree: MADV_FREE (4.5): the pages stay as they are, as a FREE
	// page does until memory pressure; as the host's reclaim does not
	// know they may be dropped, they are discarded at the call when memory
	// is short then.
	EmulateFree Emulation = "free"
	// EmulateProcessMadvise: process_madvise(2) (5.10): answered by the
	// target's model (one read from its maps for a process outside the
	// sandbox, after the caller's access check); on the caller's own mm
	// it runs as madvise(2) calls (as pidfd-self); on another process the
	// remote advice (hints) have no host effect.
	EmulateProcessMadvise Emulation = "process-madvise"
)

// Emulations lists every emulation, in the order `madvisor features`
// prints them.
var Emulations = []Emulation{
	EmulateGuard, EmulateMseal, EmulatePidfdSelf, EmulatePopulate, EmulateColdPageout, EmulateDontneedLocked,
	EmulateWipeOnFork, EmulateFree, EmulateProcessMadvise,
}

// EmulatedAdvice maps each advice some emulation answers to it.
var EmulatedAdvice = map[int]Emulation{
	unix.MADV_POPULATE_READ: EmulatePopulate, unix.MADV_POPULATE_WRITE: EmulatePopulate,
	unix.MADV_COLD: EmulateColdPageout, unix.MADV_PAGEOUT: EmulateColdPageout,
	unix.MADV_DONTNEED_LOCKED: EmulateDontneedLocked,
	unix.MADV_WIPEONFORK:      EmulateWipeOnFork, unix.MADV_KEEPONFORK: EmulateWipeOnFork,
	unix.MADV_FREE: EmulateFree,
}

// Lacks reports whether the host lacks what e provides.
func (f Features) Lacks(e Emulation) bool {
	switch e {
	case EmulateGuard:
		// Markers on file mappings came last (6.15): a host without them
		// gets every marker emulated, so that they behave as one.
		return !f.GuardFile
	case EmulateMseal:
		return !f.Mseal
	case EmulatePidfdSelf:
		return !f.PidfdSelf
	case EmulateProcessMadvise:
		return !f.ProcessMadvise
	}
	for a, em := range EmulatedAdvice {
		if em == e && !f.Advice[a] {
			return true
		}
	}
	return false
}

// EmulationSet is the set of emulations a run uses.
type EmulationSet map[Emulation]bool

// ParseEmulate parses the value of --emulate: "auto" (what the host
// lacks), "all", "none", or a comma-separated list of emulation names.
func ParseEmulate(spec string, f Features) (EmulationSet, error) {
	set := EmulationSet{}
	switch spec {
	case "auto":
		for _, e := range Emulations {
			set[e] = f.Lacks(e)
		}
	case "all":
		for _, e := range Emulations {
			set[e] = true
		}
	case "none":
	default:
		for _, name := range strings.Split(spec, ",") {
			e := Emulation(strings.TrimSpace(name))
			if !slices.Contains(Emulations, e) {
				return nil, fmt.Errorf("unknown emulation %q (known: auto, all, none, %s)", name, joinEmulations())
			}
			set[e] = true
		}
	}
	return set, nil
}

func joinEmulations() string {
	names := make([]string, len(Emulations))
	for i, e := range Emulations {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}
