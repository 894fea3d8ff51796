package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMadvisor runs the madvisor binary with args (no implicit `run`).
func runMadvisor(t *testing.T, args ...string) result {
	t.Helper()
	return runProgram(t, runOpts{}, append([]string{madvisorBin}, args...)...)
}

// requireMadvisorMessage checks that some stderr line starts with
// "madvisor: " and contains every one of want.
func requireMadvisorMessage(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, line := range strings.Split(r.Stderr, "\n") {
		if !strings.HasPrefix(line, "madvisor: ") {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(line, w) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("stderr has no line starting with %q that mentions %q\n%s", "madvisor: ", want, r)
}

func TestCLIMissingProgram(t *testing.T) {
	for _, prog := range []string{"/nonexistent", "/nonexistent/dir/prog", "no-such-program-madvisor-test"} {
		t.Run(strings.TrimPrefix(prog, "/"), func(t *testing.T) {
			r := runMadvisor(t, "run", "--", prog)
			assert.NotZero(t, r.Status, "exit status of a run of a missing program\n%s", r)
			assert.False(t, r.Signaled, "madvisor died of a signal\n%s", r)
			requireMadvisorMessage(t, r, prog)
			t.Logf("status %d, stderr: %s", r.Status, r.Stderr)
		})
	}
}

func TestCLINotExecutable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain.txt")
	require.NoError(t, os.WriteFile(file, []byte("#!/bin/sh\necho should not run\n"), 0o644))
	t.Run("file", func(t *testing.T) {
		r := runMadvisor(t, "run", "--", file)
		assert.NotZero(t, r.Status, "%s", r)
		assert.NotContains(t, r.Stdout, "should not run")
		requireMadvisorMessage(t, r, file)
	})
	t.Run("directory", func(t *testing.T) {
		r := runMadvisor(t, "run", "--", dir)
		assert.NotZero(t, r.Status, "%s", r)
		requireMadvisorMessage(t, r, dir)
	})
	t.Run("garbage", func(t *testing.T) {
		// Executable bits but not an executable format.
		junk := filepath.Join(dir, "junk")
		require.NoError(t, os.WriteFile(junk, []byte{0x7f, 'E', 'L', 'F', 0, 0, 0, 0}, 0o755))
		r := runMadvisor(t, "run", "--", junk)
		assert.NotZero(t, r.Status, "%s", r)
		requireMadvisorMessage(t, r, junk)
	})
}

func TestCLINoProgram(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"run", "--"}, {"run", "--check-maps"}, {}} {
		r := runMadvisor(t, args...)
		assert.NotZero(t, r.Status, "madvisor %q must fail\n%s", args, r)
		assert.False(t, r.Signaled, "madvisor %q died of a signal\n%s", args, r)
		assert.NotEmpty(t, strings.TrimSpace(r.Stderr), "madvisor %q must say what is wrong", args)
	}
}

func TestCLIBadFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"run", "--no-such-flag", "--", "true"}, "no-such-flag"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"run", "--lockdep=sideways", "--", "true"}, "sideways"},
		{[]string{"no-such-command"}, "no-such-command"},
	} {
		r := runMadvisor(t, c.args...)
		assert.NotZero(t, r.Status, "madvisor %q must fail\n%s", c.args, r)
		assert.False(t, r.Signaled, "madvisor %q died of a signal\n%s", c.args, r)
		assert.Contains(t, r.Stderr, c.mention, "madvisor %q: the message must name the bad argument", c.args)
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}} {
		r := runMadvisor(t, args...)
		assert.Equal(t, 0, r.Status, "madvisor %q exit status\n%s", args, r)
		text := r.Stdout + r.Stderr
		for _, flag := range []string{"check-maps", "strace", "lockdep"} {
			assert.Contains(t, text, flag, "madvisor %q must document --%s", args, flag)
		}
		if args[0] == "--help" {
			assert.Contains(t, text, "run", "madvisor --help must list the run command")
		}
	}
}

// TestStraceFile: --strace=FILE writes the trace to FILE; the program's
// own output is untouched.
func TestStraceFile(t *testing.T) {
	bin := cProgram(t, "threads_mm", false)
	trace := filepath.Join(t.TempDir(), "trace.txt")
	native := runProgram(t, runOpts{}, bin, "20")
	require.Equal(t, 0, native.Status, "%s", native)
	m := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--check-maps", "--strace=" + trace}}, bin, "20")
	assert.Equal(t, native.Status, m.Status, "exit status\n%s", m)
	assert.Equal(t, native.Stdout, m.Stdout, "stdout")
	assert.Equal(t, native.Stderr, m.Stderr, "stderr (the trace goes to the file)")
	data, err := os.ReadFile(trace)
	require.NoError(t, err, "the trace file")
	text := string(data)
	for _, want := range []string{"mmap(", "mprotect(", "madvise(", "munmap(", "MADV_DONTNEED", "PROT_READ", "MAP_PRIVATE", "MAP_ANONYMOUS"} {
		assert.Contains(t, text, want, "trace file\n%s", head(text, 40))
	}
}

// TestStraceStderr: plain --strace traces to stderr, beside the program's
// own stderr.
func TestStraceStderr(t *testing.T) {
	bin := cProgram(t, "hello", true)
	native := runProgram(t, runOpts{}, bin)
	m := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--strace"}}, bin)
	assert.Equal(t, native.Status, m.Status, "exit status\n%s", m)
	assert.Equal(t, native.Stdout, m.Stdout, "stdout")
	assert.Contains(t, m.Stderr, "hello on stderr", "the program's own stderr")
	assert.Regexp(t, `(?m)(brk|mmap|execve)\(.*\) += `, m.Stderr, "strace lines: name(args) = result")
}

// TestLockdepModes: every --lockdep mode runs a program unchanged.
func TestLockdepModes(t *testing.T) {
	bin := cProgram(t, "threads_mm", false)
	for _, mode := range []string{"off", "warn", "panic"} {
		t.Run(mode, func(t *testing.T) {
			runCompare(t, compareOpts{runOpts: runOpts{MadvisorFlags: []string{"--check-maps", "--lockdep=" + mode}}, WantStatus: intp(0)},
				bin, "50")
		})
	}
}

func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestFeatures: `madvisor features` probes the host and prints every
// advice and feature; its answers agree with what a program sees natively.
func TestFeatures(t *testing.T) {
	r := runMadvisor(t, "features")
	require.Equal(t, 0, r.Status, "%s", r)
	assert.Contains(t, r.Stdout, "host kernel ")
	for _, want := range []string{"MADV_NORMAL ", "MADV_GUARD_REMOVE ", "MADV_HWPOISON ", "process_madvise ", "mseal ", "PROCMAP_QUERY"} {
		assert.Contains(t, r.Stdout, want)
	}
	// The probe must match the running kernel: MEMORY_FAILURE decides
	// HWPOISON, and on a 6.13+ host GUARD_INSTALL is accepted.
	hwpoison := strings.Fields(lineWith(r.Stdout, "MADV_HWPOISON "))
	require.GreaterOrEqual(t, len(hwpoison), 3)
	_, err := os.Stat("/proc/sys/vm/memory_failure_early_kill")
	assert.Equal(t, map[bool]string{true: "yes", false: "no"}[err == nil], hwpoison[2])

	r = runMadvisor(t, "features", "extra")
	assert.Equal(t, 2, r.Status)
	assert.Contains(t, r.Stderr, "features takes no arguments")
	r = runMadvisor(t, "help", "features")
	assert.Equal(t, 0, r.Status)
	assert.Contains(t, r.Stdout, "Usage: madvisor features")
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, l := range splitLines(s) {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
