// Package tests holds madvisor's end-to-end tests: programs (C sources in
// testdata/, compiled with the machine's gcc at test time, plus shells,
// python3, gcc and a Go program) run natively and under
// `madvisor run --check-maps --`, and their stdout, stderr and exit status
// compared.
//
// TestMain builds the madvisor binary once (or, when the environment
// variable MADVISOR_BIN names a binary, tests that one); every test uses
// that binary. Flags: -short skips the longest runs; -keep keeps the
// temporary directory.
package tests

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// madvisorBin is the path of the madvisor binary built by TestMain.
var madvisorBin string

// workDir is TestMain's temporary directory (madvisor binary, compiled
// test programs). It is world-readable so that tests can run programs from
// it as an unprivileged user.
var workDir string

var keepWork = flag.Bool("keep", false, "keep the temporary directory with the madvisor binary and the compiled test programs")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "madvisor-tests-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests: cannot create a temporary directory: %v\n", err)
		return 2
	}
	if *keepWork {
		fmt.Fprintf(os.Stderr, "tests: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// Readable by everyone: the unprivileged test runs binaries from here.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "tests: chmod %s: %v\n", dir, err)
		return 2
	}
	workDir = dir
	madvisorBin = filepath.Join(dir, "madvisor")
	if prebuilt := os.Getenv("MADVISOR_BIN"); prebuilt != "" {
		// Test a given binary (copied, so that the unprivileged test can
		// reach it).
		if err := copyFile(prebuilt, madvisorBin); err != nil {
			fmt.Fprintf(os.Stderr, "tests: FAIL: MADVISOR_BIN=%s: %v\n", prebuilt, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "tests: testing MADVISOR_BIN=%s\n", prebuilt)
		return m.Run()
	}
	build := exec.Command("go", "build", "-o", madvisorBin, "madvisor/tools/madvisor")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests: FAIL: cannot build the madvisor binary (go build -o %s madvisor/tools/madvisor): %v\n%s\n",
			madvisorBin, err, out)
		return 1
	}
	return m.Run()
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// runOpts configures one run of a program.
type runOpts struct {
	// Timeout bounds the run; zero means defaultTimeout.
	Timeout time.Duration
	// Dir is the working directory (empty: the test's directory).
	Dir string
	// Env, when non-nil, replaces the environment.
	Env []string
	// Stdin is fed to the program.
	Stdin string
	// Madvisor selects a run under madvisor; MadvisorFlags go between `run`
	// and `--` (default: --check-maps).
	Madvisor      bool
	MadvisorFlags []string
	// Wrapper is prepended to the command line of both runs (e.g. setpriv
	// ...), in front of madvisor for the sandboxed run.
	Wrapper []string
}

const defaultTimeout = 60 * time.Second

// result is what a run produced.
type result struct {
	Stdout, Stderr string
	// Status is the exit status as a shell reports it: the exit code, or
	// 128+N when the process was killed by signal N.
	Status int
	// Signaled is true when the process itself (native program or madvisor)
	// was killed by a signal.
	Signaled bool
	Duration time.Duration
}

func (r result) String() string {
	sig := ""
	if r.Signaled {
		sig = " (killed by a signal)"
	}
	return fmt.Sprintf("status %d%s after %v\n--- stdout ---\n%s--- stderr ---\n%s", r.Status, sig,
		r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// commandLine returns the argv for a run of argv with opts.
func commandLine(opts runOpts, argv []string) []string {
	var full []string
	full = append(full, opts.Wrapper...)
	if opts.Madvisor {
		full = append(full, madvisorBin, "run")
		if opts.MadvisorFlags != nil {
			full = append(full, opts.MadvisorFlags...)
		} else {
			full = append(full, "--check-maps")
		}
		full = append(full, "--")
	}
	return append(full, argv...)
}

// runProgram runs argv (natively or under madvisor, as opts says) in its own
// process group and waits for it, bounded by the timeout. On a timeout it
// asks madvisor for its task table (SIGUSR1), waits a second, kills the
// process group and fails the test with everything captured, so that the
// report shows which task was stuck where.
func runProgram(t testing.TB, opts runOpts, argv ...string) result {
	t.Helper()
	full := commandLine(opts, argv)
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	cmd.Stdin = strings.NewReader(opts.Stdin)
	var stdout, stderr lockedBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A background grandchild holding the pipes must not block Wait.
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %q: %v", full, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		pid := cmd.Process.Pid
		if opts.Madvisor {
			// Only madvisor knows SIGUSR1 as "dump the task table"; for
			// a native run it would kill the program.
			_ = syscall.Kill(pid, syscall.SIGUSR1)
			time.Sleep(time.Second)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		t.Fatalf("timeout after %v: %q did not finish; killed its process group\n--- stdout ---\n%s--- stderr (task table after SIGUSR1 for madvisor runs) ---\n%s",
			timeout, full, stdout.String(), stderr.String())
	}
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Signaled = true
			r.Status = 128 + int(ws.Signal())
		} else {
			r.Status = ws.ExitStatus()
		}
	case errors.Is(waitErr, exec.ErrWaitDelay):
		// The program exited but something it started kept stdout or
		// stderr open; the status is valid.
		r.Status = cmd.ProcessState.ExitCode()
	default:
		t.Fatalf("waiting for %q: %v", full, waitErr)
	}
	return r
}

