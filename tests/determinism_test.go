package tests

// Deterministic mode end to end: the racy programs of testdata/race show
// their race natively, replay byte for byte under `madvisor run --seed=N`
// (with and without --chaos, trace included), see per-seed time and
// randomness, and `madvisor stress` finds their races and prints a replay
// command that fails again every time.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raceProgram is a program of testdata/race.
type raceProgram struct {
	// file is its source in testdata/race (.c, .go or .py).
	file string
	// racy programs exit 1 when their race bit and 0 otherwise; the others
	// always exit 0.
	racy bool
}

var racePrograms = []raceProgram{
	{"counter.c", true},
	{"dontneed_writer.c", true},
	{"guard_populate.c", true},
	{"use_after_munmap.c", true},
	{"race.go", true},
	{"threads.py", true},
	{"fork_pipe.c", false},
	{"entropy.c", false},
}

const (
	// nativeRuns bounds the native runs that must show a race.
	nativeRuns    = 20
	nativeTimeout = 30 * time.Second
	// detTimeout bounds one deterministic run (one thread at a time, every
	// syscall intercepted: much slower than native).
	detTimeout = 3 * time.Minute
	// detSeed is the seed of the replay tests.
	detSeed = "7"
	// stressTimeout bounds a whole `madvisor stress` sweep.
	stressTimeout = 15 * time.Minute
)

var (
	raceBuildMu sync.Mutex
	raceBuilt   = map[string]string{}
)

// raceArgv builds testdata/race/FILE once per test binary and returns the
// command line that runs it.
func raceArgv(t *testing.T, file string) []string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "race", file))
	require.NoError(t, err)
	name := strings.TrimSuffix(file, filepath.Ext(file))
	// The binaries go to workDir/race (cProgram's: NAME_dynamic).
	require.NoError(t, os.MkdirAll(filepath.Join(workDir, "race"), 0o755))
	switch filepath.Ext(file) {
	case ".c":
		return []string{cProgram(t, "race/"+name, false)}
	case ".py":
		return []string{python3(t), src}
	case ".go":
		raceBuildMu.Lock()
		defer raceBuildMu.Unlock()
		if bin, ok := raceBuilt[file]; ok {
			return []string{bin}
		}
		goBin, err := exec.LookPath("go")
		require.NoError(t, err, "the race programs include a Go program built with go build")
		bin := filepath.Join(workDir, "race", name+"_go")
		build := exec.Command(goBin, "build", "-o", bin, src)
		build.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		require.NoError(t, err, "go build -o %s %s:\n%s", bin, src, out)
		raceBuilt[file] = bin
		return []string{bin}
	}
	t.Fatalf("testdata/race/%s: no rule to build it", file)
	return nil
}

// wantStatuses are the exit statuses a run of p may have: 2 and above are
// a broken program (or madvisor failing), never the race.
func (p raceProgram) wantStatuses() []int {
	if p.racy {
		return []int{0, 1}
	}
	return []int{0}
}

// checkRaceRun requires that r is a proper run of p: not killed, an
// allowed exit status, one line of output (entropy: one per source).
func checkRaceRun(t *testing.T, p raceProgram, what string, r result) {
	t.Helper()
	require.False(t, r.Signaled, "%s of %s: killed by a signal\n%s", what, p.file, r)
	require.Contains(t, p.wantStatuses(), r.Status, "%s of %s: got exit status %d, want one of %v\n%s",
		what, p.file, r.Status, p.wantStatuses(), r)
	require.NotEmpty(t, strings.TrimSpace(r.Stdout), "%s of %s: no output\n%s", what, p.file, r)
	if p.file != "entropy.c" {
		require.Equal(t, 1, strings.Count(r.Stdout, "\n"), "%s of %s: got %q, want one line\n%s", what, p.file, r.Stdout, r)
	}
}

// TestRacesVaryNatively: natively each racy program shows its race within
// nativeRuns runs: a failure, or two different outputs.
func TestRacesVaryNatively(t *testing.T) {
	for _, p := range racePrograms {
		if !p.racy {
			continue
		}
		t.Run(p.file, func(t *testing.T) {
			argv := raceArgv(t, p.file)
			var outputs []string
			for run := 1; run <= nativeRuns; run++ {
				r := runProgram(t, runOpts{Timeout: nativeTimeout}, argv...)
				checkRaceRun(t, p, fmt.Sprintf("native run %d", run), r)
				out := strings.TrimSpace(r.Stdout)
				if r.Status == 1 {
					t.Logf("race showed on native run %d: it failed: %s", run, out)
					return
				}
				if !slices.Contains(outputs, out) {
					outputs = append(outputs, out)
				}
				if len(outputs) >= 2 {
					t.Logf("race showed on native run %d: outputs differ: %q", run, outputs)
					return
				}
			}
			t.Errorf("got the same output in all %d native runs and no failure, want the race to show: %q", nativeRuns, outputs)
		})
	}
}

