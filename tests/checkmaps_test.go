package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckMapsHeapLabel: [heap] is the VMAs overlapping [start_brk, brk)
// (the kernel's vma_is_initial_heap), not a mapping placed at the break;
// --check-maps reports nothing and the /proc view prints the host's
// labels, with ASLR on and off (setarch -R: the heap right after the bss).
func TestCheckMapsHeapLabel(t *testing.T) {
	bin := cProgram(t, "checkmaps_heap", false)
	wrappers := map[string][]string{"aslr": nil}
	if setarch, err := exec.LookPath("setarch"); err == nil {
		wrappers["no-aslr"] = []string{setarch, "-R"}
	}
	for name, w := range wrappers {
		for _, flags := range [][]string{{"--check-maps"}, {"--check-maps", "--emulate=all"}} {
			t.Run(name+" "+strings.Join(flags, " "), func(t *testing.T) {
				runCompare(t, compareOpts{runOpts: runOpts{Wrapper: w, MadvisorFlags: flags}, WantStatus: intp(0), WantStdout: "brk=1 mapped=1 brk2=1"}, bin)
			})
		}
	}
}

// TestCheckMapsNotDumpable: as a user without CAP_SYS_PTRACE, a process
// that makes itself non-dumpable (PR_SET_DUMPABLE 0) refuses new opens of
// its /proc files; --check-maps keeps checking it (through the maps file
// it opened before) and says, once, that it cannot check the child the
// process forks afterwards (non-dumpable from birth). As root both are
// checked and nothing is said.
func TestCheckMapsNotDumpable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to the user nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not found")
	}
	bin := cProgram(t, "checkmaps_nodump", false)
	base := runOpts{Dir: "/", Env: []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}, Madvisor: true}

	root := runProgram(t, base, bin)
	require.Equal(t, 0, root.Status, "%s", root)
	assert.Equal(t, "dumpable=0 child=0\n", root.Stdout, "%s", root)
	assert.NotContains(t, root.Stderr, "check-maps", "%s", root)

	opts := base
	opts.Wrapper = []string{setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"}
	r := runProgram(t, opts, bin)
	require.Equal(t, 0, r.Status, "%s", r)
	assert.Equal(t, "dumpable=0 child=0\n", r.Stdout, "%s", r)
	var parent, child int
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "pids ") {
			_, err := fmt.Sscanf(l, "pids %d %d", &parent, &child)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, child, "%s", r)
	var said []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "madvisor: check-maps:") {
			said = append(said, l)
		}
	}
	require.Len(t, said, 2, "one line about the child, one in the summary\n%s", r)
	assert.Contains(t, said[0], fmt.Sprintf("pid %d ", child), "%s", r)
	assert.Contains(t, said[0], "not dumpable", "%s", r)
	assert.NotContains(t, r.Stderr, fmt.Sprintf("pid %d ", parent), "the parent is still checked\n%s", r)
	assert.Contains(t, said[1], "1 process(es) not checked to the end", "%s", r)
}
