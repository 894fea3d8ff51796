package hostmm

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// TestHostFeatures checks the probe against what the running kernel must
// have: every advice older than the oldest kernel madvisor targets (6.1),
// and the Kconfig-gated ones consistent with the files those options
// create.
func TestHostFeatures(t *testing.T) {
	f := HostFeatures()
	t.Logf("%+v", f)
	assert.NotEmpty(t, f.Release)
	for _, a := range []int{unix.MADV_NORMAL, unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE,
		unix.MADV_WIPEONFORK, unix.MADV_COLD, unix.MADV_POPULATE_WRITE, unix.MADV_DONTNEED_LOCKED} {
		assert.True(t, f.Advice[a], "advice %d", a)
	}
	assert.Len(t, f.Advice, 27)
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	assert.Equal(t, exists("/sys/kernel/mm/ksm"), f.KSM)
	assert.Equal(t, exists("/sys/kernel/mm/transparent_hugepage"), f.THP)
	assert.Equal(t, exists("/proc/sys/vm/memory_failure_early_kill"), f.MemoryFailure)
	assert.Equal(t, f.THP, f.Advice[unix.MADV_COLLAPSE])
	assert.True(t, f.ProcessMadvise)
	if f.GuardFile {
		assert.True(t, f.Advice[unix.MADV_GUARD_INSTALL])
	}
	if f.PidfdSelf {
		assert.True(t, f.ProcessMadvise)
	}
	if f.SmapsGuardFlag || f.PagemapGuardBit {
		assert.True(t, f.Advice[unix.MADV_GUARD_INSTALL], "guard observables without guards")
	}
	if f.GuardFile {
		// 6.15 brought file markers and the pagemap bit together.
		assert.True(t, f.PagemapGuardBit)
	}
}
