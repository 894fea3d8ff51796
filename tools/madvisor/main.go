// Command madvisor runs unmodified Linux x86-64 programs under a sentry that
// intercepts their memory syscalls and mirrors each address space in a
// model. See `madvisor --help`.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"madvisor/hostmm"
	"madvisor/lockdep"
	"madvisor/sentry"
)

func init() {
	// The re-executed pre-exec stage: it must run on the main thread
	// before anything else starts (package init runs locked to it).
	sentry.MaybeRunStage()
}

const mainUsage = `madvisor: a deterministic kernel-in-userspace for memory management

Usage:
  madvisor run [flags] -- PROGRAM [ARGS...]   run PROGRAM under the sentry
  madvisor stress [flags] -- PROGRAM [ARGS...]
                                              hunt races: run PROGRAM under
                                              many --chaos seeds, print the
                                              failing ones and their replay
  madvisor features                           probe the host kernel's memory API
  madvisor kapi show [--format=F] [FILE] [SYSCALL]
                                              print a kernel API specification
                                              (built in: sys_madvise's)
  madvisor help [COMMAND]                     show help

madvisor runs an unmodified Linux x86-64 program and every process and thread
it starts under a sentry that intercepts their memory syscalls (mmap, munmap,
mprotect, mremap, brk, madvise, process_madvise, mseal, mlock*, shmat/shmdt,
execve, clone...) with seccomp and ptrace and mirrors each address space in a
model. The program's output and exit status are its own; madvisor's own
messages start with "madvisor: ".

Flags of run (details: "madvisor run --help"):
  --check-maps      compare the model with /proc/PID/maps after every
                    intercepted syscall and print the first difference
  --strace[=FILE]   print intercepted syscalls strace style (to stderr or FILE)
  --lockdep=MODE    validate the sentry's lock protocol: off (default), warn
                    or panic
  --emulate=WHAT    provide kernel features the host lacks (auto, the default),
                    all of them, none, or a list (see "madvisor features")
  --kapi-verify[=MODE]  check every madvise against the KAPI spec: warn
                    (default) or panic; --kapi-spec=FILE reads another spec
  --lose-guard-races=N  fault injection: make MADV_GUARD_INSTALL lose N races
  --seed=N          deterministic mode: one thread at a time, in an order
                    drawn from N; same program and seed, same run
  --chaos           deterministic mode hunting races (PCT, preemption in
                    syscall-free code); replayable by seed
  --trace=FILE      deterministic mode: the schedule as JSON lines
  --self-check      deterministic mode: run twice, report the first difference
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" && args[1] == "run" {
			newRunFlags(stdout).fs.Usage()
			return 0
		}
		if len(args) > 1 && args[0] == "help" && args[1] == "stress" {
			printStressUsage(stdout)
			return 0
		}
		if len(args) > 1 && args[0] == "help" && args[1] == "kapi" {
			fmt.Fprint(stdout, kapiUsage)
			return 0
		}
		if len(args) > 1 && args[0] == "help" && args[1] == "features" {
			fmt.Fprint(stdout, featuresUsage)
			return 0
		}
		fmt.Fprint(stdout, mainUsage)
		return 0
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "stress":
		return stressCommand(args[1:], stdout, stderr)
	case "features":
		return featuresCommand(args[1:], stdout, stderr)
	case "kapi":
		return kapiCommand(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "madvisor: unknown command %q\n\n%s", args[0], mainUsage)
	return 2
}

// optionalFile is a flag that is either a bare switch (--strace: to stderr)
// or takes a value (--strace=FILE).
type optionalFile struct {
	set  bool
	path string
}

func (o *optionalFile) String() string { return o.path }
func (o *optionalFile) Set(v string) error {
	o.set = true
	if v != "true" {
		o.path = v
	}
	return nil
}
func (o *optionalFile) IsBoolFlag() bool { return true }

type runFlags struct {
	fs        *flag.FlagSet
	strace    optionalFile
	checkMaps bool
	lockdep   lockdep.Mode
	// loseGuardRaces is the fault-injection switch of the restart path.
	loseGuardRaces int
	emulate        string
	// seed, chaos and trace are deterministic mode's (--seed).
	seed  seedFlag
	chaos bool
	trace string
	// selfCheck runs the program twice and compares (--self-check).
	selfCheck bool
	// kapiVerify and kapiSpec are --kapi-verify and --kapi-spec.
	kapiVerify kapiVerifyFlag
	kapiSpec   string
}

// seedFlag is --seed=N: a uint64, decimal or 0x hexadecimal.
type seedFlag struct {
	set bool
	n   uint64
}

func (f *seedFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatUint(f.n, 10)
}

func (f *seedFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		return fmt.Errorf("%q is not a seed: want an unsigned 64-bit number (decimal, or 0x hex)", v)
	}
	f.set, f.n = true, n
	return nil
}

func newRunFlags(out io.Writer) *runFlags {
	r := &runFlags{fs: flag.NewFlagSet("run", flag.ContinueOnError)}
	r.fs.SetOutput(out)
	r.fs.Var(&r.strace, "strace", "print each intercepted syscall, strace style, with decoded arguments and result,\nto stderr (--strace) or to `FILE` (--strace=FILE)")
	r.fs.BoolVar(&r.checkMaps, "check-maps", false, "after every intercepted syscall, compare the model with /proc/PID/maps and\nprint the first difference (both views) on stderr")
	r.fs.Var(&r.lockdep, "lockdep", "validate the sentry's own lock protocol (mmap_lock...): `off|warn|panic`;\nwarn prints a lockdep report and goes on, panic stops madvisor (and the program)")
	r.fs.StringVar(&r.emulate, "emulate", "auto", "which kernel features madvisor provides itself instead of the host:\n`auto` (those the host lacks), all, none, or a comma-separated list of "+emulationNames()+";\n\"madvisor features\" shows what the host has")
	r.fs.Var(&r.seed, "seed", "deterministic mode: one thread runs at a time, in an order drawn from `N`;\nfutexes, time and randomness are madvisor's; the same program, inputs and\nseed give the same output, exit status and schedule every run")
	r.fs.BoolVar(&r.chaos, "chaos", false, "deterministic mode that hunts races: randomized thread priorities with\nchange points (PCT) and preemption inside syscall-free code, drawn from\nthe seed (without --seed one is picked and printed)")
	r.fs.BoolVar(&r.selfCheck, "self-check", false, "deterministic mode's self-check: run the program twice with the seed and\nreport the first event, output or exit status where the runs differ (the\nfirst run's output is shown when both have ended; stdin must be a file)")
	r.fs.StringVar(&r.trace, "trace", "", "deterministic mode: write the schedule to `FILE`, one JSON object per\nevent (identical for identical runs)")
	r.fs.Var(&r.kapiVerify, "kapi-verify", "check every intercepted madvise (and process_madvise iovec) against the KAPI\nspecification of sys_madvise: errnos and their conditions, constraints, locks\n(recorded by lockdep), signals, side effects. `warn` (the default) reports each\nviolation on stderr and in --strace lines, panic stops the program at the first;\na summary is printed at exit")
	r.fs.StringVar(&r.kapiSpec, "kapi-spec", "", "with --kapi-verify: read the specification from `FILE` (a kernel source file\nor patch with KAPI-annotated kerneldoc) instead of the built-in one")
	r.fs.IntVar(&r.loseGuardRaces, "lose-guard-races", 0, "fault injection for tests: the first `N` MADV_GUARD_INSTALL walks of the run\nlose their race with a page fault; 3 lost in one call make the call restart\ntransparently (with --strace: \"= ? ERESTARTNOINTR\", then the call again)")
	r.fs.Usage = func() {
		fmt.Fprint(out, `Usage: madvisor run [flags] -- PROGRAM [ARGS...]

