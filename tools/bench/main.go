// Command bench times programs natively and under madvisor, side by side,
// and prints medians and ratios.
//
// Usage (from the module root):
//
//	go run ./tools/bench [-madvisor PATH] [-n 5] [-run REGEXP] [-scale 1] [-flags '--check-maps']
//
// The benchmarks are C programs (csrc/*.c, compiled with gcc -O2 at start-up)
// that time their own loop with clock_gettime and print
// "elapsed_ns N iterations M", so process start-up (and madvisor's launch)
// is excluded; and gcc -O2 of a generated 2,000-line C file, timed as a
// whole command. Native and madvisor runs alternate, N times each.
package main

import (
	"bufio"
	"bytes"
	"embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

//go:embed csrc/*.c
var csrc embed.FS

// benchmark is one row of the table.
type benchmark struct {
	name string
	// src is the C program in csrc (empty for the gcc benchmark).
	src string
	// iterations is passed as argv[1] to the C program.
	iterations int
	// perCall prints microseconds per call under madvisor.
	perCall bool
	// target is the goal from the foundation issue, for the reader.
	target string
	// check returns whether a result meets the target.
	check func(native, sandboxed time.Duration, iterations int) bool
}

func ratioAtMost(limit float64) func(n, m time.Duration, _ int) bool {
	return func(n, m time.Duration, _ int) bool { return float64(m) <= limit*float64(n) }
}

var benchmarks = []benchmark{
	{name: "getppid", src: "getppid.c", iterations: 1_000_000, perCall: true,
		target: "ratio <= 1.05", check: ratioAtMost(1.05)},
	{name: "madvise(MADV_DONTNEED)", src: "madvise.c", iterations: 200_000, perCall: true,
		target: "<= 8 µs/call", check: func(_, m time.Duration, it int) bool { return m <= time.Duration(it)*8*time.Microsecond }},
	{name: "mmap+touch+munmap", src: "mmap.c", iterations: 100_000, perCall: true},
	{name: "gcc -O2 (2,000 lines)", target: "ratio <= 1.10", check: ratioAtMost(1.10)},
}

func main() {
	madvisor := flag.String("madvisor", "", "madvisor binary (default: build madvisor/tools/madvisor into a temporary directory)")
	reps := flag.Int("n", 5, "runs of each benchmark natively and under madvisor (alternating)")
	only := flag.String("run", "", "run only the benchmarks whose name matches this regular expression")
	scale := flag.Float64("scale", 1, "multiply the C benchmarks' iteration counts by this factor (e.g. 0.1 for a quick look)")
	mflags := flag.String("flags", "", "extra flags for `madvisor run`, space-separated (e.g. --check-maps)")
	cc := flag.String("cc", "gcc", "C compiler used to build the benchmarks and for the gcc benchmark")
	verbose := flag.Bool("v", false, "print every run's time")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./tools/bench [flags]\n\nTimes benchmarks natively and under madvisor and prints medians and ratios.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *reps < 1 {
		fatalf("-n must be at least 1")
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fatalf("-run: %v", err)
		}
	}

	dir, err := os.MkdirTemp("", "madvisor-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)

	bin := *madvisor
	if bin == "" {
		bin = filepath.Join(dir, "madvisor")
		fmt.Fprintf(os.Stderr, "building madvisor ...\n")
		if out, err := exec.Command("go", "build", "-o", bin, "madvisor/tools/madvisor").CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			fatalf("go build madvisor/tools/madvisor: %v\n%s", err, out)
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		fatalf("%v", err)
	}
	runArgs := append([]string{bin, "run"}, strings.Fields(*mflags)...)
	runArgs = append(runArgs, "--")

	var rows []row
	for _, b := range benchmarks {
		if filter != nil && !filter.MatchString(b.name) {
			continue
		}
		if b.src != "" {
			b.iterations = max(1, int(float64(b.iterations)**scale))
		}
		fmt.Fprintf(os.Stderr, "%s: ", b.name)
		r := runBenchmark(dir, *cc, b, runArgs, *reps, *verbose)
		fmt.Fprintln(os.Stderr)
		rows = append(rows, r)
	}
	printHeader(bin, *reps, *mflags)
	printTable(rows)
	for _, r := range rows {
		if r.err != nil {
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
}

// row is a benchmark's outcome.
type row struct {
	b                 benchmark
	native, sandboxed []time.Duration
	err               error
}

func runBenchmark(dir, cc string, b benchmark, runArgs []string, reps int, verbose bool) row {
	r := row{b: b}
	var argv []string
	if b.src != "" {
		exe, err := buildC(dir, cc, b.src)
		if err != nil {
			r.err = err
			return r
		}
		argv = []string{exe, strconv.Itoa(b.iterations)}
	} else {
		src := filepath.Join(dir, "gen2000.c")
		if err := os.WriteFile(src, []byte(generateC(2000)), 0o644); err != nil {
			r.err = err
			return r
		}
		argv = []string{cc, "-O2", "-c", "-o", filepath.Join(dir, "gen2000.o"), src}
	}
	for i := range reps {
		// Alternate which side goes first, so that neither always runs on a
		// warmer (or more tired) machine.
		sides := []bool{false, true}
		if i%2 == 1 {
			sides = []bool{true, false}
		}
		for _, sandboxed := range sides {
			full := argv
			if sandboxed {
				full = append(slices.Clone(runArgs), argv...)
			}
			d, err := timeRun(full, b.src != "")
			if err != nil {
				r.err = fmt.Errorf("%s: %w", side(sandboxed), err)
				return r
			}
			if sandboxed {
				r.sandboxed = append(r.sandboxed, d)
			} else {
				r.native = append(r.native, d)
			}
			if verbose {
				fmt.Fprintf(os.Stderr, "%s %v  ", side(sandboxed), d.Round(time.Microsecond))
			} else {
				fmt.Fprint(os.Stderr, ".")
			}
		}
	}
	return r
}

func side(sandboxed bool) string {
	if sandboxed {
		return "madvisor"
	}
	return "native"
}

// timeRun runs argv; for a self-timed program it returns the elapsed_ns the
// program printed, otherwise the wall time of the whole command.
func timeRun(argv []string, selfTimed bool) (time.Duration, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%q: %w\n%s%s", argv, err, stdout.String(), stderr.String())
	}
	if !selfTimed {
		return wall, nil
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "elapsed_ns" {
			ns, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q: bad elapsed_ns line %q", argv, sc.Text())
			}
			return time.Duration(ns), nil
		}
	}
	return 0, fmt.Errorf("%q printed no elapsed_ns line:\n%s%s", argv, stdout.String(), stderr.String())
}

func buildC(dir, cc, name string) (string, error) {
	src, err := csrc.ReadFile("csrc/" + name)
	if err != nil {
		return "", err
	}
	srcPath := filepath.Join(dir, name)
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		return "", err
	}
	exe := strings.TrimSuffix(srcPath, ".c")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-o", exe, srcPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", cc, name, err, out)
	}
	return exe, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is (max-min)/median in percent: how noisy the runs were.
