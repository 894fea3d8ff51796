package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSeedRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    seedRange
		wantErr string
	}{
		{in: "1-100", want: seedRange{1, 100}},
		{in: "7", want: seedRange{7, 7}},
		{in: "5-5", want: seedRange{5, 5}},
		{in: "0x10-0x1f", want: seedRange{16, 31}},
		{in: "0-18446744073709551615", want: seedRange{0, math.MaxUint64}},
		{in: "", wantErr: "empty seed range"},
		{in: "5-3", wantErr: "reversed seed range 5-3: it holds no seed (did you mean 3-5?)"},
		{in: "a-b", wantErr: `"a" is not a seed`},
		{in: "1-x", wantErr: `"x" is not a seed`},
		{in: "-3", wantErr: `"" is not a seed`},
		{in: "1-2-3", wantErr: `"2-3" is not a seed`},
		{in: "1-18446744073709551616", wantErr: "is not a seed"},
	} {
		got, err := parseSeedRange(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "parseSeedRange(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "parseSeedRange(%q)", tc.in)
		assert.Equal(t, tc.want, got, "parseSeedRange(%q): got %v, want %v", tc.in, got, tc.want)
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want shard
		ok   bool
	}{
		{"0/1", shard{0, 1}, true},
		{"2/4", shard{2, 4}, true},
		{"4/4", shard{}, false},
		{"-1/4", shard{}, false},
		{"0/0", shard{}, false},
		{"1", shard{}, false},
		{"a/b", shard{}, false},
		{"", shard{}, false},
	} {
		got, err := parseShard(tc.in)
		if !tc.ok {
			assert.ErrorContains(t, err, "want I/K", "parseShard(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "parseShard(%q)", tc.in)
		assert.Equal(t, tc.want, got, "parseShard(%q)", tc.in)
	}
}

func TestResolveShard(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flag     string // --shard, if set
		count    int    // --shard-count
		env      map[string]string
		want     shard
		wantFrom string
		wantErr  string
	}{
		{name: "none", want: shard{0, 1}},
		{name: "flag", flag: "1/3", want: shard{1, 3}, wantFrom: "--shard"},
		{name: "flag wins over Bazel", flag: "1/3",
			env: map[string]string{"TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": "2"}, want: shard{1, 3}, wantFrom: "--shard"},
		{name: "flag and --shard-count", flag: "1/3", count: 3, wantErr: "--shard=I/K already gives the count"},
		{name: "Bazel", env: map[string]string{"TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": "2"},
			want: shard{2, 4}, wantFrom: "Bazel's TEST_SHARD_INDEX/TEST_TOTAL_SHARDS"},
		{name: "Bazel without index", env: map[string]string{"TEST_TOTAL_SHARDS": "4"},
			wantErr: `TEST_SHARD_INDEX="", TEST_TOTAL_SHARDS="4"`},
		{name: "Bazel index out of range", env: map[string]string{"TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": "4"},
			wantErr: "Bazel sharding"},
		{name: "Kubernetes with --shard-count", count: 5, env: map[string]string{"JOB_COMPLETION_INDEX": "3"},
			want: shard{3, 5}, wantFrom: "Kubernetes' JOB_COMPLETION_INDEX"},
		{name: "Kubernetes with env count", env: map[string]string{"JOB_COMPLETION_INDEX": "0", "MADVISOR_STRESS_SHARDS": "2"},
			want: shard{0, 2}, wantFrom: "Kubernetes' JOB_COMPLETION_INDEX"},
		{name: "--shard-count wins over env", count: 8, env: map[string]string{"JOB_COMPLETION_INDEX": "7", "MADVISOR_STRESS_SHARDS": "2"},
			want: shard{7, 8}, wantFrom: "Kubernetes' JOB_COMPLETION_INDEX"},
		{name: "Kubernetes without count", env: map[string]string{"JOB_COMPLETION_INDEX": "3"},
			wantErr: "pass --shard-count=K"},
		{name: "Kubernetes index too big", env: map[string]string{"JOB_COMPLETION_INDEX": "3", "MADVISOR_STRESS_SHARDS": "3"},
			wantErr: `JOB_COMPLETION_INDEX="3", MADVISOR_STRESS_SHARDS="3"`},
		{name: "--shard-count alone", count: 3, wantErr: "--shard-count needs JOB_COMPLETION_INDEX"},
		{name: "shard count env alone is ignored", env: map[string]string{"MADVISOR_STRESS_SHARDS": "3"}, want: shard{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f shardFlag
			if tc.flag != "" {
				require.NoError(t, f.Set(tc.flag))
			}
			got, from, err := resolveShard(f, tc.count, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "shard")
			assert.Equal(t, tc.wantFrom, from, "from")
		})
	}
}

func TestShardSeeds(t *testing.T) {
	for _, tc := range []struct {
		r    seedRange
		s    shard
		want []uint64
	}{
		{seedRange{1, 5}, shard{0, 1}, []uint64{1, 2, 3, 4, 5}},
		{seedRange{1, 10}, shard{0, 3}, []uint64{1, 4, 7, 10}},
		{seedRange{1, 10}, shard{2, 3}, []uint64{3, 6, 9}},
		{seedRange{100, 101}, shard{3, 4}, nil},
		{seedRange{7, 7}, shard{0, 2}, []uint64{7}},
		{seedRange{math.MaxUint64 - 2, math.MaxUint64}, shard{1, 2}, []uint64{math.MaxUint64 - 1}},
	} {
		got, err := shardSeeds(tc.r, tc.s)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "shardSeeds(%v, %v)", &tc.r, tc.s)
	}
	// Every seed of the range is on exactly one shard.
	var all []uint64
	for i := range 4 {
		got, err := shardSeeds(seedRange{1, 9}, shard{i, 4})
		require.NoError(t, err)
		all = append(all, got...)
	}
	assert.ElementsMatch(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, all)

	_, err := shardSeeds(seedRange{0, math.MaxUint64}, shard{0, 1})
	assert.ErrorContains(t, err, "narrow --seeds or shard the range")
}

