// Command mmfuzz is madvisor's differential fuzzer (package fuzz): for each
// seed it draws a random sequence of memory calls, runs it natively and
// under madvisor in each mode, and compares what the program printed. A
// seed whose outputs differ is minimized to the shortest sequence that
// still differs, which can be saved as a regression case.
//
//	mmfuzz [flags]
//	mmfuzz [flags] -replay FILE...
//
// For example, 200 seeds of 2,000 calls in every mode, failing cases saved:
//
//	go build -o madvisor ./tools/madvisor
//	go run ./tools/mmfuzz -seeds 1-200 -n 2000 -save /tmp/cases
//
// On Linux 6.1 (tools/oldhost; the guest has no gcc: build the executor
// first with -build-executor DIR):
//
//	go run ./tools/oldhost -file madvisor -file mmfuzz -file executor-static -- \
//	    mmfuzz -madvisor /bin/madvisor -executor /bin/executor-static -seeds 1-20
//
// Exit status: 0 when every run agreed, 1 when some differed, 2 on bad
// usage or when the fuzzer itself failed (the executor could not be built,
// a native run failed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"madvisor/fuzz"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	seedLo, seedHi uint64
	calls          int
	modes          []fuzz.Mode
	madvisor       string
	executor       string
	static         bool
	jobs           int
	minimize       bool
	save           string
	replay         bool
	timeout        time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, []string, error) {
	fs := flag.NewFlagSet("mmfuzz", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.String("seeds", "1-100", "seed range A-B (or one seed)")
	calls := fs.Int("n", 2000, "calls per seed")
	modes := fs.String("modes", "plain,check-maps,emulate", "madvisor modes to compare with the kernel: plain (madvisor run), check-maps (--check-maps), emulate (--check-maps --emulate=all),\nkapi (--kapi-verify: a spec violation is a difference)")
	madv := fs.String("madvisor", "", "the madvisor binary (default: ./madvisor, else madvisor on PATH)")
	executor := fs.String("executor", "", "a prebuilt executor (default: build one with gcc)")
	buildDir := fs.String("build-executor", "", "build the executor (dynamic and -static) into DIR and exit")
	static := fs.Bool("static", false, "build the executor with -static")
	jobs := fs.Int("jobs", runtime.NumCPU(), "seeds run at a time")
	minimize := fs.Bool("minimize", true, "minimize each differing seed")
	save := fs.String("save", "", "write each minimized case to DIR/MODE-seedN.txt")
	replay := fs.Bool("replay", false, "run the script files given as arguments instead of seeds")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on one run")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mmfuzz [flags]\n       mmfuzz [flags] -replay FILE...\n\n"+
			"Runs random sequences of memory calls natively and under madvisor and\n"+
			"compares their output; exit 1 if any differed.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if *buildDir != "" {
		for _, st := range []bool{false, true} {
			p, err := fuzz.BuildExecutor(*buildDir, st)
			if err != nil {
				return nil, nil, err
			}
			fmt.Fprintln(stderr, p)
		}
		return nil, nil, errDone
	}
	o := &options{calls: *calls, executor: *executor, static: *static, jobs: *jobs,
		minimize: *minimize, save: *save, replay: *replay, timeout: *timeout}
	var err error
	if o.seedLo, o.seedHi, err = parseRange(*seeds); err != nil {
		return nil, nil, err
	}
	if o.calls < 1 || o.jobs < 1 {
		return nil, nil, errors.New("-n and -jobs must be at least 1")
	}
	for _, name := range strings.Split(*modes, ",") {
		m, ok := fuzz.ModeByName(strings.TrimSpace(name))
		if !ok {
			return nil, nil, fmt.Errorf("-modes: unknown mode %q (plain, check-maps, emulate, kapi)", name)
		}
		o.modes = append(o.modes, m)
	}
	if o.madvisor, err = findMadvisor(*madv); err != nil {
		return nil, nil, err
	}
	if o.replay && fs.NArg() == 0 {
		return nil, nil, errors.New("-replay needs script files")
	}
	if !o.replay && fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q (script files go with -replay)", fs.Arg(0))
	}
	return o, fs.Args(), nil
}

var errDone = errors.New("done")

func parseRange(s string) (lo, hi uint64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.ParseUint(a, 10, 64); err == nil {
		hi = lo
		if isRange {
			hi, err = strconv.ParseUint(b, 10, 64)
		}
	}
	if err != nil || hi < lo {
		return 0, 0, fmt.Errorf("-seeds %q: want A-B with A <= B, or one seed", s)
	}
	return lo, hi, nil
}

func findMadvisor(flagged string) (string, error) {
	if flagged != "" {
		if _, err := os.Stat(flagged); err != nil {
			return "", fmt.Errorf("-madvisor: %v", err)
		}
		return filepath.Abs(flagged)
	}
	if _, err := os.Stat("madvisor"); err == nil {
		return filepath.Abs("madvisor")
	}
	return "", errors.New("no madvisor binary: build one (go build -o madvisor ./tools/madvisor) or name it with -madvisor")
}

