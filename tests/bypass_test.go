package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ways around the interception (README, "What madvisor refuses"): each
// program runs natively and under madvisor (plain, --check-maps and
// --check-maps --emulate=all). Where madvisor refuses what the host does,
// the line is madvisor's documented answer; every other line is the
// host's.

// bypassProgram is a program of testdata/bypass_*.c.
type bypassProgram struct {
	name string
	// refused maps a case (the text before the first ':') to the rest of
	// madvisor's line where it answers as a kernel without the feature.
	refused map[string]string
	// stderr, if set, is a substring every line madvisor prints on
	// stderr must contain (its one warning); otherwise stderr is the
	// host's.
	stderr string
}

const gpFault = " SIGSEGV code=SI_KERNEL addr=0 at_insn=yes"

var bypassPrograms = []bypassProgram{
	{
		// int $0x80: refused as without IA32 emulation (#GP); x32:
		// refused as without the x32 ABI.
		name: "bypass_abi",
		refused: map[string]string{
			"int80-munmap": gpFault, "int80-munmap-after": " mapped=yes",
			"int80-mprotect": gpFault, "int80-madvise": gpFault,
			"int80-getpid": gpFault, "int80-bad-nr": gpFault,
			"int80-blocked": " killed by SEGV", "int80-ignored": " killed by SEGV",
			"x32-munmap": " ret=-1 errno=ENOSYS mapped=yes",
		},
		stderr: "made an i386 system call",
	},
	// CLONE_UNTRACED changes nothing a program sees: no refusal.
	{name: "bypass_untraced"},
	{
		// Nested tracing: refused as with Yama ptrace_scope 3.
		name: "bypass_ptrace",
		refused: map[string]string{
			"traceme": " ret=-1 errno=EPERM", "traceme-stop": " none",
			"attach": " ret=-1 errno=EPERM", "seize": " ret=-1 errno=EPERM",
			"seize-parent": " ret=-1 errno=EPERM",
		},
	},
	{
		// seccomp user notification: refused as before Linux 5.0.
		name: "bypass_seccomp",
		refused: map[string]string{
			"action-avail-user-notif": " ret=-1 errno=EOPNOTSUPP",
			"notif-sizes":             " ret=-1 errno=EINVAL",
			"new-listener":            " ret=-1 errno=EINVAL",
		},
	},
	{
		// IORING_OP_MADVISE: refused by the ring's restrictions.
		name: "bypass_iouring",
		refused: map[string]string{
			// mseal is madvisor's on every host (emulated before 6.10).
			"mseal":                    " ret=0 errno=0",
			"ring-madvise-dontneed":    " res=EACCES byte=120",
			"ring-madvise-guard":       " res=EACCES touch=120",
			"ring-madvise-sealed":      " res=EACCES byte=115",
			"own-madvise-dontneed":     " res=EACCES byte=120",
			"own-madvise-guard":        " res=EACCES touch=120",
			"enabled-madvise-dontneed": " res=EACCES byte=120",
			"enabled-madvise-guard":    " res=EACCES touch=120",
		},
	},
}

// documented is the native output with madvisor's refusals in place.
func (p bypassProgram) documented(native string) string {
	var out strings.Builder
	for _, l := range splitLines(native) {
		name, _, _ := strings.Cut(l, ":")
		if want, ok := p.refused[name]; ok {
			l = name + ":" + want
		}
		out.WriteString(l + "\n")
	}
	return out.String()
}

func TestBypassRefused(t *testing.T) {
	modes := map[string][]string{
		"plain":       {},
		"check-maps":  {"--check-maps"},
		"emulate-all": {"--check-maps", "--emulate=all"},
	}
	for _, p := range bypassPrograms {
		t.Run(p.name, func(t *testing.T) {
			bin := cProgram(t, p.name, false)
			native := runProgram(t, runOpts{}, bin)
			require.Equal(t, 0, native.Status, "native run\n%s", native)
			want := p.documented(native.Stdout)
			for mode, flags := range modes {
				t.Run(mode, func(t *testing.T) {
					m := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: flags}, bin)
					assert.Empty(t, statusProblems(native, m))
					assert.Equal(t, want, m.Stdout, "stdout: madvisor's documented answer (- want, + madvisor):\n%s",
						lineDiff(want, m.Stdout))
					if p.stderr == "" {
						assert.Equal(t, native.Stderr, m.Stderr)
						return
					}
					for _, l := range splitLines(m.Stderr) {
						assert.Contains(t, l, p.stderr, "stderr")
					}
				})
			}
		})
	}
}

// TestBypassUntracedDies: a CLONE_UNTRACED child left running by its parent
// is traced like any other, so it dies with the run.
func TestBypassUntracedDies(t *testing.T) {
	bin := cProgram(t, "bypass_untraced", false)
	r := runProgram(t, runOpts{Madvisor: true}, bin, "orphan")
	require.Equal(t, 0, r.Status, "%s", r)
	pidText, ok := strings.CutPrefix(strings.TrimSpace(r.Stdout), "orphan: ")
	require.True(t, ok, "stdout: %q", r.Stdout)
	pid, err := strconv.Atoi(pidText)
	require.NoError(t, err)
	// Dead: gone, or a zombie its new parent has not reaped yet.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if _, after, _ := strings.Cut(string(stat), ") "); !strings.HasPrefix(after, "Z") {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the CLONE_UNTRACED child %d outlived madvisor: %s", pid, stat)
		}
	}
}

// TestBypassStrace: strace cannot trace under madvisor; it must say so and
// exit at once, not hang.
func TestBypassStrace(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	r := runProgram(t, runOpts{Madvisor: true, Timeout: 20 * time.Second}, strace, "true")
	assert.NotEqual(t, 0, r.Status, "%s", r)
	assert.Contains(t, r.Stderr, "Operation not permitted", "%s", r)
	assert.Less(t, r.Duration, 10*time.Second, "%s", r)
}