func TestParseStressArgs(t *testing.T) {
	noenv := func(string) string { return "" }
	c, err := parseStressArgs([]string{"--", "sh", "-c", "exit 3"}, noenv)
	require.NoError(t, err)
	assert.Equal(t, seedRange{1, 100}, c.seedRange, "default seeds")
	assert.Len(t, c.seeds, 100)
	assert.Equal(t, 60*time.Second, c.timeout, "default timeout")
	assert.GreaterOrEqual(t, c.jobs, 1, "default jobs")
	assert.Equal(t, []string{"sh", "-c", "exit 3"}, c.argv)

	c, err = parseStressArgs([]string{"--seeds=10-19", "--jobs=3", "--until-fail", "--timeout=2s",
		"--expect-stdout=f", "--shard=1/2", "--json", "prog", "--seeds=x"}, noenv)
	require.NoError(t, err)
	assert.Equal(t, []uint64{11, 13, 15, 17, 19}, c.seeds)
	assert.Equal(t, 3, c.jobs)
	assert.True(t, c.untilFail)
	assert.Equal(t, 2*time.Second, c.timeout)
	assert.Equal(t, "f", c.expectStdout)
	assert.True(t, c.json)
	assert.Equal(t, []string{"prog", "--seeds=x"}, c.argv, "flags after the program are its own")

	_, err = parseStressArgs([]string{"--help"}, noenv)
	assert.ErrorIs(t, err, flag.ErrHelp)

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--seeds=5-3", "--", "true"}, `invalid value "5-3" for flag -seeds: reversed seed range`},
		{[]string{"--seeds=", "--", "true"}, "empty seed range"},
		{[]string{"--seeds=one-two", "--", "true"}, `"one" is not a seed`},
		{[]string{"--jobs=0", "--", "true"}, "--jobs=0: want at least 1"},
		{[]string{"--jobs=x", "--", "true"}, `invalid value "x" for flag -jobs`},
		{[]string{"--timeout=0s", "--", "true"}, "want a positive duration"},
		{[]string{"--shard=2/2", "--", "true"}, "bad shard"},
		{[]string{"--shard-count=2", "--", "true"}, "--shard-count needs JOB_COMPLETION_INDEX"},
		{[]string{"--bogus", "--", "true"}, "flag provided but not defined: -bogus"},
		{[]string{"--seeds=1-3"}, "no program given"},
		{[]string{"--"}, "no program given"},
	} {
		_, err := parseStressArgs(tc.args, noenv)
		assert.ErrorContains(t, err, tc.wantErr, "parseStressArgs(%q)", tc.args)
	}
}

func TestStressCommandUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"stress", "--seeds=5-3", "--", "true"}, &stdout, &stderr)
	assert.Equal(t, 2, code, "exit status of a bad --seeds")
	assert.Contains(t, stderr.String(), "madvisor: stress: invalid value \"5-3\" for flag -seeds: reversed seed range 5-3")
	assert.Empty(t, stdout.String())

	stdout.Reset()
	stderr.Reset()
	code = realMain([]string{"stress", "--", "no-such-program-here"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "not found in PATH")

	for _, args := range [][]string{{"stress", "--help"}, {"help", "stress"}} {
		stdout.Reset()
		assert.Equal(t, 0, realMain(args, &stdout, &stderr), "%q", args)
		for _, want := range []string{"Usage: madvisor stress", "-seeds A-B", "-jobs J", "-until-fail", "-timeout D",
			"-expect-stdout FILE", "-shard I/K", "-shard-count K", "-json", "TEST_TOTAL_SHARDS", "JOB_COMPLETION_INDEX",
			"MADVISOR_STRESS_SHARDS", "TEST_SHARD_STATUS_FILE", "Exit status"} {
			assert.Contains(t, stdout.String(), want, "%q", args)
		}
	}
	stdout.Reset()
	realMain([]string{"help"}, &stdout, &stderr)
	assert.Contains(t, stdout.String(), "madvisor stress [flags] -- PROGRAM [ARGS...]")
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code, sig int
		timedOut  bool
		want      string
	}{
		{0, 0, false, "exit 0"},
		{3, 0, false, "exit 3"},
		{128, 0, false, "exit 128"},
		{139, 0, false, "killed by SIGSEGV"}, // madvisor's 128+N
		{137, 0, false, "killed by SIGKILL"},
		{200, 0, false, "exit 200"},
		{-1, int(syscall.SIGABRT), false, "killed by SIGABRT"}, // madvisor itself killed
		{-1, int(syscall.SIGKILL), true, "timeout after 200ms"},
		{-1, int(syscall.SIGKILL), false, "killed by SIGKILL"},
		{0, 0, true, "exit 0"}, // it exited before our kill landed
		{-1, 64, false, "killed by signal 64"},
	} {
		got := classify(tc.code, tc.sig, tc.timedOut, 200*time.Millisecond).String()
		assert.Equal(t, tc.want, got, "classify(%d, %d, %v)", tc.code, tc.sig, tc.timedOut)
	}
}

func TestFailedAndOutcome(t *testing.T) {
	hello, bye := outputOf([]byte("hello\n")), outputOf([]byte("bye\n"))
	ok := status{kind: exited}
	for _, tc := range []struct {
		name        string
		r           runResult
		expect      *output
		showDigest  bool
		wantFailed  bool
		wantOutcome string
	}{
		{"exit 0", runResult{status: ok, stdout: hello}, nil, false, false, "exit 0"},
		{"exit 3", runResult{status: status{kind: exited, code: 3}}, nil, false, true, "exit 3"},
		{"signal", runResult{status: status{kind: signaled, code: 11}}, nil, false, true, "killed by SIGSEGV"},
		{"timeout", runResult{status: status{kind: timedOut, msg: "1s"}, stdout: hello}, &hello, true, true, "timeout after 1s"},
		{"start", runResult{status: status{kind: startFailed, msg: "no"}}, nil, false, true, "could not start: no"},
		{"expected", runResult{status: ok, stdout: hello}, &hello, false, false, "exit 0, stdout as expected"},
		{"unexpected", runResult{status: ok, stdout: bye}, &hello, false, true, "exit 0, stdout differs: 4 bytes, sha256 abc6fd59"},
		{"digest", runResult{status: ok, stdout: bye}, nil, true, false, "exit 0, stdout 4 bytes, sha256 abc6fd59"},
	} {
		assert.Equal(t, tc.wantFailed, failed(tc.r, tc.expect), "%s: failed", tc.name)
		assert.Equal(t, tc.wantOutcome, outcome(tc.r, tc.expect, tc.showDigest), "%s: outcome", tc.name)
	}
}