func spread(ds []time.Duration) string {
	if len(ds) < 2 {
		return "-"
	}
	m := median(ds)
	if m == 0 {
		return "-"
	}
	return fmt.Sprintf("±%.0f%%", 50*float64(slices.Max(ds)-slices.Min(ds))/float64(m))
}

func printHeader(bin string, reps int, mflags string) {
	var uts unix.Utsname
	kernel := "?"
	if unix.Uname(&uts) == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	fmt.Printf("\nnative vs `%s` (%d runs each, alternating; medians)\n", strings.Join(strings.Fields(bin+" run "+mflags+" --"), " "), reps)
	load := "?"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	fmt.Printf("host: linux %s, %d CPUs, load average %s, %s\n\n", kernel, runtime.NumCPU(), load, runtime.Version())
}

func printTable(rows []row) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tITERATIONS\tNATIVE\tMADVISOR\tRATIO\tNATIVE/CALL\tMADVISOR/CALL\tSPREAD N/M\tTARGET (issue 2)\t")
	for _, r := range rows {
		it := "-"
		if r.b.src != "" {
			it = strconv.Itoa(r.b.iterations)
		}
		if r.err != nil || len(r.native) == 0 || len(r.sandboxed) == 0 {
			fmt.Fprintf(tw, "%s\t%s\tFAILED\t\t\t\t\t\t%s\t\n", r.b.name, it, r.b.target)
			continue
		}
		n, m := median(r.native), median(r.sandboxed)
		ratio := float64(m) / float64(n)
		nCall, mCall := "-", "-"
		if r.b.perCall {
			nCall = perCall(n, r.b.iterations)
			mCall = perCall(m, r.b.iterations)
		}
		target := r.b.target
		if r.b.check != nil {
			if r.b.check(n, m, r.b.iterations) {
				target += "  met"
			} else {
				target += "  MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fx\t%s\t%s\t%s/%s\t%s\t\n", r.b.name, it, fmtDur(n), fmtDur(m), ratio,
			nCall, mCall, spread(r.native), spread(r.sandboxed), target)
	}
	tw.Flush()
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("\n%s failed: %v\n", r.b.name, r.err)
		}
	}
}

func perCall(d time.Duration, iterations int) string {
	us := float64(d) / float64(time.Microsecond) / float64(iterations)
	if us < 10 {
		return fmt.Sprintf("%.3f µs", us)
	}
	return fmt.Sprintf("%.1f µs", us)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}
