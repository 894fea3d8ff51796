package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuardInstallRestart exercises MADV_GUARD_INSTALL's restart paths on
// demand (issue 4, "Restart semantics") with --lose-guard-races=N: the
// first N install walks of the run lose their race with a page fault. The
// program must print exactly what it prints natively, where no race is
// lost: it never sees an errno from a restart, and every page of the range
// becomes a guard.
//
//   - madvise first, N=10: its one VMA loses 3 walks (-ERESTARTNOINTR: the
//     syscall is restarted), 3, 3, then 1 and installs: 3 restarts.
//   - process_madvise first, N=4: its first iovec loses 3 walks and is
//     retried in place (no syscall restart), loses 1 and installs; the
//     call returns both iovecs' bytes.
func TestGuardInstallRestart(t *testing.T) {
	bin := cProgram(t, "guard_restart", false)
	for _, tc := range []struct {
		name     string
		args     []string
		races    int
		restarts int
	}{
		{"madvise restarts", nil, 10, 3},
		{"process_madvise retries in place", []string{"pmadv-first"}, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trace := filepath.Join(t.TempDir(), "trace")
			flags := []string{"--check-maps", "--lose-guard-races=" + strconv.Itoa(tc.races), "--strace=" + trace}
			native, _ := runCompare(t, compareOpts{
				runOpts:    runOpts{MadvisorFlags: flags},
				WantStatus: intp(0),
				WantStdout: "madvise/install: ret=0 errno=0 pages=GGGGGGGG",
			}, append([]string{bin}, tc.args...)...)
			require.True(t, strings.HasSuffix(native.Stdout, "done\n"), "native run did not finish:\n%s", native)

			b, err := os.ReadFile(trace)
			require.NoError(t, err)
			var madvise, pmadvise []string
			for _, l := range splitLines(string(b)) {
				if !strings.Contains(l, "MADV_GUARD_INSTALL") {
					continue
				}
				call := l[strings.Index(l, "] ")+2:]
				if strings.HasPrefix(call, "madvise(") {
					madvise = append(madvise, call)
				} else {
					pmadvise = append(pmadvise, call)
				}
			}
			require.Len(t, madvise, tc.restarts+1, "madvise(MADV_GUARD_INSTALL) calls in the trace:\n%s", b)
			for _, l := range madvise[:tc.restarts] {
				assert.True(t, strings.HasSuffix(l, "= ? ERESTARTNOINTR (To be restarted)"), "%s", l)
			}
			assert.True(t, strings.HasSuffix(madvise[tc.restarts], "= 0"), "%s", madvise[tc.restarts])
			require.Len(t, pmadvise, 1, "trace:\n%s", b)
			assert.True(t, strings.HasPrefix(pmadvise[0], "process_madvise(") && strings.HasSuffix(pmadvise[0], "= 12288"), "%s", pmadvise[0])
		})
	}
}