func TestCapture(t *testing.T) {
	var c capture
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*captureLimit/16)
	for i := 0; i < len(big); i += 1000 {
		c.Write(big[i:min(i+1000, len(big))])
	}
	got := c.output()
	assert.Equal(t, int64(len(big)), got.n, "count")
	assert.Equal(t, big[len(big)-captureLimit:], got.tail, "tail")
	assert.True(t, got.same(outputOf(big)), "the hash covers everything written")
	assert.LessOrEqual(t, cap(c.buf), 5*captureLimit, "memory stays bounded")
}

func exit3Summary() *summary {
	argv := []string{"sh", "-c", "exit 3"}
	s := &summary{argv: argv, seedRange: seedRange{1, 3}, shard: shard{0, 1}, planned: 3, elapsed: 20 * time.Millisecond}
	for seed := uint64(1); seed <= 3; seed++ {
		s.results = append(s.results, runResult{seed: seed, status: status{kind: exited, code: 3},
			stderr: outputOf([]byte("one\ntwo\nboom\n"))})
	}
	s.native = &nativeCheck{seed: 1, seedOutcome: "exit 3", outcome: "exit 3", same: true}
	return s
}

func TestWriteSummary(t *testing.T) {
	var b strings.Builder
	writeSummary(&b, exit3Summary())
	want := `madvisor stress: 3 of 3 seeds run (seeds 1-3), 3 failed, in 20ms
  RESULT  RUNS  OUTCOME  SEEDS
  FAIL    3     exit 3   1 2 3
seed 1 (exit 3), end of stderr:
  | one
  | two
  | boom
note: sh fails natively too (exit 3): the failure is not a schedule-dependent race; every seed failed the same way
replay a failing seed with:
  madvisor run --seed=1 --chaos -- sh -c 'exit 3'
  madvisor run --seed=2 --chaos -- sh -c 'exit 3'
  madvisor run --seed=3 --chaos -- sh -c 'exit 3'
`
	assert.Equal(t, want, b.String())
}

func TestWriteSummaryMixed(t *testing.T) {
	a, c := outputOf([]byte("a\n")), outputOf([]byte("c\n"))
	s := &summary{argv: []string{"./racy"}, seedRange: seedRange{1, 40}, shard: shard{1, 4}, planned: 10,
		elapsed: 1500 * time.Millisecond, stopped: "stopped at the first failure (--until-fail)"}
	for seed := uint64(2); seed <= 14; seed += 4 {
		s.results = append(s.results, runResult{seed: seed, stdout: a})
	}
	s.results = append(s.results, runResult{seed: 18, stdout: c, status: status{kind: signaled, code: 6}})
	var b strings.Builder
	writeSummary(&b, s)
	want := `madvisor stress: 5 of 10 seeds run (seeds 1-40, shard 1/4), 1 failed, in 1.5s; stopped at the first failure (--until-fail)
  RESULT  RUNS  OUTCOME                                     SEEDS
  ok      4     exit 0, stdout 2 bytes, sha256 87428fc5     2 6 10 14
  FAIL    1     killed by SIGABRT, stdout 2 bytes, sha256 a3a5e715  18
replay a failing seed with:
  madvisor run --seed=18 --chaos -- ./racy
`
	// tabwriter aligns the columns; compare the words of each line.
	gotLines, wantLines := strings.Split(b.String(), "\n"), strings.Split(want, "\n")
	require.Len(t, gotLines, len(wantLines), "got:\n%s", b.String())
	for i := range wantLines {
		assert.Equal(t, strings.Fields(wantLines[i]), strings.Fields(gotLines[i]), "line %d", i)
	}
}

