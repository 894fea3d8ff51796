package hostmm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// TestMadviseMatch: which of the host's calls make it match the model's
// madvise, in the order the cases win.
func TestMadviseMatch(t *testing.T) {
	piece := []mm.MadviseRange{{Start: 0x1000, End: 0x2000}}
	all := EmulationSet{EmulateGuard: true, EmulateMseal: true, EmulatePopulate: true, EmulateColdPageout: true}
	tests := []struct {
		name       string
		advice     int
		res        mm.MadviseResult
		emu        EmulationSet
		doneInWalk bool
		want       Match
	}{
		{"restart wins over everything", unix.MADV_GUARD_INSTALL, mm.MadviseResult{Err: mm.ERESTARTNOINTR, Restart: true}, all, false, MatchRestart},
		{"refused before any effect", unix.MADV_DONTNEED, mm.MadviseResult{Err: unix.EINVAL}, nil, false, MatchAnswer},
		{"populate done in the walk", unix.MADV_POPULATE_READ, mm.MadviseResult{Applied: piece}, all, true, MatchAnswer},
		{"guard advice, emulated", unix.MADV_GUARD_REMOVE, mm.MadviseResult{Applied: piece}, all, false, MatchGuards},
		{"guard advice, host markers", unix.MADV_GUARD_INSTALL, mm.MadviseResult{Applied: piece}, nil, false, MatchFlags},
		{"emulated advice", unix.MADV_PAGEOUT, mm.MadviseResult{Applied: piece}, all, false, MatchEmulated},
		{"COLD on a host that has it", unix.MADV_COLD, mm.MadviseResult{Applied: piece}, nil, false, MatchNative},
		{"populate stopped at a hole", unix.MADV_POPULATE_WRITE, mm.MadviseResult{Err: unix.ENOMEM, Applied: piece}, nil, false, MatchPopulateBefore},
		{"populate whole", unix.MADV_POPULATE_WRITE, mm.MadviseResult{Applied: piece}, nil, false, MatchNative},
		{"an emulated seal stopped the walk", unix.MADV_DONTNEED, mm.MadviseResult{Err: unix.EPERM, Applied: piece}, EmulationSet{EmulateMseal: true}, false, MatchPieces},
		{"a host seal stopped the walk", unix.MADV_DONTNEED, mm.MadviseResult{Err: unix.EPERM, Applied: piece}, nil, false, MatchNative},
		{"flag advice", unix.MADV_HUGEPAGE, mm.MadviseResult{Applied: piece}, nil, false, MatchFlags},
		{"flag advice failing part-way", unix.MADV_DONTFORK, mm.MadviseResult{Err: unix.ENOMEM, Applied: piece}, nil, false, MatchFlags},
		{"DONTNEED", unix.MADV_DONTNEED, mm.MadviseResult{Applied: piece}, all, false, MatchNative},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, MadviseMatch(tt.advice, tt.res, tt.emu, tt.doneInWalk), "%s: got %v, want %v", tt.name,
			MadviseMatch(tt.advice, tt.res, tt.emu, tt.doneInWalk), tt.want)
	}
}

// TestProcessMadviseMatch: the same for process_madvise, on the caller's
// own mm and on another process's.
func TestProcessMadviseMatch(t *testing.T) {
	piece := []mm.MadviseRange{{Start: 0x1000, End: 0x2000}}
	tests := []struct {
		name   string
		advice int
		own    bool
		res    mm.ProcessMadviseResult
		emu    EmulationSet
		want   Match
	}{
		{"refused", unix.MADV_COLD, false, mm.ProcessMadviseResult{Ret: -int64(unix.EINVAL), Err: unix.EINVAL}, nil, MatchAnswer},
		{"own guard advice, emulated", unix.MADV_GUARD_INSTALL, true, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, EmulationSet{EmulateGuard: true}, MatchGuards},
		{"own mm without PIDFD_SELF", unix.MADV_DONTNEED, true, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, EmulationSet{EmulatePidfdSelf: true}, MatchVector},
		{"own mm, emulated advice", unix.MADV_COLD, true, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, EmulationSet{EmulateColdPageout: true}, MatchVector},
		{"remote hint, emulated", unix.MADV_COLD, false, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, EmulationSet{EmulateProcessMadvise: true}, MatchAnswer},
		{"remote hint, host", unix.MADV_COLD, false, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, nil, MatchNative},
		{"own flag advice", unix.MADV_HUGEPAGE, true, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, nil, MatchFlags},
		{"own DONTNEED", unix.MADV_DONTNEED, true, mm.ProcessMadviseResult{Ret: 4096, Applied: piece}, nil, MatchNative},
	}
	for _, tt := range tests {
		got := ProcessMadviseMatch(tt.advice, tt.own, tt.res, tt.emu)
		assert.Equal(t, tt.want, got, "%s: got %v, want %v", tt.name, got, tt.want)
	}
}
