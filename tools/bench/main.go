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
//
// Rows (-run selects them by name):
//
//	getppid                  1,000,000 getppid() calls (not intercepted)
//	madvise(MADV_DONTNEED)   200,000 DONTNEED calls on one page, re-touched
//	mmap+touch+munmap        100,000 iterations
//	gcc -O2 (2,000 lines)    one compile, wall time
//	guard fault ...          20,000 touches of a guard page (SIGSEGV)
//	process_madvise(COLD) on a child   10,000 calls on another process's mm
//	fork+wait, a WIPEONFORK VMA        1,000 forks (16 wipe-on-fork pages)
//	pagemap lseek+read       20,000 reads of one /proc/self/pagemap entry
//	advice/ADVICE/1p         per advice: madvise(ADVICE) on a 1-page range
//	advice/ADVICE/1024p      ... and on a 1,024-page range (one VMA each)
//	advice/ADVICE/10000vma   a walk: madvise over 10,000 one-page VMAs that
//	                         cannot merge (NORMAL, DONTNEED, COLD, HUGEPAGE,
//	                         GUARD_INSTALL)
//
// The advice rows (csrc/advice.c; -run advice selects all of them,
// -run 'advice/(DONTNEED|COLD)/' or -run vma a few) cover all 27 advice
// values. Each call is timed on its own, after an untimed reset step that
// makes it do its work every time: re-touch the pages before DONTNEED,
// FREE, REMOVE, COLD, PAGEOUT and DONTNEED_LOCKED; the opposite advice
// before a flag or guard advice (so the call always changes the flag or the
// markers); DONTNEED before POPULATE_*, DONTNEED and a re-touch before
// COLLAPSE; none for WILLNEED, HWPOISON and SOFT_OFFLINE (the whole loop is
// timed). Mappings: private anonymous, except a shared memfd for REMOVE, a
// file for WILLNEED and mlocked memory for DONTNEED_LOCKED. HWPOISON and
// SOFT_OFFLINE run without CAP_SYS_ADMIN: the EPERM (or, without
// CONFIG_MEMORY_FAILURE, EINVAL) path, never a real poisoning. The advice
// rows print a second table (µs per call, ratio, each row's setup and the
// calls' outcomes). The outcomes must be the same natively and under
// madvisor: a difference is printed and makes bench exit 1. The advice rows
// take 4-6 minutes with -n 5 on a loaded 2-CPU VM (-scale 0.2 for a quick
// look).
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
	// src is the C program in csrc (empty for the gcc and script
	// benchmarks).
	src string
	// python, if set, is a Python 3 program the benchmark runs (timed
	// whole).
	python string
	// args are passed to the C program before the iteration count.
	args []string
	// iterations is passed to the C program as its last argument.
	iterations int
	// perCall prints microseconds per call under madvisor.
	perCall bool
	// target is the goal from the foundation issue, for the reader.
	target string
	// check returns whether a result meets the target.
	check func(native, sandboxed time.Duration, iterations int) bool
	// advice is set for the per-advice rows (csrc/advice.c), which print
	// their own table.
	advice *adviceRow
}

// adviceRow is what the per-advice table shows of a row.
type adviceRow struct {
	advice string // the MADV_ name without MADV_
	extent string // "1 page", "1,024 pages" or "10,000 VMAs"
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
	{name: "guard fault (SIGSEGV + siglongjmp)", src: "guardfault.c", iterations: 20_000, perCall: true},
	{name: "process_madvise(COLD) on a child", src: "pmadvremote.c", iterations: 10_000, perCall: true},
	{name: "fork+wait, a WIPEONFORK VMA", src: "forkwipe.c", iterations: 1_000, perCall: true},
	{name: "pagemap lseek+read", src: "pagemapread.c", iterations: 20_000, perCall: true},
	{name: "pthread_create+join", src: "threads.c", iterations: 1_000, perCall: true},
	{name: "python3, 4 threads x 20,000 lock sections", python: pythonThreads},
}

// pythonThreads is the Python threads benchmark: four threads taking one
// lock in turn (the GIL and the lock: futexes, and clock reads).
const pythonThreads = `import threading
n = 0
lock = threading.Lock()
def work():
    global n
    for _ in range(20000):
        with lock:
            n += 1
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("result", n)
`

// advices are the madvise advice values, in numeric order (csrc/advice.c
// knows each one's mapping and reset step).
var advices = []string{
	"NORMAL", "RANDOM", "SEQUENTIAL", "WILLNEED", "DONTNEED", "FREE", "REMOVE",
	"DONTFORK", "DOFORK", "MERGEABLE", "UNMERGEABLE", "HUGEPAGE", "NOHUGEPAGE",
	"DONTDUMP", "DODUMP", "WIPEONFORK", "KEEPONFORK", "COLD", "PAGEOUT",
	"POPULATE_READ", "POPULATE_WRITE", "DONTNEED_LOCKED", "COLLAPSE",
	"HWPOISON", "SOFT_OFFLINE", "GUARD_INSTALL", "GUARD_REMOVE",
}

