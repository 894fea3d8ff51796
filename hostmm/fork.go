package hostmm

import (
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// ForkFix is what a forked child's host memory needs so that it matches
// a real fork under guard or wipe-on-fork emulation.
type ForkFix struct {
	// unprotect are guard runs of the parent's WIPEONFORK VMAs: the child
	// gets such VMAs without markers, but the host copied the PROT_NONE.
	unprotect []mm.GuardRun
	// wipe are the parent's WIPEONFORK VMAs when the flag is the model's
	// only: the host copied their pages, which the child must not see.
	wipe [][2]uint64
	// populate are the pages present in the parent in shared VMAs with
	// guard pages: fork copies the page tables of a VMA with markers
	// (they live there), which the host, without markers, does not.
	populate [][2]uint64
}

// NewForkFix computes a forked child's ForkFix from its parent's model
// (vmas, all of them in address order) and the pagemap of the parent
// (process pid), at the fork event, while the parent is stopped, in a run
// that emulates emu. Nil if there is nothing to do.
func NewForkFix(emu EmulationSet, pid int, vmas []mm.VMA) *ForkFix {
	var fix ForkFix
	guards, wipe := emu[EmulateGuard], emu[EmulateWipeOnFork]
	for _, v := range vmas {
		if v.Flags&mm.VMDontCopy != 0 {
			continue
		}
		if wipe && v.Flags&mm.VMWipeOnFork != 0 {
			fix.wipe = append(fix.wipe, [2]uint64{v.Start, v.End})
		}
		if !guards || v.Guards.Empty() {
			continue
		}
		if v.Flags&mm.VMWipeOnFork != 0 {
			fix.unprotect = append(fix.unprotect, vmaGuardRuns(v, v.Start, v.End)...)
			continue
		}
		if v.Flags&mm.VMShared == 0 {
			continue
		}
		guards := v.Guards
		fix.populate = append(fix.populate, PagemapRuns(pid, v.Start, v.End, func(page, entry uint64) bool {
			return entry&abi.PM_PRESENT != 0 && !guards.Contains((page-v.Start)>>mm.PageShift)
		})...)
	}
	if len(fix.unprotect)+len(fix.wipe)+len(fix.populate) == 0 {
		return nil
	}
	return &fix
}

// ApplyForkFix makes the child's host memory match fix, with calls
// injected in the child (b's tracee) at its first stop: the guard runs
// unprotected, the wipe-on-fork VMAs discarded, the shared pages with
// markers populated, in that order. It stops at the first injection that
// fails and returns its error; a call's own failure is ignored (the
// child's memory is as good as the host can make it).
func (b *Backend) ApplyForkFix(fix *ForkFix) error {
	for _, r := range fix.unprotect {
		if _, err := b.tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot)); err != nil {
			return err
		}
	}
	for _, r := range fix.wipe {
		if _, err := b.tr.Inject(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); err != nil {
			return err
		}
	}
	for _, r := range fix.populate {
		if _, err := b.tr.Inject(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_POPULATE_READ); err != nil {
			return err
		}
	}
	return nil
}