Runs PROGRAM (looked up in PATH like a shell does) and everything it starts
under the sentry. stdin, stdout and stderr are the program's. madvisor exits
with the program's exit status, or 128+N when it was killed by signal N.
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to madvisor are forwarded to the
program; SIGUSR1 makes madvisor print its task table on stderr. When the
program exits, processes it left behind are killed: nothing outlives madvisor.

Flags:
`)
		r.fs.PrintDefaults()
	}
	return r
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	if path := os.Getenv("MADVISOR_CPUPROFILE"); path != "" {
		// Profiling the sentry (issue 13's "profile the engine").
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	rf := newRunFlags(stderr)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			rf.fs.SetOutput(stdout)
			rf = newRunFlags(stdout)
			rf.fs.Usage()
			return 0
		}
		if a == "--" {
			break
		}
	}
	if err := rf.fs.Parse(args); err != nil {
		return 2
	}
	if rf.kapiSpec != "" && !rf.kapiVerify.on {
		fmt.Fprintln(stderr, "madvisor: run: --kapi-spec needs --kapi-verify")
		return 2
	}
	if rf.loseGuardRaces < 0 {
		fmt.Fprintln(stderr, "madvisor: run: --lose-guard-races must not be negative")
		return 2
	}
	emulations, err := hostmm.ParseEmulate(rf.emulate, hostmm.HostFeatures())
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: run: --emulate: %v\n", err)
		return 2
	}
	argv := rf.fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "madvisor: run: no program given (usage: madvisor run [flags] -- PROGRAM [ARGS...])")
		return 2
	}
	det := rf.seed.set || rf.chaos
	if rf.trace != "" && !det {
		fmt.Fprintln(stderr, "madvisor: run: --trace needs deterministic mode (--seed=N or --chaos)")
		return 2
	}
	if rf.selfCheck && !det {
		fmt.Fprintln(stderr, "madvisor: run: --self-check needs deterministic mode (--seed=N or --chaos)")
		return 2
	}
	if rf.chaos && !rf.seed.set {
		rf.seed.n = randomSeed()
		fmt.Fprintf(stderr, "madvisor: --chaos without --seed: seed %d (replay: %s)\n", rf.seed.n, replayCommand(rf.seed.n, true, argv))
	}
	path, code, err := resolve(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: %v\n", err)
		return code
	}
	cfg := sentry.Config{
		Path:      path,
		Argv:      argv,
		Env:       os.Environ(),
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Log:       stderr,
		CheckMaps: rf.checkMaps,

		Emulations:     emulations,
		LoseGuardRaces: rf.loseGuardRaces,
	}
	if rf.strace.set {
		if rf.strace.path == "" {
			cfg.Strace = stderr
		} else {
			f, err := os.Create(rf.strace.path)
			if err != nil {
				fmt.Fprintf(stderr, "madvisor: --strace: %v\n", err)
				return 2
			}
			defer f.Close()
			cfg.Strace = f
		}
	}
	if det {
		cfg.Det = &sentry.DetConfig{Seed: rf.seed.n, Chaos: rf.chaos}
		if rf.trace != "" {
			f, err := os.Create(rf.trace)
			if err != nil {
				fmt.Fprintf(stderr, "madvisor: --trace: %v\n", err)
				return 2
			}
			defer f.Close()
			cfg.Det.Trace = f
		}
	}
	if rf.kapiVerify.on {
		kc, err := kapiConfig(rf.kapiVerify, rf.kapiSpec)
		if err != nil {
			fmt.Fprintf(stderr, "madvisor: run: --kapi-verify: %v\n", err)
			return 2
		}
		cfg.KAPI = kc
		if !flagSet(rf.fs, "lockdep") {
			// The lock rules are checked on lockdep's record of the
			// model's locks (--lockdep=warn or panic validates them
			// too).
			rf.lockdep = lockdep.Record
		}
	}
	lockdep.SetMode(rf.lockdep)
	if rf.selfCheck {
		return selfCheck(cfg, stderr)
	}
	status, err := sentry.Run(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "madvisor: %v\n", err)
		var ee *sentry.ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 125
	}
	return status
}

// resolve finds the program like a shell: a name without a slash is looked
// up in PATH. The exit code on failure follows the shell's: 127 not found,
// 126 found but not executable.
func resolve(name string) (string, int, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, 0, nil
	}
	if !strings.Contains(name, "/") {
		return "", 127, fmt.Errorf("cannot run %s: not found in PATH", name)
	}
	st, serr := os.Stat(name)
	switch {
	case errors.Is(serr, fs.ErrNotExist):
		return "", 127, fmt.Errorf("cannot run %s: no such file or directory", name)
	case serr != nil:
		return "", 126, fmt.Errorf("cannot run %s: %v", name, serr)
	case st.IsDir():
		return "", 126, fmt.Errorf("cannot run %s: is a directory", name)
	}
	return "", 126, fmt.Errorf("cannot run %s: permission denied (not executable)", name)
}

// emulationNames lists the emulations for --help.
func emulationNames() string {
	names := make([]string, len(hostmm.Emulations))
	for i, e := range hostmm.Emulations {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}

// randomSeed picks a seed for --chaos without --seed.
func randomSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.LittleEndian.Uint64(b[:])
}

// replayCommand is the command line that replays seed: madvisor run
// --seed=N [--chaos] -- PROG ARGS, quoted for a POSIX shell.
func replayCommand(seed uint64, chaos bool, argv []string) string {
	words := []string{"madvisor", "run", fmt.Sprintf("--seed=%d", seed)}
	if chaos {
		words = append(words, "--chaos")
	}
	words = append(words, "--")
	for _, a := range argv {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
