package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnprivileged runs madvisor as the user nobody (setpriv drops every
// privilege: uid, gid, supplementary groups): ptrace of its own children
// and seccomp under NO_NEW_PRIVS must be all it needs.
func TestUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to the user nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not found")
	}
	// The binaries live in TestMain's directory (0755, under a sticky
	// world-writable temp dir); make sure nobody can reach them.
	static := cProgram(t, "hello", true)
	dynamic := cProgram(t, "hello", false)
	for _, p := range []string{madvisorBin, static, dynamic} {
		for dir := filepath.Dir(p); dir != "/"; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			require.NoError(t, err)
			require.True(t, fi.Mode().Perm()&0o005 == 0o005 || fi.Mode()&os.ModeSticky != 0,
				"%s (mode %v) must be readable and searchable by nobody", dir, fi.Mode())
		}
	}
	opts := runOpts{
		Dir:     "/",
		Env:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "LC_ALL=C"},
		Wrapper: []string{setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"},
	}
	t.Run("static", func(t *testing.T) {
		runCompare(t, compareOpts{runOpts: opts, WantStatus: intp(0), WantStdout: "hello, world"}, static, "as nobody")
	})
	t.Run("dynamic", func(t *testing.T) {
		runCompare(t, compareOpts{runOpts: opts, WantStatus: intp(0), WantStdout: "hello, world"}, dynamic)
	})
	t.Run("id", func(t *testing.T) {
		// Prove the run really was unprivileged.
		runCompare(t, compareOpts{runOpts: opts, WantStatus: intp(0), WantStdout: "65534 65534\n"},
			"sh", "-c", `echo "$(id -u) $(id -g)"; cat /proc/self/status | grep -c '^CapEff:.0000000000000000$'`)
	})
}
