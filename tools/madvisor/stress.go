package main

// madvisor stress: a seed sweep. The pure parts (flags, seed ranges and
// shards, outcome classification, the summary) come first; the process
// running (runOne, sweep, stressCommand) is at the end.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

const stressUsage = `Usage: madvisor stress [flags] -- PROGRAM [ARGS...]

Hunts schedule-dependent bugs: runs PROGRAM once per seed of a range, each
time as "madvisor run --seed=N --chaos -- PROGRAM ARGS", several at a time,
and reports which seeds fail and the command that replays each of them.

A run fails when it exits non-zero, is killed by a signal (madvisor exits
with 128+N then; reported as "killed by SIGxxx"), runs longer than
--timeout (its whole process group is killed), or, with --expect-stdout,
prints anything else on stdout than FILE holds. Each run's stdin is
/dev/null; the last 64 KiB of its stdout and stderr are kept.

The first seed runs alone. If it fails, PROGRAM also runs once natively
(without madvisor): when it fails the same way there, the failure is not a
schedule-dependent race, and stress says so.

Progress goes to stderr: a progress bar on a terminal, a line every 10%
otherwise. At the end, the summary goes to stdout: each distinct outcome
with its count and example seeds, and the replay command of every failing
seed. SIGINT or SIGTERM stops the sweep: the running runs are killed and
the partial summary is printed.

Sharding splits a sweep across machines: the seed at index i of the range
runs on shard i mod K. Without --shard, the shard comes from
  TEST_TOTAL_SHARDS, TEST_SHARD_INDEX   Bazel's test sharding (and
                                        TEST_SHARD_STATUS_FILE is touched)
  JOB_COMPLETION_INDEX                  a Kubernetes Indexed Job's index; the
                                        shard count is --shard-count or
                                        MADVISOR_STRESS_SHARDS

Exit status: 0 if no seed failed, 1 if any did, 2 for bad usage, 130 if
interrupted before any failure.

Flags:
`

// seedRange is an inclusive range of seeds, lo <= hi.
type seedRange struct{ lo, hi uint64 }

func (r *seedRange) String() string {
	if r.lo == r.hi {
		return strconv.FormatUint(r.lo, 10)
	}
	return fmt.Sprintf("%d-%d", r.lo, r.hi)
}

func (r *seedRange) Set(v string) error {
	p, err := parseSeedRange(v)
	if err == nil {
		*r = p
	}
	return err
}

// parseSeedRange parses "A-B" (or a single seed "N"), decimal or 0x hex.
func parseSeedRange(s string) (seedRange, error) {
	if s == "" {
		return seedRange{}, errors.New("empty seed range: want A-B, e.g. 1-100")
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := parseSeed(a)
	if err != nil {
		return seedRange{}, err
	}
	hi := lo
	if isRange {
		if hi, err = parseSeed(b); err != nil {
			return seedRange{}, err
		}
	}
	if lo > hi {
		return seedRange{}, fmt.Errorf("reversed seed range %s: it holds no seed (did you mean %d-%d?)", s, hi, lo)
	}
	return seedRange{lo, hi}, nil
}

func parseSeed(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a seed: want an unsigned 64-bit number (decimal, or 0x hex)", s)
	}
	return n, nil
}

// shard is shard index of count: it runs the seeds whose index in the range
// is index mod count.
type shard struct{ index, count int }

func (s shard) String() string { return fmt.Sprintf("%d/%d", s.index, s.count) }

// shardFlag is --shard=I/K.
type shardFlag struct {
	set bool
	shard
}

func (f *shardFlag) String() string {
	if !f.set {
		return ""
	}
	return f.shard.String()
}

func (f *shardFlag) Set(v string) error {
	s, err := parseShard(v)
	if err == nil {
		f.set, f.shard = true, s
	}
	return err
}

func parseShard(s string) (shard, error) {
	is, ks, ok := strings.Cut(s, "/")
	i, ierr := strconv.Atoi(is)
	k, kerr := strconv.Atoi(ks)
	if !ok || ierr != nil || kerr != nil || k < 1 || i < 0 || i >= k {
		return shard{}, fmt.Errorf("bad shard %q: want I/K, shard I (0-based) of K, with 0 <= I < K", s)
	}
	return shard{i, k}, nil
}