func TestExampleSeeds(t *testing.T) {
	assert.Equal(t, "1 2 3", exampleSeeds([]uint64{1, 2, 3}, 10))
	assert.Equal(t, "1 2 (+3 more)", exampleSeeds([]uint64{1, 2, 3, 4, 5}, 2))
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeJSON(&b, exit3Summary()))
	var got jsonSummary
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	want := jsonSummary{
		Program: []string{"sh", "-c", "exit 3"}, Seeds: "1-3", Shard: "0/1",
		SeedsPlanned: 3, SeedsRun: 3, SeedsFailed: 3,
		Outcomes: []jsonOutcome{{Outcome: "exit 3", Failing: true, Count: 3, ExampleSeeds: []uint64{1, 2, 3}}},
		Failures: []jsonFailure{
			{1, "exit 3", "madvisor run --seed=1 --chaos -- sh -c 'exit 3'"},
			{2, "exit 3", "madvisor run --seed=2 --chaos -- sh -c 'exit 3'"},
			{3, "exit 3", "madvisor run --seed=3 --chaos -- sh -c 'exit 3'"},
		},
		Native:         &jsonNative{Seed: 1, Outcome: "exit 3", FailsNativelyToo: true},
		ElapsedSeconds: 0.02,
	}
	assert.Equal(t, want, got)

	// No run at all: empty lists, not null, for CI scripts.
	b.Reset()
	require.NoError(t, writeJSON(&b, &summary{argv: []string{"true"}, seedRange: seedRange{1, 2}, shard: shard{0, 1}}))
	assert.Contains(t, b.String(), `"outcomes": []`)
	assert.Contains(t, b.String(), `"failures": []`)
}

