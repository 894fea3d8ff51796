package tests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProcFileTrapLimit: under guard emulation every pagemap or mem fd
// number gets a seccomp filter of its own, and a thread's filters have a
// bounded size. Natively 3,000 fds open; under madvisor each fd that opens
// shows the guard page, at least the 1,024 fds of the usual RLIMIT_NOFILE
// open, and past the filters' room an open (and a dup) is refused with
// EMFILE, said once on stderr, never let through unwatched.
func TestProcFileTrapLimit(t *testing.T) {
	bin := cProgram(t, "procmem_limit", false)
	for _, file := range []string{"pagemap", "mem"} {
		t.Run(file, func(t *testing.T) {
			var args []string
			if file == "mem" {
				args = []string{"mem"}
			}
			native := runProgram(t, runOpts{}, append([]string{bin}, args...)...)
			require.Equal(t, "opened=3000 guards=3000 err=0 dup=ok\n", native.Stdout, "native run\n%s", native)
			r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--emulate=all"}}, append([]string{bin}, args...)...)
			require.Equal(t, 0, r.Status, "%s", r)
			var opened, guards int
			var errno, dup string
			_, err := fmt.Sscanf(r.Stdout, "opened=%d guards=%d err=%s dup=%s", &opened, &guards, &errno, &dup)
			require.NoError(t, err, "%s", r)
			assert.Equal(t, opened, guards, "every fd that opened must show the guard page\n%s", r)
			assert.GreaterOrEqual(t, opened, 1020, "fds traced before the filters' room ran out\n%s", r)
			if opened < 3000 {
				assert.Equal(t, "EMFILE", errno, "%s", r)
				assert.Equal(t, "EMFILE", dup, "%s", r)
				requireMadvisorMessage(t, r, "EMFILE")
			}
		})
	}
}