// perPage are the advice whose call, or reset step, touches every page of
// the range: fewer iterations on 1,024 pages.
var perPage = map[string]bool{
	"DONTNEED": true, "FREE": true, "REMOVE": true, "COLD": true, "PAGEOUT": true,
	"POPULATE_READ": true, "POPULATE_WRITE": true, "DONTNEED_LOCKED": true, "COLLAPSE": true,
}

// walkVMAs is the number of one-page VMAs of the walk rows.
const walkVMAs = 10_000

// walks are the advice timed over walkVMAs VMAs, and their extra arguments
// (NORMAL: no reset, so the walk finds every VMA already NORMAL and changes
// nothing).
var walks = []struct {
	advice string
	args   []string
}{
	{"NORMAL", []string{"-r", "none"}},
	{"DONTNEED", nil},
	{"COLD", nil},
	{"HUGEPAGE", nil},
	{"GUARD_INSTALL", nil},
}

func init() {
	for _, a := range advices {
		for _, pages := range []int{1, 1024} {
			it := 1000
			if pages > 1 && perPage[a] {
				it = 100
			}
			if pages > 1 && a == "COLLAPSE" {
				it = 50
			}
			extent := "1 page"
			if pages > 1 {
				extent = fmt.Sprintf("%d,%03d pages", pages/1000, pages%1000)
			}
			benchmarks = append(benchmarks, benchmark{
				name: fmt.Sprintf("advice/%s/%dp", a, pages), src: "advice.c",
				args: []string{a, strconv.Itoa(pages)}, iterations: it, perCall: true,
				advice: &adviceRow{advice: a, extent: extent},
			})
		}
	}
	for _, w := range walks {
		it := 10
		if w.advice == "NORMAL" {
			it = 20
		}
		benchmarks = append(benchmarks, benchmark{
			name: fmt.Sprintf("advice/%s/%dvma", w.advice, walkVMAs), src: "advice.c",
			args:       append(append([]string{"-w"}, w.args...), w.advice, strconv.Itoa(walkVMAs)),
			iterations: it, perCall: true,
			advice: &adviceRow{advice: w.advice, extent: fmt.Sprintf("%d,%03d VMAs", walkVMAs/1000, walkVMAs%1000)},
		})
	}
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
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "usage: go run ./tools/bench [flags]\n\nTimes benchmarks natively and under madvisor and prints medians and ratios.\n\n")
		fmt.Fprintf(out, "Benchmarks (-run REGEXP selects by name):\n")
		for _, b := range benchmarks {
			if b.advice == nil {
				fmt.Fprintf(out, "  %s\n", b.name)
			}
		}
		fmt.Fprintf(out, "  advice/ADVICE/1p, advice/ADVICE/1024p: madvise(MADV_ADVICE) on a 1-page and a\n"+
			"    1,024-page range, per call, after an untimed reset step (csrc/advice.c); ADVICE:\n")
		for i := 0; i < len(advices); i += 7 {
			fmt.Fprintf(out, "      %s\n", strings.Join(advices[i:min(i+7, len(advices))], " "))
		}
		fmt.Fprintf(out, "    HWPOISON and SOFT_OFFLINE run without CAP_SYS_ADMIN (the error path only)\n")
		fmt.Fprintf(out, "  advice/ADVICE/%dvma: madvise over %d one-page VMAs that cannot merge; ADVICE:\n     ", walkVMAs, walkVMAs)
		for _, w := range walks {
			fmt.Fprintf(out, " %s", w.advice)
		}
		fmt.Fprintf(out, "\n  (-run advice: all advice rows, 4-6 minutes with -n 5)\n\nFlags:\n")
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
	// In deterministic mode the programs read virtual time: their own
	// timings mean nothing, so whole runs are timed (start-up included).
	wallOnly = strings.Contains(*mflags, "--seed") || strings.Contains(*mflags, "--chaos")

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
	var plain, advice []row
	for _, r := range rows {
		if r.b.advice != nil {
			advice = append(advice, r)
		} else {
			plain = append(plain, r)
		}
	}
	if len(plain) > 0 {
		printTable(plain)
	}
	if len(advice) > 0 {
		if len(plain) > 0 {
			fmt.Println()
		}
		printAdviceTable(advice)
	}
	for _, r := range rows {
		if r.err != nil || r.differs() {
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
}

// row is a benchmark's outcome.
type row struct {
	b                 benchmark
	native, sandboxed []time.Duration
	// setup and the results are the "setup" and "result" lines the program
	// printed, each distinct line once, in order of appearance.
	setup                           string
	nativeResults, sandboxedResults []string
	err                             error
}

// differs reports whether the program printed other outcomes under
// madvisor than natively.
func (r row) differs() bool {
	return !slices.Equal(r.nativeResults, r.sandboxedResults)
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
		argv = append(append([]string{exe}, b.args...), strconv.Itoa(b.iterations))
	} else if b.python != "" {
		script := filepath.Join(dir, "bench.py")
		if err := os.WriteFile(script, []byte(b.python), 0o644); err != nil {
			r.err = err
			return r
		}
		argv = []string{"python3", script}
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
			d, info, err := timeRun(full, b.src != "" && !wallOnly)
			if err != nil {
				r.err = fmt.Errorf("%s: %w", side(sandboxed), err)
				return r
			}
			if r.setup == "" {
				r.setup = info["setup"]
			}
			if sandboxed {
				r.sandboxed = append(r.sandboxed, d)
				r.sandboxedResults = appendNew(r.sandboxedResults, info["result"])
			} else {
				r.native = append(r.native, d)
				r.nativeResults = appendNew(r.nativeResults, info["result"])
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

// wallOnly: time whole runs, not the programs' own loops (deterministic
// mode's time is virtual).
var wallOnly bool

// appendNew appends s to list unless it is empty or already there.
func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func side(sandboxed bool) string {
	if sandboxed {
		return "madvisor"
	}
	return "native"
}

// timeRun runs argv; for a self-timed program it returns the elapsed_ns the
// program printed, and its other "KEY rest of line" lines (setup, result)
// by key; otherwise the wall time of the whole command.
func timeRun(argv []string, selfTimed bool) (time.Duration, map[string]string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, nil, fmt.Errorf("%q: %w\n%s%s", argv, err, stdout.String(), stderr.String())
	}
	if !selfTimed {
		return wall, nil, nil
	}
	elapsed := time.Duration(-1)
	info := map[string]string{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), " ")
		if key != "elapsed_ns" {
			info[key] = rest
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, nil, fmt.Errorf("%q: bad elapsed_ns line %q", argv, sc.Text())
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("%q: bad elapsed_ns line %q", argv, sc.Text())
		}
		elapsed = time.Duration(ns)
	}
	if elapsed < 0 {
		return 0, nil, fmt.Errorf("%q printed no elapsed_ns line:\n%s%s", argv, stdout.String(), stderr.String())
	}
	return elapsed, info, nil
}