// resolveShard picks the shard: --shard, else Bazel's environment, else a
// Kubernetes Indexed Job's; from says which (empty: not sharded).
func resolveShard(f shardFlag, count int, getenv func(string) string) (s shard, from string, err error) {
	if f.set {
		if count != 0 {
			return shard{}, "", errors.New("--shard-count is for Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX); --shard=I/K already gives the count")
		}
		return f.shard, "--shard", nil
	}
	if total := getenv("TEST_TOTAL_SHARDS"); total != "" {
		index := getenv("TEST_SHARD_INDEX")
		s, err := parseShard(index + "/" + total)
		if err != nil {
			return shard{}, "", fmt.Errorf("Bazel sharding: TEST_SHARD_INDEX=%q, TEST_TOTAL_SHARDS=%q: %v", index, total, err)
		}
		return s, "Bazel's TEST_SHARD_INDEX/TEST_TOTAL_SHARDS", nil
	}
	if index := getenv("JOB_COMPLETION_INDEX"); index != "" {
		n, src := strconv.Itoa(count), "--shard-count"
		if count == 0 {
			n, src = getenv("MADVISOR_STRESS_SHARDS"), "MADVISOR_STRESS_SHARDS"
			if n == "" {
				return shard{}, "", fmt.Errorf("JOB_COMPLETION_INDEX=%s is set (a Kubernetes Indexed Job) but not the number of shards: pass --shard-count=K (the Job's completions) or set MADVISOR_STRESS_SHARDS", index)
			}
		}
		s, err := parseShard(index + "/" + n)
		if err != nil {
			return shard{}, "", fmt.Errorf("Kubernetes Indexed Job: JOB_COMPLETION_INDEX=%q, %s=%q: %v", index, src, n, err)
		}
		return s, "Kubernetes' JOB_COMPLETION_INDEX", nil
	}
	if count != 0 {
		return shard{}, "", errors.New("--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); elsewhere use --shard=I/K")
	}
	return shard{0, 1}, "", nil
}

// maxSeeds bounds one invocation's seed list (it is held in memory).
const maxSeeds = 1 << 24

// shardSeeds lists the seeds of r on shard s, in order.
func shardSeeds(r seedRange, s shard) ([]uint64, error) {
	span, i, k := r.hi-r.lo, uint64(s.index), uint64(s.count)
	if i > span {
		return nil, nil
	}
	last := (span - i) / k // the index of the last seed on the shard; +1 may overflow
	if last >= maxSeeds {
		return nil, fmt.Errorf("too many seeds to run: at most %d per invocation; narrow --seeds or shard the range", maxSeeds)
	}
	n := last + 1
	seeds := make([]uint64, n)
	for j := range seeds {
		seeds[j] = r.lo + i + uint64(j)*k
	}
	return seeds, nil
}

type stressConfig struct {
	seedRange    seedRange
	shard        shard
	shardFrom    string // where the shard came from; empty when not sharded
	seeds        []uint64
	jobs         int
	untilFail    bool
	timeout      time.Duration
	expectStdout string // FILE, or empty
	json         bool
	argv         []string
}

func newStressFlags(c *stressConfig, sf *shardFlag, shardCount *int) *flag.FlagSet {
	fs := flag.NewFlagSet("stress", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // stressCommand prints errors and usage itself
	c.seedRange = seedRange{1, 100}
	fs.Var(&c.seedRange, "seeds", "run the seeds `A-B` (inclusive; decimal or 0x hex), or the one seed N")
	fs.IntVar(&c.jobs, "jobs", runtime.NumCPU(), "run `J` seeds in parallel")
	fs.BoolVar(&c.untilFail, "until-fail", false, "stop at the first failing seed (kill the runs still going)")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "a run that takes longer than `D` fails; its process group is killed")
	fs.StringVar(&c.expectStdout, "expect-stdout", "", "a run whose stdout differs from the contents of `FILE` fails")
	fs.Var(sf, "shard", "run only shard `I/K` (0-based I < K) of the range: the seeds whose index is I mod K")
	fs.IntVar(shardCount, "shard-count", 0, "the number of shards `K` of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX is the shard)")
	fs.BoolVar(&c.json, "json", false, "print the summary as JSON on stdout (the text summary goes to stderr)")
	return fs
}