// detRun runs argv under `madvisor run FLAGS --trace=TRACE --` and returns
// the result and the trace.
func detRun(t *testing.T, p raceProgram, argv, flags []string, trace string) (result, []byte) {
	t.Helper()
	flags = append(slices.Clone(flags), "--trace="+trace)
	r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: flags, Timeout: detTimeout}, argv...)
	what := fmt.Sprintf("madvisor run %s", strings.Join(flags, " "))
	checkRaceRun(t, p, what, r)
	// madvisor says when a watchdog preemption made the run
	// non-deterministic ("determinism lost"); none of these small programs
	// may need one.
	assert.NotContains(t, r.Stderr, "determinism lost", "%s of %s: the run was marked non-deterministic\n%s", what, p.file, r)
	data, err := os.ReadFile(trace)
	require.NoError(t, err, "%s of %s: the trace file", what, p.file)
	return r, data
}

// TestDeterministicReplay: with the same seed, three runs of each program
// give byte-identical stdout, stderr, exit status and trace, with and
// without --chaos.
func TestDeterministicReplay(t *testing.T) {
	modes := []struct {
		name  string
		flags []string
	}{
		{"seed", []string{"--seed=" + detSeed}},
		{"chaos", []string{"--seed=" + detSeed, "--chaos"}},
	}
	for _, p := range racePrograms {
		t.Run(p.file, func(t *testing.T) {
			argv := raceArgv(t, p.file)
			// Precondition: the program works natively.
			checkRaceRun(t, p, "native run", runProgram(t, runOpts{Timeout: nativeTimeout}, argv...))
			for _, mode := range modes {
				t.Run(mode.name, func(t *testing.T) {
					dir := t.TempDir()
					first, firstTrace := detRun(t, p, argv, mode.flags, filepath.Join(dir, "trace0.jsonl"))
					t.Logf("madvisor run %s: %s (%v)", strings.Join(mode.flags, " "),
						strings.TrimSpace(firstLine(first.Stdout)), first.Duration.Round(time.Millisecond))
					require.NotEmpty(t, firstTrace, "--trace wrote nothing")
					for i, line := range splitLines(string(firstTrace)) {
						require.True(t, json.Valid([]byte(line)), "--trace line %d: got %q, want one JSON object per event", i+1, line)
					}
					for rep := 1; rep < 3; rep++ {
						r, trace := detRun(t, p, argv, mode.flags, filepath.Join(dir, fmt.Sprintf("trace%d.jsonl", rep)))
						assert.Equal(t, first.Status, r.Status, "repeat %d: exit status (want: the first run's)", rep)
						assert.Equal(t, first.Stdout, r.Stdout, "repeat %d: stdout (want: the first run's)", rep)
						assert.Equal(t, first.Stderr, r.Stderr, "repeat %d: stderr (want: the first run's)", rep)
						if d := firstDifference(string(firstTrace), string(trace)); d != "" {
							t.Errorf("repeat %d: the trace differs from the first run's: %s", rep, d)
						}
					}
				})
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// firstDifference describes the first line where got differs from want
// (traces are too long for lineDiff), or returns "" when they are equal.
func firstDifference(want, got string) string {
	if want == got {
		return ""
	}
	a, b := splitLines(want), splitLines(got)
	for i := 0; ; i++ {
		switch {
		case i >= len(a):
			return fmt.Sprintf("line %d: got %q, want the end (%d lines)", i+1, b[i], len(a))
		case i >= len(b):
			return fmt.Sprintf("line %d: got the end (%d lines), want %q", i+1, len(b), a[i])
		case a[i] != b[i]:
			return fmt.Sprintf("line %d: got %q, want %q", i+1, b[i], a[i])
		}
	}
}

// entropyRandom and entropyTime are entropy.c's lines of random bytes and
// of time.
var (
	entropyRandom = []string{"getrandom", "urandom", "at_random"}
	entropyTime   = []string{"clock_realtime", "clock_monotonic", "gettimeofday", "time", "rdtsc"}
	entropyOther  = []string{"malloc", "stack", "cpus", "nprocs", "cpu", "rdrand"}
	// entropyIDs are the pids and tids: the same for the same seed where
	// madvisor can make a PID namespace (it says when not).
	entropyIDs = []string{"pid", "tid", "thread_tid", "child_pid"}
)

// parseEntropy splits entropy.c's "name: value" lines.
func parseEntropy(t *testing.T, r result) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, line := range splitLines(r.Stdout) {
		name, value, ok := strings.Cut(line, ": ")
		require.True(t, ok, "entropy.c line %q: want \"name: value\"", line)
		values[name] = value
	}
	for _, name := range slices.Concat(entropyRandom, entropyTime, entropyOther, entropyIDs) {
		require.Contains(t, values, name, "entropy.c output\n%s", r)
	}
	return values
}

// TestEntropyPerSeed: time, randomness, addresses and the CPU count are
// the same for the same seed (one CPU, CPU 0); the random bytes change
// with the seed.
func TestEntropyPerSeed(t *testing.T) {
	p := raceProgram{file: "entropy.c"}
	argv := raceArgv(t, p.file)
	native := runProgram(t, runOpts{Timeout: nativeTimeout}, argv...)
	checkRaceRun(t, p, "native run", native)
	parseEntropy(t, native)

	run := func(seed string) map[string]string {
		r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--seed=" + seed}, Timeout: detTimeout}, argv...)
		checkRaceRun(t, p, "madvisor run --seed="+seed, r)
		return parseEntropy(t, r)
	}
	a, again, b := run("1"), run("1"), run("2")
	for _, name := range entropyTime {
		assert.Equal(t, a[name], again[name], "%s (time): seed 1 twice", name)
	}
	for _, name := range slices.Concat(entropyRandom, entropyOther, entropyIDs) {
		assert.Equal(t, a[name], again[name], "%s: seed 1 twice", name)
	}
	for _, name := range entropyRandom {
		assert.NotEqual(t, a[name], b[name], "%s: got the same bytes for seeds 1 and 2, want bytes drawn from the seed", name)
	}
	for name, want := range map[string]string{"cpus": "1", "nprocs": "1", "cpu": "0"} {
		assert.Equal(t, want, a[name], "%s: deterministic mode shows one CPU, CPU 0", name)
	}
	// The program is pid 100 of its PID namespace; its thread and its
	// child take the next ids.
	for name, want := range map[string]string{"pid": "100", "tid": "100", "thread_tid": "101", "child_pid": "102"} {
		assert.Equal(t, want, a[name], "%s: the id in the program's PID namespace", name)
	}
	if cpuinfo, err := os.ReadFile("/proc/cpuinfo"); err == nil && strings.Contains(string(cpuinfo), " cpuid_fault") {
		assert.Equal(t, "0", a["rdrand"], "CPUID shows RDRAND in deterministic mode (the host has CPUID faulting)")
	}
}

// replayRE finds the replay command that `madvisor stress` prints for a
// failing seed (the binary may be named by its path).
var replayRE = regexp.MustCompile(`(?m)\bmadvisor run --seed=(\d+) --chaos -- (.+?)\s*$`)

// shellWords splits a command line quoted for a POSIX shell the way
// madvisor quotes it: bare words, and single-quoted words in which a quote
// is written as quote, backslash, quote, quote.
func shellWords(s string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			word.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(s):
			i++
			word.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// TestStressFindsRaces: a chaos sweep over seeds 1-100 finds each racy
// program's race, exits 1 and prints the command that replays the failing
// seed; that command fails three times out of three with the same output.
func TestStressFindsRaces(t *testing.T) {
	for _, p := range racePrograms {
		if !p.racy {
			continue
		}
		t.Run(p.file, func(t *testing.T) {
			argv := raceArgv(t, p.file)
			stress := append([]string{madvisorBin, "stress", "--seeds=1-100", "--until-fail", "--timeout=2m", "--"}, argv...)
			r := runProgram(t, runOpts{Timeout: stressTimeout}, stress...)
			require.False(t, r.Signaled, "madvisor stress: killed by a signal\n%s", r)
			require.Equal(t, 1, r.Status, "madvisor stress: got exit status %d, want 1 (a failing seed)\n%s", r.Status, r)
			m := replayRE.FindStringSubmatch(r.Stdout + "\n" + r.Stderr)
			require.NotNil(t, m, "madvisor stress printed no replay command (madvisor run --seed=N --chaos -- PROG ARGS)\n%s", r)
			seed, replayArgv := m[1], shellWords(m[2])
			require.Equal(t, argv, replayArgv, "the replay command's program and arguments (%q)", m[0])
			t.Logf("madvisor stress: seed %s fails (%v): %s", seed, r.Duration.Round(time.Millisecond), m[0])

			var first result
			for rep := 0; rep < 3; rep++ {
				rr := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--seed=" + seed, "--chaos"}, Timeout: detTimeout}, replayArgv...)
				require.False(t, rr.Signaled, "replay %d: killed by a signal\n%s", rep+1, rr)
				require.Equal(t, 1, rr.Status, "replay %d of seed %s: got exit status %d, want 1 (the race bit)\n%s", rep+1, seed, rr.Status, rr)
				if rep == 0 {
					first = rr
					continue
				}
				assert.Equal(t, first.Stdout, rr.Stdout, "replay %d: stdout (want: the first replay's)", rep+1)
				assert.Equal(t, first.Stderr, rr.Stderr, "replay %d: stderr (want: the first replay's)", rep+1)
			}
		})
	}
}

// TestSelfCheck: `run --self-check` runs a program twice under its seed:
// the counter race's runs agree (exit status the program's); a program
// printing its pid (the host's: not made deterministic) is reported as
// differing, with exit status 3.
func TestSelfCheck(t *testing.T) {
	run := func(args ...string) (string, string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), detTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, madvisorBin, args...) // stdin: /dev/null, which rewinds
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return o.String(), e.String(), code
	}
	counter := raceArgv(t, "counter.c")
	stdout, stderr, code := run(append([]string{"run", "--seed=6", "--chaos", "--self-check", "--"}, counter...)...)
	assert.Contains(t, stderr, "self-check: the two runs agree")
	assert.Contains(t, stdout, "counter=", "the first run's output is shown")
	assert.Contains(t, []int{0, 1}, code, "the program's exit status\n%s", stderr)

	// The kernel's random UUIDs are read from a file madvisor does not
	// answer: a source of difference the seed does not draw.
	_, stderr, code = run("run", "--seed=1", "--self-check", "--", "cat", "/proc/sys/kernel/random/uuid")
	assert.Equal(t, 3, code, "differing runs\n%s", stderr)
	assert.Contains(t, stderr, "self-check: the two runs differ")

	_, stderr, code = run("run", "--self-check", "--", "true")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--self-check needs deterministic mode")
}

// TestDeterministicModel: the model, --check-maps and --lockdep stay valid
// in deterministic mode (ASLR off, every syscall traced, the sentry's own
// futexes): no difference between the model and the host, no lock report.
func TestDeterministicModel(t *testing.T) {
	for _, file := range []string{"counter.c", "fork_pipe.c", "threads.py", "guard_populate.c"} {
		t.Run(file, func(t *testing.T) {
			p := raceProgram{file: file, racy: file != "fork_pipe.c"}
			argv := raceArgv(t, file)
			r := runProgram(t, runOpts{Madvisor: true, Timeout: detTimeout,
				MadvisorFlags: []string{"--seed=" + detSeed, "--check-maps", "--lockdep=panic"}}, argv...)
			checkRaceRun(t, p, "madvisor run --seed --check-maps --lockdep=panic", r)
			assert.NotContains(t, r.Stderr, "check-maps", "the model and the host differ\n%s", r)
			assert.NotContains(t, r.Stderr, "lockdep", "a lock report\n%s", r)
		})
	}
}

// TestDeterministicCtrlC: SIGINT sent to madvisor reaches a program whose
// threads all wait in madvisor's futexes (the waits end with EINTR), the
// program dies of it (exit 130), and madvisor says the run was not
// deterministic.
func TestDeterministicCtrlC(t *testing.T) {
	argv := raceArgv(t, "block_forever.c")
	cmd := exec.Command(madvisorBin, append([]string{"run", "--seed=1", "--"}, argv...)...)
	var stdout, stderr lockedBuffer // read while the command writes
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "waiting") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into its waits
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
		assert.Equal(t, 130, ee.ExitCode(), "stderr:\n%s", stderr.String())
		assert.Contains(t, stderr.String(), "determinism lost: signal SIGINT")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("madvisor did not end after SIGINT; stderr:\n%s", stderr.String())
	}
}

// checkReplayedTwice runs program file twice under --seed and requires the
// output want (from the first run) and identical output and traces.
func checkReplayedTwice(t *testing.T, file, want string) {
	t.Helper()
	p := raceProgram{file: file}
	argv := raceArgv(t, p.file)
	dir := t.TempDir()
	first, trace := detRun(t, p, argv, []string{"--seed=" + detSeed}, filepath.Join(dir, "a.jsonl"))
	assert.Equal(t, want, first.Stdout)
	again, trace2 := detRun(t, p, argv, []string{"--seed=" + detSeed}, filepath.Join(dir, "b.jsonl"))
	assert.Equal(t, first.Stdout, again.Stdout)
	assert.Empty(t, firstDifference(string(trace), string(trace2)), "the traces differ")
}

// TestDeterministicSignalWaits: sigwait and pause waiting for another
// thread's signals end deterministically (readiness on the pending
// signals), without the watchdog.
func TestDeterministicSignalWaits(t *testing.T) {
	checkReplayedTwice(t, "signal_wait.c", "sigwait got 10, pause returned\n")
}

// TestDeterministicAlarm: alarm and setitimer(ITIMER_REAL) run in virtual
// time: the signals come at the same points every run, without the
// watchdog, and the program's seconds of waiting take none.
func TestDeterministicAlarm(t *testing.T) {
	checkReplayedTwice(t, "alarm.c", "alarm(5)=0 alarm(2)=5 alarms=4 left=0.000000\n")
}

// TestDeterministicSignalInterrupts: a signal one thread sends another
// that waits in madvisor (a sleep, a futex, a wait for a child, a pipe
// read) interrupts the wait as a kernel does: EINTR with the time left,
// EINTR, EINTR, and a restart under SA_RESTART.
func TestDeterministicSignalInterrupts(t *testing.T) {
	checkReplayedTwice(t, "signal_interrupt.c",
		"sleep -1 EINTR 9s left, futex -1 EINTR, wait4 -1 EINTR, read 1 (restarted), handlers usr1=3 usr2=1\n")
}

// TestDeterministicTimers: POSIX timers (a periodic signal, glibc's
// SIGEV_THREAD), a timerfd and ITIMER_PROF run in virtual time: the same run every
// time, without the watchdog.
func TestDeterministicTimers(t *testing.T) {
	checkReplayedTwice(t, "timers.c", "posix: 3 signals, all SI_TIMER with value 42: 1; thread: notified; "+
		"timerfd: poll 1, 1 expiration, 1s left, then EAGAIN 1; itimer prof: 3 signals\n")
}

// TestDeterministicPIMutex: priority-inheritance mutexes under contention
// and robust mutexes whose owner dies holding them (the next locker gets
// EOWNERDEAD) run on madvisor's futexes: the same run every time, without
// the watchdog.
func TestDeterministicPIMutex(t *testing.T) {
	checkReplayedTwice(t, "pi_mutex.c", "pi counter=8000 want=8000; owner died: robust EOWNERDEAD, robust pi EOWNERDEAD\n")
}

// TestDeterministicHostBlock: a thread blocked in a call left to the host
// (msgrcv) holds the only turn; the watchdog takes it back, the program
// finishes, and madvisor says the run was not deterministic and why.
func TestDeterministicHostBlock(t *testing.T) {
	argv := raceArgv(t, "host_block.c")
	r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--seed=1"}, Timeout: detTimeout}, argv...)
	require.Equal(t, 0, r.Status, "%s", r)
	assert.Equal(t, "received 3 bytes: hi\n", r.Stdout)
	assert.Contains(t, r.Stderr, "determinism lost: thread 2 waited 2s in msgrcv on the host")
	assert.Contains(t, r.Stderr, "this run was NOT deterministic")
}

// TestDeterministicFutexWaitv: futex_waitv waits on madvisor's futexes
// (woken by a wake on any, with its index; EAGAIN; an absolute timeout).
func TestDeterministicFutexWaitv(t *testing.T) {
	checkReplayedTwice(t, "futex_waitv.c", "woke 1; mismatch -1 EAGAIN; timeout -1 ETIMEDOUT\n")
}

// TestDeterministicLocks: waits for file locks (flock between threads,
// fcntl F_SETLKW between processes) are madvisor's readiness checks, not
// host waits: the same run every time, without the watchdog.
func TestDeterministicLocks(t *testing.T) {
	checkReplayedTwice(t, "locks.c", "flock waited: 0; fcntl F_SETLKW child: exit 0\n")
}