// compareOpts configures runCompare.
type compareOpts struct {
	runOpts
	// WantStatus, if set, is the exit status the native run must have
	// (checked so that a broken test program is not silently "equal").
	WantStatus *int
	// WantStdout, if non-empty, must be a substring of the native stdout.
	WantStdout string
}

func intp(v int) *int { return &v }

// runCompare runs argv natively and then under `madvisor run --check-maps
// --` and requires identical stdout, stderr and exit status. Any line that
// madvisor adds to stderr (a check-maps report, a warning) is a difference.
func runCompare(t *testing.T, opts compareOpts, argv ...string) (native, sandboxed result) {
	t.Helper()
	nOpts := opts.runOpts
	nOpts.Madvisor = false
	native = runProgram(t, nOpts, argv...)
	if opts.WantStatus != nil {
		require.Equal(t, *opts.WantStatus, native.Status, "native run of %q: exit status\n%s", argv, native)
	}
	if opts.WantStdout != "" {
		require.Contains(t, native.Stdout, opts.WantStdout, "native run of %q: stdout\n%s", argv, native)
	}

	mOpts := opts.runOpts
	mOpts.Madvisor = true
	sandboxed = runProgram(t, mOpts, argv...)
	t.Logf("%q: native %v, madvisor %v", argv, native.Duration.Round(time.Millisecond), sandboxed.Duration.Round(time.Millisecond))

	problems := statusProblems(native, sandboxed)
	if sandboxed.Stdout != native.Stdout {
		problems = append(problems, "stdout differs (- native, + madvisor):\n"+lineDiff(native.Stdout, sandboxed.Stdout))
	}
	if sandboxed.Stderr != native.Stderr {
		problems = append(problems, "stderr differs (- native, + madvisor):\n"+lineDiff(native.Stderr, sandboxed.Stderr))
	}
	if len(problems) > 0 {
		t.Errorf("%q under madvisor differs from the native run:\n%s\n=== madvisor run ===\n%s",
			commandLine(mOpts, argv), strings.Join(problems, "\n"), sandboxed)
	}
	return native, sandboxed
}

// statusProblems says how the end of a run under madvisor differs from the
// native run's: madvisor itself killed, another exit status.
func statusProblems(native, sandboxed result) []string {
	var problems []string
	if sandboxed.Signaled {
		problems = append(problems, fmt.Sprintf("madvisor itself was killed by signal %d", sandboxed.Status-128))
	}
	if sandboxed.Status != native.Status {
		problems = append(problems, fmt.Sprintf("exit status: got %d under madvisor, want %d (native)", sandboxed.Status, native.Status))
	}
	return problems
}

// lineDiff returns a line diff of want and got (an LCS diff; inputs are
// small), with at most a few context lines around changes.
func lineDiff(want, got string) string {
	a := splitLines(want)
	b := splitLines(got)
	if len(a)*len(b) > 4_000_000 {
		return fmt.Sprintf("(too large to diff: %d vs %d lines)\n", len(a), len(b))
	}
	// lcs[i][j] = length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i++
			j++
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			lines = append(lines, line{'+', b[j]})
			j++
		default:
			lines = append(lines, line{'-', a[i]})
			i++
		}
	}
	const context = 3
	var sb strings.Builder
	lastPrinted := -1
	for k, l := range lines {
		near := false
		for d := max(0, k-context); d <= min(len(lines)-1, k+context); d++ {
			if lines[d].op != ' ' {
				near = true
				break
			}
		}
		if !near {
			continue
		}
		if lastPrinted >= 0 && k > lastPrinted+1 {
			sb.WriteString("  ...\n")
		}
		fmt.Fprintf(&sb, "%c %s\n", l.op, l.text)
		lastPrinted = k
	}
	return sb.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimSuffix(l, "\n")
		} else {
			lines[i] = l + " (no newline at end)"
		}
	}
	return lines
}

// lockedBuffer is a bytes.Buffer safe for the concurrent reads that a
// timeout report does while the process may still write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Compiled C programs are shared between tests: build each variant once.
var (
	cBuildMu sync.Mutex
	cBuilt   = map[string]string{}
)

// cProgram compiles testdata/NAME.c with gcc (-static when static is set)
// into TestMain's directory once and returns the binary's path. gcc is a
// requirement of the suite: its absence is a failure, not a skip.
func cProgram(t testing.TB, name string, static bool) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	require.NoError(t, err, "the end-to-end tests compile C programs with gcc")
	out := name
	args := []string{"-O2", "-Wall", "-pthread"}
	if static {
		out += "_static"
		args = append(args, "-static")
	} else {
		out += "_dynamic"
	}
	cBuildMu.Lock()
	defer cBuildMu.Unlock()
	if p, ok := cBuilt[out]; ok {
		return p
	}
	src, err := filepath.Abs(filepath.Join("testdata", name+".c"))
	require.NoError(t, err)
	bin := filepath.Join(workDir, out)
	args = append(args, "-o", bin, src)
	cmd := exec.Command(gcc, args...)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "gcc %s:\n%s", strings.Join(args, " "), msg)
	cBuilt[out] = bin
	return bin
}

func lookPathOrSkip(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found in PATH: %v", name, err)
	}
	return p
}