func run(args []string, stdout, stderr io.Writer) int {
	o, files, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, errDone):
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "mmfuzz: %v\n", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "mmfuzz-")
	if err != nil {
		fmt.Fprintf(stderr, "mmfuzz: %v\n", err)
		return 2
	}
	defer os.RemoveAll(dir)
	exe := o.executor
	if exe == "" {
		if exe, err = fuzz.BuildExecutor(dir, o.static); err != nil {
			fmt.Fprintf(stderr, "mmfuzz: cannot build the executor: %v\n", err)
			return 2
		}
	}
	// SIGINT or SIGTERM kills the runs in progress (their process groups)
	// and ends the fuzzer with what it found so far.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &fuzz.Runner{Executor: exe, Madvisor: o.madvisor, Dir: dir, Timeout: o.timeout, Context: ctx}
	var cases []job
	if o.replay {
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintf(stderr, "mmfuzz: %v\n", err)
				return 2
			}
			cases = append(cases, job{name: f, script: fuzz.ParseScript(string(text))})
		}
	} else {
		for s := o.seedLo; s <= o.seedHi; s++ {
			cases = append(cases, job{name: fmt.Sprintf("seed %d", s), seed: s, script: fuzz.Generate(s, o.calls)})
		}
	}
	return fuzzAll(r, o, cases, stdout, stderr)
}

type job struct {
	name   string
	seed   uint64
	script fuzz.Script
}

type finding struct {
	job  job
	mode fuzz.Mode
	diff fuzz.Difference
	min  fuzz.Script
	err  error
}

func fuzzAll(r *fuzz.Runner, o *options, cases []job, stdout, stderr io.Writer) int {
	start := time.Now()
	var (
		mu       sync.Mutex
		done     int
		calls    int
		found    []finding
		failures int
	)
	perMode := map[string]int{}
	// On a terminal the progress line is rewritten in place; elsewhere a
	// line every 10 scripts.
	tty := isTerminal(stderr)
	progress := func() {
		if !tty && done%10 != 0 && done != len(cases) {
			return
		}
		end := "\n"
		if tty {
			end = "   \r"
		}
		fmt.Fprintf(stderr, "mmfuzz: %d/%d scripts, %d calls, %d differences, %d errors, %v%s",
			done, len(cases), calls, len(found), failures, time.Since(start).Round(time.Second), end)
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range o.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				var mine []finding
				diffs, err := r.CheckModes(j.script, o.modes)
				if err != nil {
					mine = append(mine, finding{job: j, mode: fuzz.Native, err: err})
				}
				for i, d := range diffs {
					if d.Found() {
						mine = append(mine, minimize(r, o, finding{job: j, mode: o.modes[i], diff: d}))
					}
				}
				mu.Lock()
				done++
				calls += j.script.Calls() * len(o.modes)
				for _, f := range mine {
					if f.err != nil {
						failures++
					} else {
						perMode[f.mode.Name]++
					}
					found = append(found, f)
					report(stdout, f, o)
				}
				progress()
				mu.Unlock()
			}
		}()
	}
	for _, j := range cases {
		if r.Context != nil && r.Context.Err() != nil {
			break // interrupted: no more scripts
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if tty {
		fmt.Fprintln(stderr)
	}
	var modes []string
	for _, m := range o.modes {
		modes = append(modes, fmt.Sprintf("%s %d", m.Name, perMode[m.Name]))
	}
	fmt.Fprintf(stdout, "mmfuzz: %d scripts, %d calls compared in %v; differing runs: %s; errors %d\n",
		len(cases), calls, time.Since(start).Round(time.Second), strings.Join(modes, ", "), failures)
	switch {
	case failures > 0:
		return 2
	case len(found) > 0:
		return 1
	}
	return 0
}

// minimize minimizes a differing finding (when -minimize) and saves it
// (when -save).
func minimize(r *fuzz.Runner, o *options, f finding) finding {
	if !o.minimize {
		return f
	}
	m := f.mode
	f.min = fuzz.Minimize(f.job.script, func(s fuzz.Script) bool {
		d, err := r.Check(s, m)
		return err == nil && d.Found()
	})
	// Report the minimized case's difference: it is the one saved.
	if d, err := r.Check(f.min, m); err == nil && d.Found() {
		f.diff = d
	}
	if o.save != "" {
		f.err = save(o.save, f)
	}
	return f
}

func save(dir string, f finding) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-seed%d.txt", f.mode.Name, f.job.seed)
	if f.job.seed == 0 {
		name = f.mode.Name + "-" + filepath.Base(f.job.name)
	}
	text := fmt.Sprintf("# mmfuzz %s, mode %s (madvisor run %s): %s\n# native:   %s\n# madvisor: %s\n%s",
		f.job.name, f.mode.Name, strings.Join(f.mode.Flags, " "), f.diff.Why,
		firstLine(f.diff.Native), firstLine(f.diff.Sandbx), f.min.String())
	return os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func report(w io.Writer, f finding, o *options) {
	if f.err != nil {
		fmt.Fprintf(w, "\n%s, %s: error: %v\n", f.job.name, f.mode.Name, f.err)
		return
	}
	fmt.Fprintf(w, "\n%s, %s: %s\n", f.job.name, f.mode.Name, f.diff.Why)
	if f.diff.Call != "" {
		fmt.Fprintf(w, "  after:    %s\n", f.diff.Call)
	}
	fmt.Fprintf(w, "  native:   %s\n  madvisor: %s\n", firstLine(f.diff.Native), firstLine(f.diff.Sandbx))
	if f.min != nil {
		fmt.Fprintf(w, "  minimized to %d lines:\n", len(f.min))
		for _, l := range f.min {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}