// built maps a csrc file name to its executable, once built.
var built = map[string]string{}

func buildC(dir, cc, name string) (string, error) {
	if exe, ok := built[name]; ok {
		return exe, nil
	}
	src, err := csrc.ReadFile("csrc/" + name)
	if err != nil {
		return "", err
	}
	srcPath := filepath.Join(dir, name)
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		return "", err
	}
	exe := strings.TrimSuffix(srcPath, ".c")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-pthread", "-o", exe, srcPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", cc, name, err, out)
	}
	built[name] = exe
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

// printAdviceTable prints the per-advice rows: microseconds per call, the
// ratio, and the outcomes of the calls.
func printAdviceTable(rows []row) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "ADVICE\tRANGE\tITERATIONS\tNATIVE/CALL\tMADVISOR/CALL\tRATIO\tSPREAD N/M\tRESULT (N = M)\tSETUP\t")
	for _, r := range rows {
		a := r.b.advice
		if r.err != nil || len(r.native) == 0 || len(r.sandboxed) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\tFAILED\t\t\t\t\t%s\t\n", a.advice, a.extent, r.b.iterations, r.setup)
			continue
		}
		n, m := median(r.native), median(r.sandboxed)
		result := strings.Join(r.nativeResults, " | ")
		if r.differs() {
			result = "DIFFERS: native " + result + "; madvisor " + strings.Join(r.sandboxedResults, " | ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.2fx\t%s/%s\t%s\t%s\t\n", a.advice, a.extent, r.b.iterations,
			perCall(n, r.b.iterations), perCall(m, r.b.iterations), float64(m)/float64(n),
			spread(r.native), spread(r.sandboxed), result, r.setup)
	}
	tw.Flush()
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("\n%s failed: %v\n", r.b.name, r.err)
		} else if r.differs() {
			fmt.Printf("\n%s: the calls' outcomes differ: native %q, madvisor %q\n", r.b.name, r.nativeResults, r.sandboxedResults)
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
