package fuzz

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

//go:embed executor/executor.c
var executorSource []byte

// BuildExecutor compiles the executor into dir (with gcc; static when
// static is set) and returns its path.
func BuildExecutor(dir string, static bool) (string, error) {
	src := filepath.Join(dir, "executor.c")
	if err := os.WriteFile(src, executorSource, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "executor")
	args := []string{"-O2", "-Wall", "-Werror", "-pthread", "-o", bin, src}
	if static {
		bin += "-static"
		args = append([]string{"-static"}, args...)
		args[len(args)-2] = bin
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// Mode is one way of running the executor: natively (Madvisor empty) or
// under madvisor with Flags.
type Mode struct {
	Name string
	// Flags go between `madvisor run` and `--`.
	Flags []string
}

// Native is the oracle.
var Native = Mode{Name: "native"}

// Modes are the madvisor modes the fuzzer compares with the kernel.
var Modes = []Mode{
	{Name: "plain"},
	{Name: "check-maps", Flags: []string{"--check-maps"}},
	{Name: "emulate", Flags: []string{"--check-maps", "--emulate=all"}},
	// kapi checks every madvise against the KAPI spec as well: a
	// violation shows as a stderr difference.
	{Name: "kapi", Flags: []string{"--kapi-verify"}},
}

// kapiCleanSummary is --kapi-verify's closing line when it found nothing:
// not a difference.
var kapiCleanSummary = regexp.MustCompile(`(?m)^madvisor: kapi: \d+ call\(s\) checked against \S+ \(.*\), 0 violation\(s\)\n`)

// ModeByName returns the mode called name.
func ModeByName(name string) (Mode, bool) {
	for _, m := range Modes {
		if m.Name == name {
			return m, true
		}
	}
	return Mode{}, false
}

// Runner runs scripts.
type Runner struct {
	// Executor is the executor binary (BuildExecutor).
	Executor string
	// Madvisor is the madvisor binary.
	Madvisor string
	// Dir holds the script files; empty means the system's temporary
	// directory.
	Dir string
	// Timeout bounds one run (default 60 s).
	Timeout time.Duration
	// Context, when set, ends every run (its process group killed) once
	// it is done: an interrupted fuzzer leaves nothing running.
	Context context.Context
}

// Output is what one run printed.
type Output struct {
	Stdout, Stderr string
	// Status is the exit status as a shell reports it (128+N for signal N).
	Status int
}

// Run runs script in mode.
func (r *Runner) Run(script Script, mode Mode) (Output, error) {
	f, err := os.CreateTemp(r.Dir, "fuzz-*.txt")
	if err != nil {
		return Output{}, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script.String()); err != nil {
		f.Close()
		return Output{}, err
	}
	if err := f.Close(); err != nil {
		return Output{}, err
	}
	argv := []string{r.Executor, f.Name()}
	if mode.Name != Native.Name {
		argv = append(append(append([]string{r.Madvisor, "run"}, mode.Flags...), "--"), argv...)
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	parent := r.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err = cmd.Run()
	out := Output{Stdout: stdout.String(), Stderr: stderr.String()}
	if parent.Err() != nil {
		return out, fmt.Errorf("%s: interrupted", mode.Name)
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s: timed out after %v", mode.Name, timeout)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		ws := exit.Sys().(syscall.WaitStatus)
		out.Status = ws.ExitStatus()
		if ws.Signaled() {
			out.Status = 128 + int(ws.Signal())
		}
	case err != nil:
		return out, err
	}
	return out, nil
}

// Difference describes where a run under madvisor differs from the native
// one; the zero value means none.
type Difference struct {
	// Line is the 1-based stdout line of the first difference (0 when the
	// outputs agree and the difference is in stderr or status).
	Line int
	// Call is the script line being run when the outputs parted (the
	// last echoed call before Line), for the report.
	Call           string
	Native, Sandbx string
	// Why is a one-line summary.
	Why string
}

func (d Difference) Found() bool { return d.Why != "" }

// Compare returns the first difference between the native run and a run
// under madvisor: stdout line by line, then stderr (madvisor's own
// messages, such as a --check-maps report, count), then the status. A
// call's result that differs as a row of SpecRules says is no difference.
func Compare(native, sandboxed Output) Difference {
	nl := strings.Split(native.Stdout, "\n")
	sl := strings.Split(sandboxed.Stdout, "\n")
	call := ""
	for i := 0; i < len(nl) || i < len(sl); i++ {
		var n, s string
		if i < len(nl) {
			n = nl[i]
		}
		if i < len(sl) {
			s = sl[i]
		}
		if n != s {
			if _, ok := specDifference(n, s); ok {
				continue // madvisor follows the spec here
			}
			return Difference{Line: i + 1, Call: call, Native: n, Sandbx: s,
				Why: fmt.Sprintf("stdout line %d differs", i+1)}
		}
		if n != "" && !strings.HasPrefix(strings.TrimLeft(strings.TrimLeft(n, "ct| "), " "), "vma ") &&
			!strings.Contains(n, "  maps:") && !strings.Contains(n, "  data ") {
			call = n
		}
	}
	if stderr := kapiCleanSummary.ReplaceAllString(sandboxed.Stderr, ""); native.Stderr != stderr {
		first := stderr
		if i := strings.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		return Difference{Native: native.Stderr, Sandbx: stderr,
			Why: "stderr differs: " + first}
	}
	if native.Status != sandboxed.Status {
		return Difference{Why: fmt.Sprintf("exit status %d natively, %d under madvisor", native.Status, sandboxed.Status)}
	}
	return Difference{}
}

// Check runs script natively and in mode and returns their first
// difference. A native run that fails (status not 0) is an error: the
// script or the executor is broken, not madvisor.
func (r *Runner) Check(script Script, mode Mode) (Difference, error) {
	d, err := r.CheckModes(script, []Mode{mode})
	if err != nil {
		return Difference{}, err
	}
	return d[0], nil
}

// CheckModes is Check for several modes, with one native run.
func (r *Runner) CheckModes(script Script, modes []Mode) ([]Difference, error) {
	native, err := r.Run(script, Native)
	if err != nil {
		return nil, err
	}
	if native.Status != 0 || native.Stderr != "" {
		return nil, fmt.Errorf("the native run failed (status %d): %s", native.Status, native.Stderr)
	}
	diffs := make([]Difference, len(modes))
	for i, m := range modes {
		sandboxed, err := r.Run(script, m)
		if err != nil {
			return nil, err
		}
		diffs[i] = Compare(native, sandboxed)
	}
	return diffs, nil
}