func TestSweep(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	isFailure := func(r runResult) bool { return failed(r, nil) }
	// Seed 3 fails at once; the others take a while unless cancelled.
	run := func(ctx context.Context, seed uint64) runResult {
		if seed == 3 {
			return runResult{seed: seed, status: status{kind: exited, code: 1}}
		}
		select {
		case <-ctx.Done():
			return runResult{seed: seed, cancelled: true}
		case <-time.After(time.Duration(seed) * 5 * time.Millisecond):
			return runResult{seed: seed}
		}
	}
	for _, tc := range []struct {
		jobs      int
		untilFail bool
		want      []uint64
	}{
		{jobs: 1, want: []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
		{jobs: 3, want: []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
		{jobs: 20, want: []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
		{jobs: 1, untilFail: true, want: []uint64{1, 2, 3}},
	} {
		var reported int
		got := sweep(context.Background(), seeds, tc.jobs, tc.untilFail, run, isFailure, func(runResult) { reported++ })
		var gotSeeds []uint64
		for _, r := range got {
			gotSeeds = append(gotSeeds, r.seed)
		}
		assert.Equal(t, tc.want, gotSeeds, "jobs=%d until-fail=%v", tc.jobs, tc.untilFail)
		assert.Equal(t, len(got), reported, "reported runs")
	}
	// In parallel, --until-fail kills the runs still going: here all but
	// the failing one, which never end by themselves.
	hang := func(ctx context.Context, seed uint64) runResult {
		if seed == 3 {
			return runResult{seed: seed, status: status{kind: exited, code: 1}}
		}
		<-ctx.Done()
		return runResult{seed: seed, cancelled: true}
	}
	got := sweep(context.Background(), seeds, 3, true, hang, isFailure, func(runResult) {})
	require.Len(t, got, 1)
	assert.Equal(t, uint64(3), got[0].seed)
}

func TestProgressText(t *testing.T) {
	assert.Equal(t, "0/10 seeds, 0 failed, - seeds/min, ETA -", progressText(0, 10, 0, 0))
	assert.Equal(t, "5/10 seeds, 1 failed, 10 seeds/min, ETA 30s", progressText(5, 10, 1, 30*time.Second))
	assert.Equal(t, "[#####.....]", progressBar(5, 10, 10))

	var b strings.Builder
	p := &progress{w: &b, total: 20, start: time.Now()}
	for i := range 20 {
		p.add(i == 4)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Len(t, lines, 10, "a line every 10%% when not on a terminal, got:\n%s", b.String())
	assert.True(t, strings.HasPrefix(lines[9], "madvisor: stress: 20/20 seeds, 1 failed"), "got %q", lines[9])
}

// TestStressEndToEnd builds madvisor and runs "madvisor stress" on tiny
// programs.
func TestStressEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds madvisor")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build madvisor with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "madvisor")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	// hang is a program that blocks for real, whatever madvisor does with
	// time (deterministic mode's sleep ends in virtual time): cat opening a
	// FIFO that nobody writes. Its unique path marks every process of the run.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	hang := []string{"sh", "-c", "cat " + fifo}
	stress := func(t *testing.T, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		// A hung sweep fails the test instead of blocking it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"stress"}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), ee.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}

	t.Run("all pass", func(t *testing.T) {
		stdout, stderr, code := stress(t, "--seeds=1-4", "--jobs=2", "--", "/bin/true")
		assert.Equal(t, 0, code, "stderr: %s", stderr)
		assert.Contains(t, stdout, "4 of 4 seeds run (seeds 1-4), none failed")
		assert.Regexp(t, `ok +4 +exit 0 +1 2 3 4`, stdout)
		assert.NotContains(t, stdout, "replay")
		assert.Contains(t, stderr, "madvisor: stress: 4/4 seeds, 0 failed", "plain progress lines")
	})

	t.Run("all fail", func(t *testing.T) {
		stdout, stderr, code := stress(t, "--seeds=1-3", "--", "sh", "-c", "exit 3")
		assert.Equal(t, 1, code, "stderr: %s", stderr)
		assert.Regexp(t, `FAIL +3 +exit 3 +1 2 3`, stdout)
		for seed := 1; seed <= 3; seed++ {
			assert.Contains(t, stdout, fmt.Sprintf("madvisor run --seed=%d --chaos -- sh -c 'exit 3'\n", seed))
		}
		note := "sh fails natively too (exit 3): the failure is not a schedule-dependent race"
		assert.Contains(t, stderr, note)
		assert.Contains(t, stdout, "note: "+note+"; every seed failed the same way")
	})

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		args := append([]string{"--seeds=1-2", "--jobs=2", "--timeout=200ms", "--"}, hang...)
		stdout, stderr, code := stress(t, args...)
		assert.Less(t, time.Since(start), 10*time.Second, "the runs were killed")
		assert.Equal(t, 1, code, "stderr: %s", stderr)
		assert.Regexp(t, `FAIL +2 +timeout after 200ms +1 2`, stdout)
		assert.Contains(t, stdout, "note: sh fails natively too (timeout after 200ms)")
		assert.Empty(t, processesMentioning(fifo), "processes left behind (madvisor run, sh or cat)")
	})

	t.Run("expect stdout", func(t *testing.T) {
		want := filepath.Join(dir, "want")
		require.NoError(t, os.WriteFile(want, []byte("hello\n"), 0o644))
		stdout, stderr, code := stress(t, "--seeds=1-2", "--expect-stdout="+want, "--", "echo", "hello")
		assert.Equal(t, 0, code, "stderr: %s", stderr)
		assert.Regexp(t, `ok +2 +exit 0, stdout as expected +1 2`, stdout)

		stdout, stderr, code = stress(t, "--seeds=1-2", "--expect-stdout="+want, "--", "echo", "bye")
		assert.Equal(t, 1, code, "stderr: %s", stderr)
		assert.Regexp(t, `FAIL +2 +exit 0, stdout differs: 4 bytes, sha256 [0-9a-f]{8} +1 2`, stdout)
	})

	t.Run("until fail", func(t *testing.T) {
		// The third run fails: the runs count themselves in a file.
		count := filepath.Join(dir, "count")
		prog := fmt.Sprintf(`echo x >> %s; n=0; while read l; do n=$((n+1)); done < %s; [ $n -lt 3 ]`, count, count)
		stdout, stderr, code := stress(t, "--seeds=1-6", "--jobs=1", "--until-fail", "--timeout=20s", "--", "sh", "-c", prog)
		assert.Equal(t, 1, code, "stderr: %s", stderr)
		assert.Contains(t, stdout, "3 of 6 seeds run (seeds 1-6), 1 failed")
		assert.Contains(t, stdout, "stopped at the first failure (--until-fail)")
		assert.Regexp(t, `FAIL +1 +exit 1 +3\n`, stdout)
		assert.Contains(t, stdout, "madvisor run --seed=3 --chaos -- sh -c")
		assert.NotContains(t, stdout, "--seed=4")
		b, err := os.ReadFile(count)
		require.NoError(t, err)
		assert.Equal(t, 3, strings.Count(string(b), "x"), "runs made")
	})

	t.Run("json", func(t *testing.T) {
		stdout, stderr, code := stress(t, "--seeds=1-4", "--shard=1/2", "--json", "--", "sh", "-c", "exit 3")
		assert.Equal(t, 1, code, "stderr: %s", stderr)
		var got jsonSummary
		require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout: %s", stdout)
		assert.Equal(t, "1/2", got.Shard)
		assert.Equal(t, 2, got.SeedsRun)
		assert.Equal(t, 2, got.SeedsFailed)
		require.Len(t, got.Failures, 2)
		assert.Equal(t, jsonFailure{2, "exit 3", "madvisor run --seed=2 --chaos -- sh -c 'exit 3'"}, got.Failures[0])
		assert.Equal(t, uint64(4), got.Failures[1].Seed)
		require.NotNil(t, got.Native)
		assert.True(t, got.Native.FailsNativelyToo)
		assert.Contains(t, stderr, "madvisor stress: 2 of 2 seeds run", "the text summary goes to stderr")
	})

	t.Run("Bazel sharding", func(t *testing.T) {
		status := filepath.Join(dir, "shard-status")
		cmd := exec.Command(bin, "stress", "--seeds=1-4", "--", "/bin/true")
		cmd.Env = append(os.Environ(), "TEST_TOTAL_SHARDS=2", "TEST_SHARD_INDEX=0", "TEST_SHARD_STATUS_FILE="+status)
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "2 of 2 seeds run (seeds 1-4, shard 0/2)")
		assert.Regexp(t, `ok +2 +exit 0 +1 3`, string(out))
		assert.FileExists(t, status, "TEST_SHARD_STATUS_FILE is touched")
	})

	t.Run("interrupt", func(t *testing.T) {
		cmd := exec.Command(bin, append([]string{"stress", "--seeds=1-4", "--jobs=2", "--"}, hang...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		require.NoError(t, cmd.Start())
		exited := false
		t.Cleanup(func() {
			if !exited {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		// The first run has started once its "madvisor run" process exists.
		self := strconv.Itoa(cmd.Process.Pid)
		require.Eventually(t, func() bool {
			return len(slices.DeleteFunc(processesMentioning(fifo), func(p string) bool { return p == self })) > 0
		},
			10*time.Second, 10*time.Millisecond, "the first run starts")
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		err := cmd.Wait()
		exited = true
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "stderr: %s", e.String())
		assert.Equal(t, 130, ee.ExitCode())
		assert.Contains(t, o.String(), "0 of 4 seeds run (seeds 1-4), none failed")
		assert.Contains(t, o.String(), "interrupted")
		assert.Empty(t, processesMentioning(fifo), "processes left behind (madvisor run, sh or cat)")
	})
}

// processesMentioning lists the pids of the processes that have s in their
// command line.
func processesMentioning(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
