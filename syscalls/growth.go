package syscalls

import (
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// GrowthCandidates returns the starts of the model's VM_GROWSDOWN VMAs
// that a page fault could have grown (with no syscall the sentry sees)
// into what a call of nr with r decides from or changes: the sentry asks
// the host where each starts now before the call's model step. The
// ranges come from the registers; where they cannot (process_madvise's
// vector, a uffd range, mlockall, fork), every grows-down VMA is a
// candidate.
//
// Preconditions: the caller holds the address space's mmap_lock.
func GrowthCandidates(as *mm.AddressSpace, nr uintptr, r Regs) []uint64 {
	spans, all := reach(as, nr, r)
	if all {
		return as.GrowsDownStarts()
	}
	var out []uint64
	for _, s := range spans {
		for _, start := range as.GrowsDownBelow(s.Start, s.End) {
			if len(out) == 0 || out[len(out)-1] != start {
				out = append(out, start)
			}
		}
	}
	return out
}

// reach returns the address ranges a call works on in the model, or all.
func reach(as *mm.AddressSpace, nr uintptr, r Regs) (spans []Span, all bool) {
	lenSpan := func(start, n uint64) Span {
		end := start + mm.PageAlign(n)
		if end < start || (n != 0 && mm.PageAlign(n) == 0) {
			end = ^uint64(0)
		}
		return Span{start, end}
	}
	switch nr {
	case unix.SYS_MUNMAP, unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT, unix.SYS_MADVISE,
		unix.SYS_MLOCK, unix.SYS_MLOCK2, unix.SYS_MUNLOCK, unix.SYS_MSEAL:
		return []Span{lenSpan(r[0], r[1])}, false
	case unix.SYS_MMAP:
		if r[3]&(unix.MAP_FIXED|unix.MAP_FIXED_NOREPLACE) != 0 {
			return []Span{lenSpan(r[0], r[1])}, false
		}
		return nil, false // the host places it, in free space
	case unix.SYS_MREMAP:
		// In place it may grow up into the space below a grows-down VMA.
		spans = []Span{lenSpan(r[0], max(r[1], r[2]))}
		if r[3]&unix.MREMAP_FIXED != 0 {
			spans = append(spans, lenSpan(r[4], r[2]))
		}
		return spans, false
	case unix.SYS_BRK:
		_, brk := as.Brk()
		return []Span{{min(brk, r[0]), max(brk, r[0])}}, false
	case unix.SYS_PRCTL:
		if uint32(r[0]) == unix.PR_SET_VMA {
			return []Span{lenSpan(r[2], r[3])}, false
		}
		return nil, false
	case unix.SYS_SHMAT:
		return nil, r[1] != 0 // the segment's size is not in the registers
	case unix.SYS_CLONE:
		return nil, r[0]&unix.CLONE_VM == 0 // a fork copies the model
	case unix.SYS_FORK, unix.SYS_CLONE3:
		return nil, true
	case unix.SYS_REMAP_FILE_PAGES:
		return []Span{lenSpan(r[0], r[1])}, false
	case unix.SYS_VFORK, unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_SHMDT,
		unix.SYS_PERSONALITY, unix.SYS_ARCH_PRCTL:
		return nil, false
	}
	// process_madvise, ioctl (uffd ranges, the /proc view's queries),
	// mlockall, munlockall and whatever is added later.
	return nil, true
}