func printStressUsage(w io.Writer) {
	var c stressConfig
	var sf shardFlag
	var n int
	fs := newStressFlags(&c, &sf, &n)
	fmt.Fprint(w, stressUsage)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseStressArgs parses the command line of stress; it returns
// flag.ErrHelp for --help.
func parseStressArgs(args []string, getenv func(string) string) (*stressConfig, error) {
	c := &stressConfig{}
	var sf shardFlag
	var shardCount int
	fs := newStressFlags(c, &sf, &shardCount)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.argv = fs.Args()
	if len(c.argv) == 0 {
		return nil, errors.New("no program given (usage: madvisor stress [flags] -- PROGRAM [ARGS...])")
	}
	if c.jobs < 1 {
		return nil, fmt.Errorf("--jobs=%d: want at least 1", c.jobs)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("--timeout=%v: want a positive duration, e.g. 30s", c.timeout)
	}
	var err error
	if c.shard, c.shardFrom, err = resolveShard(sf, shardCount, getenv); err != nil {
		return nil, err
	}
	if c.seeds, err = shardSeeds(c.seedRange, c.shard); err != nil {
		return nil, err
	}
	return c, nil
}

// captureLimit is how much of each run's stdout and stderr is kept.
const captureLimit = 64 << 10

// capture keeps the last captureLimit bytes written to it, and the count and
// hash of all of them, so that long outputs compare exactly in bounded memory.
type capture struct {
	buf []byte
	n   int64
	h   hash.Hash
}

func (c *capture) Write(p []byte) (int, error) {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Write(p)
	c.n += int64(len(p))
	c.buf = append(c.buf, p...)
	if len(c.buf) > 2*captureLimit { // trim now and then, not on every write
		c.buf = append([]byte(nil), c.buf[len(c.buf)-captureLimit:]...)
	}
	return len(p), nil
}

func (c *capture) output() output {
	if c.h == nil {
		c.h = sha256.New()
	}
	o := output{tail: c.buf, n: c.n}
	if len(o.tail) > captureLimit {
		o.tail = o.tail[len(o.tail)-captureLimit:]
	}
	c.h.Sum(o.sum[:0])
	return o
}

// output is what a run wrote on one stream.
type output struct {
	tail []byte // the last captureLimit bytes
	n    int64
	sum  [sha256.Size]byte
}

func outputOf(b []byte) output {
	var c capture
	c.Write(b)
	return c.output()
}

func (o output) same(p output) bool { return o.n == p.n && o.sum == p.sum }

func (o output) digest() string { return fmt.Sprintf("%d bytes, sha256 %x", o.n, o.sum[:4]) }

type statusKind int

const (
	exited statusKind = iota
	signaled
	timedOut
	startFailed
)

// status is how a run ended.
type status struct {
	kind statusKind
	code int    // exited: the exit status; signaled: the signal
	msg  string // timedOut: the timeout; startFailed: the error
}

func (s status) String() string {
	switch s.kind {
	case exited:
		return fmt.Sprintf("exit %d", s.code)
	case signaled:
		if name := unix.SignalName(syscall.Signal(s.code)); name != "" {
			return "killed by " + name
		}
		return fmt.Sprintf("killed by signal %d", s.code)
	case timedOut:
		return "timeout after " + s.msg
	}
	return "could not start: " + s.msg
}

// classify turns how a process ended into a status. Exit status 128+N is
// read as "killed by signal N", as a shell does: madvisor exits so when its
// program is killed, and native and madvisor runs then compare equal.
// sig is the signal that killed the process itself (0 if it exited);
// killedForTimeout says that we sent it SIGKILL because it took too long.
func classify(code, sig int, killedForTimeout bool, timeout time.Duration) status {
	switch {
	case killedForTimeout && sig == int(syscall.SIGKILL):
		return status{kind: timedOut, msg: timeout.String()}
	case sig != 0:
		return status{kind: signaled, code: sig}
	case code > 128 && code <= 128+64:
		return status{kind: signaled, code: code - 128}
	}
	return status{kind: exited, code: code}
}

type runResult struct {
	seed           uint64
	status         status
	stdout, stderr output
	// cancelled: killed by --until-fail or an interrupt; not an outcome.
	cancelled bool
}

// failed says whether r is a failing run; expect is --expect-stdout's.
func failed(r runResult, expect *output) bool {
	return r.status != status{kind: exited} || expect != nil && !r.stdout.same(*expect)
}

// outcome names r's outcome for the table: its status plus, where it
// matters, what it printed.
func outcome(r runResult, expect *output, showDigest bool) string {
	s := r.status.String()
	if r.status.kind != exited && r.status.kind != signaled {
		return s // a partial output says nothing
	}
	switch {
	case expect != nil && r.stdout.same(*expect):
		return s + ", stdout as expected"
	case expect != nil:
		return s + ", stdout differs: " + r.stdout.digest()
	case showDigest:
		return s + ", stdout " + r.stdout.digest()
	}
	return s
}

// nativeCheck is the native run made when the first seed failed.
type nativeCheck struct {
	seed        uint64
	seedOutcome string
	outcome     string
	same        bool // it failed natively, the same way
}

func (n *nativeCheck) note(prog string) string {
	if n.same {
		return fmt.Sprintf("%s fails natively too (%s): the failure is not a schedule-dependent race", prog, n.outcome)
	}
	return fmt.Sprintf("natively, %s gives %s (seed %d under madvisor: %s)", prog, n.outcome, n.seed, n.seedOutcome)
}

// summary is the result of a sweep.
type summary struct {
	argv      []string
	seedRange seedRange
	shard     shard
	planned   int         // seeds on this shard
	results   []runResult // the seeds that ran, in seed order
	expect    *output
	native    *nativeCheck
	stopped   string // why the sweep ended early, or empty
	elapsed   time.Duration
}

type outcomeRow struct {
	outcome string
	failing bool
	seeds   []uint64
}

// rows groups the results by outcome, in the order of their first seed.
func (s *summary) rows() []outcomeRow {
	// Show what runs printed only when that tells them apart.
	sums := map[[sha256.Size]byte]bool{}
	for _, r := range s.results {
		if r.status.kind == exited || r.status.kind == signaled {
			sums[r.stdout.sum] = true
		}
	}
	showDigest := len(sums) > 1
	var rows []outcomeRow
	index := map[string]int{}
	for _, r := range s.results {
		o := outcome(r, s.expect, showDigest)
		i, ok := index[o]
		if !ok {
			i = len(rows)
			index[o] = i
			rows = append(rows, outcomeRow{outcome: o, failing: failed(r, s.expect)})
		}
		rows[i].seeds = append(rows[i].seeds, r.seed)
	}
	return rows
}

func (s *summary) failures() []runResult {
	var f []runResult
	for _, r := range s.results {
		if failed(r, s.expect) {
			f = append(f, r)
		}
	}
	return f
}

func (s *summary) headline() string {
	where := "seeds " + s.seedRange.String()
	if s.shard.count > 1 {
		where += ", shard " + s.shard.String()
	}
	failedText := "none failed"
	if n := len(s.failures()); n > 0 {
		failedText = fmt.Sprintf("%d failed", n)
	}
	h := fmt.Sprintf("%d of %d seeds run (%s), %s, in %v", len(s.results), s.planned, where, failedText, s.elapsed.Round(time.Millisecond))
	if s.stopped != "" {
		h += "; " + s.stopped
	}
	return h
}

// exampleSeeds lists up to max seeds and how many more there are.
func exampleSeeds(seeds []uint64, max int) string {
	var b strings.Builder
	for i, s := range seeds {
		if i == max {
			fmt.Fprintf(&b, " (+%d more)", len(seeds)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(s, 10))
	}
	return b.String()
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) []string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

func writeSummary(w io.Writer, s *summary) {
	fmt.Fprintf(w, "madvisor stress: %s\n", s.headline())
	rows := s.rows()
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  RESULT\tRUNS\tOUTCOME\tSEEDS")
		for _, r := range rows {
			result := "ok"
			if r.failing {
				result = "FAIL"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", result, len(r.seeds), r.outcome, exampleSeeds(r.seeds, 10))
		}
		tw.Flush()
	}
	fails := s.failures()
	// The end of the first failing run's stderr per outcome: usually the why.
	shown := map[status]bool{}
	for _, r := range fails {
		if shown[r.status] || r.stderr.n == 0 {
			continue
		}
		shown[r.status] = true
		fmt.Fprintf(w, "seed %d (%s), end of stderr:\n", r.seed, r.status)
		for _, l := range lastLines(r.stderr.tail, 5) {
			fmt.Fprintf(w, "  | %s\n", l)
		}
	}
	if s.native != nil {
		note := s.native.note(s.argv[0])
		if s.native.same && len(fails) == len(s.results) && len(rows) == 1 {
			note += "; every seed failed the same way"
		}
		fmt.Fprintf(w, "note: %s\n", note)
	}
	if len(fails) > 0 {
		fmt.Fprintln(w, "replay a failing seed with:")
		for _, r := range fails {
			fmt.Fprintf(w, "  %s\n", replayCommand(r.seed, true, s.argv))
		}
	}
}

type jsonSummary struct {
	Program        []string      `json:"program"`
	Seeds          string        `json:"seeds"`
	Shard          string        `json:"shard"`
	SeedsPlanned   int           `json:"seeds_planned"`
	SeedsRun       int           `json:"seeds_run"`
	SeedsFailed    int           `json:"seeds_failed"`
	Stopped        string        `json:"stopped,omitempty"`
	Outcomes       []jsonOutcome `json:"outcomes"`
	Failures       []jsonFailure `json:"failures"`
	Native         *jsonNative   `json:"native,omitempty"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
}

type jsonOutcome struct {
	Outcome      string   `json:"outcome"`
	Failing      bool     `json:"failing"`
	Count        int      `json:"count"`
	ExampleSeeds []uint64 `json:"example_seeds"`
}

type jsonFailure struct {
	Seed    uint64 `json:"seed"`
	Outcome string `json:"outcome"`
	Replay  string `json:"replay"`
}

type jsonNative struct {
	Seed             uint64 `json:"seed"`
	Outcome          string `json:"outcome"`
	FailsNativelyToo bool   `json:"fails_natively_too"`
}

func writeJSON(w io.Writer, s *summary) error {
	fails := s.failures()
	j := jsonSummary{
		Program:        s.argv,
		Seeds:          s.seedRange.String(),
		Shard:          s.shard.String(),
		SeedsPlanned:   s.planned,
		SeedsRun:       len(s.results),
		SeedsFailed:    len(fails),
		Stopped:        s.stopped,
		Outcomes:       []jsonOutcome{},
		Failures:       []jsonFailure{},
		ElapsedSeconds: s.elapsed.Seconds(),
	}
	rows := s.rows()
	outcomeOf := map[uint64]string{}
	for _, r := range rows {
		j.Outcomes = append(j.Outcomes, jsonOutcome{r.outcome, r.failing, len(r.seeds), r.seeds[:min(len(r.seeds), 10)]})
		for _, seed := range r.seeds {
			outcomeOf[seed] = r.outcome
		}
	}
	for _, r := range fails {
		j.Failures = append(j.Failures, jsonFailure{r.seed, outcomeOf[r.seed], replayCommand(r.seed, true, s.argv)})
	}
	if n := s.native; n != nil {
		j.Native = &jsonNative{n.seed, n.outcome, n.same}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// progress reports the sweep on stderr: a bar redrawn in place on a
// terminal, else a line every 10%.
type progress struct {
	w      io.Writer
	tty    bool
	total  int
	start  time.Time
	drawn  time.Time // the last redraw (tty)
	decile int       // the last 10% step printed (not tty)
	done   int
	failed int
}

func progressText(done, total, failed int, elapsed time.Duration) string {
	rate, eta := "-", "-"
	if done > 0 && elapsed > 0 {
		perMin := float64(done) / elapsed.Minutes()
		rate = strconv.FormatFloat(perMin, 'f', 0, 64)
		eta = (time.Duration(float64(total-done)/perMin*float64(time.Minute)) + time.Second/2).Truncate(time.Second).String()
	}
	return fmt.Sprintf("%d/%d seeds, %d failed, %s seeds/min, ETA %s", done, total, failed, rate, eta)
}

func progressBar(done, total, width int) string {
	n := width
	if total > 0 {
		n = done * width / total
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func (p *progress) add(failed bool) {
	p.done++
	if failed {
		p.failed++
	}
	now := time.Now()
	text := progressText(p.done, p.total, p.failed, now.Sub(p.start))
	if p.tty {
		if p.done == p.total || now.Sub(p.drawn) >= 100*time.Millisecond {
			p.drawn = now
			fmt.Fprintf(p.w, "\r\033[K%s %s", progressBar(p.done, p.total, 20), text)
		}
		return
	}
	if d := p.done * 10 / p.total; d > p.decile {
		p.decile = d
		fmt.Fprintf(p.w, "madvisor: stress: %s\n", text)
	}
}

// clear ends the bar's line, so that other output starts on a fresh one.
func (p *progress) clear() {
	if p.tty && !p.drawn.IsZero() {
		fmt.Fprintln(p.w)
		p.drawn = time.Time{}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// runOne runs argv (path is argv[0] resolved) in a process group of its own
// with stdin /dev/null, capturing its output. When it takes longer than
// timeout or ctx ends, the whole group is killed; whatever the run leaves
// behind in its group is killed too.
func runOne(ctx context.Context, path string, argv []string, timeout time.Duration) runResult {
	if ctx.Err() != nil {
		return runResult{cancelled: true}
	}
	fail := func(err error) runResult {
		return runResult{status: status{kind: startFailed, msg: err.Error()}}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return fail(err)
	}
	defer errR.Close()
	cmd := &exec.Cmd{Path: path, Args: argv, Stdout: outW, Stderr: errW,
		// Pdeathsig: if stress dies, its runs die with it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return fail(err)
	}
	var stdout, stderr capture
	var copying sync.WaitGroup
	copying.Go(func() { io.Copy(&stdout, outR) })
	copying.Go(func() { io.Copy(&stderr, errR) })

	pid := cmd.Process.Pid
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exited, killed := make(chan struct{}), make(chan bool, 1)
	go func() {
		select {
		case <-runCtx.Done():
			unix.Kill(-pid, unix.SIGKILL)
			killed <- true
		case <-exited:
			killed <- false
		}
	}()
	// Wait for the exit without reaping: while the leader is a zombie, its
	// pid (the group's id) cannot be reused, so killing the group below can
	// only hit what the run left behind.
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	close(exited)
	wasKilled := <-killed
	unix.Kill(-pid, unix.SIGKILL)
	cmd.Wait()
	// A process that left the group may hold the pipes open: do not wait
	// for it forever.
	deadline := time.Now().Add(time.Second)
	outR.SetReadDeadline(deadline)
	errR.SetReadDeadline(deadline)
	copying.Wait()

	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	sig := 0
	if ws.Signaled() {
		sig = int(ws.Signal())
	}
	byUs := wasKilled && sig == int(syscall.SIGKILL)
	return runResult{
		status:    classify(ws.ExitStatus(), sig, byUs && ctx.Err() == nil, timeout),
		stdout:    stdout.output(),
		stderr:    stderr.output(),
		cancelled: byUs && ctx.Err() != nil,
	}
}

// sweep runs seeds, jobs at a time, and returns the results of those that
// ran to the end, in seed order. report is called (on the caller's
// goroutine) as each run ends; with untilFail the first failure cancels the
// runs still going.
func sweep(ctx context.Context, seeds []uint64, jobs int, untilFail bool,
	run func(context.Context, uint64) runResult, isFailure func(runResult) bool,
	report func(runResult)) []runResult {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	results, ran := make([]runResult, len(seeds)), make([]bool, len(seeds))
	next, finished := make(chan int), make(chan int)
	var workers sync.WaitGroup
	for range min(jobs, len(seeds)) {
		workers.Go(func() {
			for i := range next {
				results[i] = run(ctx, seeds[i])
				finished <- i
			}
		})
	}
	// One goroutine hands out seeds and collects results, so that no run
	// starts once the failure that stops the sweep has been seen.
	sent, running := 0, 0
	for sent < len(seeds) && ctx.Err() == nil || running > 0 {
		var send chan int // nil: nothing more to hand out
		if sent < len(seeds) && ctx.Err() == nil {
			send = next
		}
		select {
		case send <- sent:
			sent++
			running++
		case i := <-finished:
			running--
			if results[i].cancelled {
				continue
			}
			ran[i] = true
			report(results[i])
			if untilFail && isFailure(results[i]) {
				stop()
			}
		}
	}
	close(next)
	workers.Wait()
	var out []runResult
	for i, r := range results {
		if ran[i] {
			out = append(out, r)
		}
	}
	return out
}

func stressCommand(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseStressArgs(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		printStressUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: stress: %v\n(see \"madvisor stress --help\")\n", err)
		return 2
	}
	path, _, err := resolve(cfg.argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: stress: %v\n", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: stress: cannot find the madvisor executable: %v\n", err)
		return 2
	}
	var expect *output
	if cfg.expectStdout != "" {
		b, err := os.ReadFile(cfg.expectStdout)
		if err != nil {
			fmt.Fprintf(stderr, "madvisor: stress: --expect-stdout: %v\n", err)
			return 2
		}
		o := outputOf(b)
		expect = &o
	}
	// Bazel's protocol: the file says that the test knows about sharding.
	if f := os.Getenv("TEST_SHARD_STATUS_FILE"); f != "" {
		if t, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE, 0o666); err == nil {
			t.Close()
		}
	}
	if cfg.shardFrom != "" {
		fmt.Fprintf(stderr, "madvisor: stress: shard %v (from %s): %d of the seeds %v\n", cfg.shard, cfg.shardFrom, len(cfg.seeds), &cfg.seedRange)
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	runSeed := func(ctx context.Context, seed uint64) runResult {
		argv := append([]string{"madvisor", "run", fmt.Sprintf("--seed=%d", seed), "--chaos", "--"}, cfg.argv...)
		r := runOne(ctx, exe, argv, cfg.timeout)
		r.seed = seed
		return r
	}
	isFailure := func(r runResult) bool { return failed(r, expect) }
	prog := &progress{w: stderr, tty: isTerminal(stderr), total: len(cfg.seeds), start: time.Now()}
	report := func(r runResult) { prog.add(isFailure(r)) }

	s := &summary{argv: cfg.argv, seedRange: cfg.seedRange, shard: cfg.shard, planned: len(cfg.seeds), expect: expect}
	stopAtFirst := false
	if len(cfg.seeds) > 0 {
		// The first seed alone: if it fails, learn whether PROGRAM fails
		// natively too before spending time on the others.
		first := runSeed(ctx, cfg.seeds[0])
		if !first.cancelled {
			s.results = append(s.results, first)
			report(first)
			if isFailure(first) {
				prog.clear()
				s.native = checkNative(ctx, path, cfg, first, expect)
				if s.native != nil {
					fmt.Fprintf(stderr, "madvisor: stress: %s\n", s.native.note(cfg.argv[0]))
				}
				stopAtFirst = cfg.untilFail
			}
		}
		if ctx.Err() == nil && !stopAtFirst {
			rest := sweep(ctx, cfg.seeds[1:], cfg.jobs, cfg.untilFail, runSeed, isFailure, report)
			s.results = append(s.results, rest...)
		}
	}
	prog.clear()
	s.elapsed = time.Since(prog.start)
	interrupted := ctx.Err() != nil
	nfailed := len(s.failures())
	switch {
	case interrupted:
		s.stopped = "interrupted"
		fmt.Fprintln(stderr, "madvisor: stress: interrupted: the running runs were killed")
	case cfg.untilFail && nfailed > 0 && len(s.results) < len(cfg.seeds):
		s.stopped = "stopped at the first failure (--until-fail)"
	}
	if cfg.json {
		writeSummary(stderr, s)
		if err := writeJSON(stdout, s); err != nil {
			fmt.Fprintf(stderr, "madvisor: stress: --json: %v\n", err)
		}
	} else {
		writeSummary(stdout, s)
	}
	switch {
	case nfailed > 0:
		return 1
	case interrupted:
		return 130
	}
	return 0
}

// checkNative runs PROGRAM once without madvisor after the first seed
// failed, to tell a schedule-dependent failure from one that happens anyway.
func checkNative(ctx context.Context, path string, cfg *stressConfig, first runResult, expect *output) *nativeCheck {
	r := runOne(ctx, path, cfg.argv, cfg.timeout)
	if r.cancelled {
		return nil
	}
	return &nativeCheck{
		seed:        first.seed,
		seedOutcome: outcome(first, expect, false),
		outcome:     outcome(r, expect, false),
		same:        failed(r, expect) && r.status == first.status,
	}
}
