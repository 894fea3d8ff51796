package hostmm

import (
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// Match is how the host is made to match a madvise or process_madvise
// whose result the model decided: which of the host's calls run, on what.
type Match int

const (
	// MatchNative: the host's own call is the effect and the result (the
	// advice changes no VMA state the model keeps: DONTNEED, COLD, ...).
	MatchNative Match = iota
	// MatchRestart: the host call is skipped and the syscall restarts
	// (GUARD_INSTALL's -ERESTARTNOINTR), as the kernel's return path
	// restarts it: the program never sees an errno.
	MatchRestart
	// MatchAnswer: the model's result, and the host is not touched: a
	// refusal before any effect (so spec-vs-host rows follow the spec), a
	// remote hint under emulation, or host work already done in the
	// model's walk (mm.MadviseHost).
	MatchAnswer
	// MatchGuards: emulated guard markers on the applied pieces
	// (Backend.GuardAdvice), under mmap_lock.
	MatchGuards
	// MatchEmulated: an emulated advice's host work on the applied pieces
	// (Backend.EmulateAdvice), under mmap_lock.
	MatchEmulated
	// MatchPopulateBefore: POPULATE stopped at a hole or guard (its own
	// walk; facts "The walk"): the host populates only the pieces before
	// the stop (Backend.HostPopulate), and its own error comes first.
	// Hosts before 6.x walked on past holes, and a host without markers
	// sees PROT_NONE.
	MatchPopulateBefore
	// MatchPieces: a seal only the model knows stopped the walk: the host
	// runs the advice on the pieces before it, not on the whole range.
	MatchPieces
	// MatchVector: process_madvise on the caller's own mm on a host that
	// lacks PIDFD_SELF, process_madvise or the advice: one madvise per
	// iovec in the tracee, as vector_madvise does.
	MatchVector
	// MatchFlags: advice that change VMA state the model keeps (flags,
	// markers) run on the host too, under mmap_lock, so the host applies
	// changes in the model's order; the model's errno wins where it
	// refuses what the host allowed.
	MatchFlags
)

var matchNames = [...]string{
	MatchNative: "native", MatchRestart: "restart", MatchAnswer: "answer", MatchGuards: "guards",
	MatchEmulated: "emulated", MatchPopulateBefore: "populate-before", MatchPieces: "pieces",
	MatchVector: "vector", MatchFlags: "flags",
}

func (m Match) String() string { return matchNames[m] }

// ChangesVMAs reports whether an advice changes VMA state the model keeps
// (flags, guard markers).
func ChangesVMAs(advice int) bool {
	return mm.LockFor(advice) == mm.LockMmapWriteKillable || IsGuardAdvice(advice)
}

// IsGuardAdvice reports whether advice installs or removes markers.
func IsGuardAdvice(advice int) bool {
	return advice == unix.MADV_GUARD_INSTALL || advice == unix.MADV_GUARD_REMOVE
}

// AdviceEmulated reports whether emu emulates advice.
func (emu EmulationSet) AdviceEmulated(advice int) bool {
	e, ok := EmulatedAdvice[advice]
	return ok && emu[e]
}

// MadviseMatch decides how the host matches a madvise(2) whose model
// result is res. doneInWalk: the host's work was done from the model's
// walk (env.Host), nothing is left to do.
func MadviseMatch(advice int, res mm.MadviseResult, emu EmulationSet, doneInWalk bool) Match {
	switch {
	case res.Restart:
		return MatchRestart
	case res.Err != 0 && len(res.Applied) == 0, doneInWalk:
		return MatchAnswer
	case IsGuardAdvice(advice) && emu[EmulateGuard]:
		return MatchGuards
	case emu.AdviceEmulated(advice):
		return MatchEmulated
	case (advice == unix.MADV_POPULATE_READ || advice == unix.MADV_POPULATE_WRITE) && res.Err != 0:
		return MatchPopulateBefore
	case res.Err == unix.EPERM && emu[EmulateMseal]:
		return MatchPieces
	case ChangesVMAs(advice):
		return MatchFlags
	}
	return MatchNative
}

// ProcessMadviseMatch decides how the host matches a process_madvise(2)
// whose model result is res; own: the target is the caller's own mm.
// (The caller's access to another process's mm, which only the host can
// judge, is checked before a MatchAnswer that refuses or hints.)
func ProcessMadviseMatch(advice int, own bool, res mm.ProcessMadviseResult, emu EmulationSet) Match {
	remoteEmulated := emu[EmulateProcessMadvise] || emu.AdviceEmulated(advice)
	switch {
	case res.Ret < 0 && len(res.Applied) == 0:
		return MatchAnswer
	case own && IsGuardAdvice(advice) && emu[EmulateGuard]:
		return MatchGuards
	case own && (emu[EmulatePidfdSelf] || remoteEmulated):
		return MatchVector
	case !own && remoteEmulated:
		// The remote advice are hints (COLD, PAGEOUT, WILLNEED,
		// COLLAPSE): the target's model answers; nothing is done to its
		// memory, which runs on meanwhile and cannot be injected into.
		return MatchAnswer
	case own && ChangesVMAs(advice):
		return MatchFlags
	}
	return MatchNative
}
