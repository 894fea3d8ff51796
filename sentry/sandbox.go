package sentry

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// Config says what to run and how.
type Config struct {
	// Path is the resolved executable; Argv its argv (Argv[0] as given).
	Path string
	Argv []string
	Env  []string
	// Stdin, Stdout, Stderr are the target's standard files.
	Stdin, Stdout, Stderr *os.File
	// Log receives madvisor's own messages (each starts with "madvisor: ").
	Log io.Writer
	// Strace, if set, receives a line per intercepted syscall.
	Strace io.Writer
	// CheckMaps compares the model with /proc/PID/maps after every
	// intercepted syscall.
	CheckMaps bool
	// Sched is the scheduler; nil means ParallelScheduler.
	Sched Scheduler
	// Emulate, if set, may take over an intercepted syscall: a non-nil
	// function answers it instead of the host (running host syscalls in
	// the tracee as it needs) and returns what the program sees.
	Emulate func(nr uint64, args [6]uint64) func(tr hostmm.Tracee) int64
	// Emulations are the kernel features the sentry provides itself
	// instead of the host (hostmm.ParseEmulate).
	Emulations hostmm.EmulationSet
	// Det, if set, runs the program in deterministic mode (det.go).
	Det *DetConfig
	// LoseGuardRaces is a fault-injection switch for tests: the first
	// LoseGuardRaces MADV_GUARD_INSTALL walks of the run (over all
	// processes) lose their race with a page fault, so an install that
	// loses mm.MaxGuardRetries in a row takes the restart path.
	LoseGuardRaces int
	// KAPI, if set, checks every intercepted madvise against the KAPI
	// specification (--kapi-verify, kapiverify.go).
	KAPI *KAPIConfig
}

// DetConfig is deterministic mode's configuration (madvisor run --seed).
type DetConfig struct {
	// Seed draws every scheduling choice (and the program's randomness).
	Seed uint64
	// Chaos perturbs the schedule to expose races (PCT priorities with
	// change points, preemption inside syscall-free code).
	Chaos bool
	// Trace, if set, receives the schedule as JSON lines.
	Trace io.Writer
}

// Sandbox is one run of a target program and all the processes it starts.
type Sandbox struct {
	cfg   Config
	eng   *engine
	sched Scheduler
	root  *ThreadGroup
	// det is deterministic mode's state, nil in the other mode.
	det *detRun

	// rootExit receives the root process's final wait status.
	rootExit chan unix.WaitStatus
	// launchErr receives why the stage could not exec the target ("" when
	// the exec succeeded), once.
	launchErr chan string
	// rootPid is the root process's pid, once launched.
	rootPid atomic.Int64
	// nsInit is the pid of the namespace init the program runs under in
	// deterministic mode (pidns.go), 0 when its pids are the host's.
	nsInit int

	// uffd is the userfaultfd release watch (uffd.go). Engine thread
	// only.
	uffd uffdWatch

	// guardRacesLeft counts the GUARD_INSTALL walks still to lose
	// (Config.LoseGuardRaces). Engine thread only.
	guardRacesLeft int

	// mu protects tasks, the registry read by the task dump.
	mu    sync.Mutex
	tasks map[*Task]struct{}

	// phase is where the run is, for the task dump (a hang's report).
	phase atomic.Value // string

	// diffs counts the check-maps differences reported; unchecked the
	// processes it stopped checking (their maps became unreadable).
	diffs, unchecked atomic.Int64
	// kapiCalls and kapiViolations count --kapi-verify's checks;
	// kapiStopped is set when --kapi-verify=panic stopped the run.
	kapiCalls, kapiViolations atomic.Int64
	kapiStopped               atomic.Bool
	// kapiDiscards counts the discards verified, for sampling their exit
	// stops. Engine thread only.
	kapiDiscards int
	// logMu serializes madvisor's own output.
	logMu  sync.Mutex
	warned sync.Map
}

// ExitError is a run that could not start the target. Code is the exit
// status a shell gives then: 127 not found, 126 not executable.
type ExitError struct {
	Msg  string
	Code int
}

func (e *ExitError) Error() string { return e.Msg }

// Run runs the target under the sentry until the root process exits, and
// returns its exit status as a shell reports it (128+N when killed by
// signal N). Tracees still alive then are killed: none outlives madvisor.
func Run(cfg Config) (int, error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	s := &Sandbox{
		cfg:            cfg,
		guardRacesLeft: cfg.LoseGuardRaces,
		eng:            newEngine(),
		sched:          cfg.Sched,
		rootExit:       make(chan unix.WaitStatus, 1),
		launchErr:      make(chan string, 1),
		tasks:          make(map[*Task]struct{}),
	}
	if s.sched == nil {
		s.sched = ParallelScheduler{}
	}
	if cfg.Det != nil {
		s.det = newDetRun(s, cfg.Det)
		defer s.det.close()
		s.eng.idle = s.det.idle
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	// Signals are served on their own goroutine, so that the task dump
	// works also while Run waits for the tree to go.
	go s.serveSignals(sigs, done)

	engErr := make(chan error, 1)
	s.phase.Store("launching the program")
	go func() { engErr <- s.eng.run(s.launch) }()

	select {
	case err := <-engErr:
		// The engine only returns early when the launch failed.
		return 0, err
	case ws := <-s.rootExit:
		s.phase.Store("the program exited: killing what is left and waiting for it")
		s.shutdown()
		s.phase.Store("the program exited: waiting for the stage's report")
		if n := s.diffs.Load(); n > 0 {
			s.logf("check-maps: %d difference(s) between the model and the host", n)
		}
		if n := s.unchecked.Load(); n > 0 {
			s.logf("check-maps: %d process(es) not checked to the end: their maps could not be read", n)
		}
		if s.cfg.KAPI != nil {
			s.logf("%s", s.kapiSummary())
			if s.kapiStopped.Load() {
				<-s.launchErr
				return 0, &ExitError{Msg: "kapi: stopped at the first violation (--kapi-verify=panic)", Code: 125}
			}
		}
		if msg := <-s.launchErr; msg != "" {
			return 0, &ExitError{Msg: msg, Code: exitCode(ws)}
		}
		return exitCode(ws), nil
	}
}

// serveSignals forwards the signals madvisor receives to the root process,
// and prints the task table on SIGUSR1.
func (s *Sandbox) serveSignals(sigs <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGUSR1 {
				s.dumpTasks()
			} else if pid := s.rootPid.Load(); pid != 0 {
				if d := s.det; d != nil {
					// The engine must wake the program's waiting
					// threads for it to see the signal.
					s.eng.do(make(chan struct{}, 1), func() { d.outsideSignal(int(pid), sig.(syscall.Signal)) })
				} else {
					unix.Kill(int(pid), sig.(syscall.Signal))
				}
			}
		case <-done:
			return
		}
	}
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// shutdown kills what is left of the tree, waits until every tracee is
// reaped and stops the engine.
func (s *Sandbox) shutdown() {
	// Kill first: the engine may be blocked in wait4, and the deaths wake
	// it up to serve the request.
	s.mu.Lock()
	for t := range s.tasks {
		unix.Kill(t.tg.pid, unix.SIGKILL)
	}
	s.mu.Unlock()
	s.eng.do(make(chan struct{}, 1), s.eng.killAll)
	s.eng.stop()
}

// launch starts the stage process and seizes it. Engine thread only.
func (s *Sandbox) launch() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the madvisor executable: %w", err)
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer syncR.Close()
	defer syncW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer errW.Close()

	opts := StageOptions{ProcView: s.procView(), Det: s.cfg.Det != nil, HostAdvice: s.hostAdvice()}
	if s.det != nil {
		s.det.pinToOneCPU() // before the fork: the stage inherits it
	}
	pid, err := s.forkStage(self, opts, []uintptr{s.cfg.Stdin.Fd(), s.cfg.Stdout.Fd(), s.cfg.Stderr.Fd(),
		syncR.Fd(), errW.Fd()})
	if err != nil {
		errR.Close()
		return fmt.Errorf("starting the sentry stage: %w", err)
	}
	options := uintptr(traceOptions)
	if s.det != nil {
		// A vfork parent waits in the host for its child: deterministic
		// mode schedules it again at its VFORK_DONE stop. An exiting
		// thread stops at PTRACE_EVENT_EXIT so that the scheduler sees
		// it go (det.go); elsewhere that stop would only cost a round
		// trip per thread.
		options |= unix.PTRACE_O_TRACEVFORKDONE | unix.PTRACE_O_TRACEEXIT
	}
	if err := ptraceSeize(pid, options); err != nil {
		if s.nsInit != 0 {
			pid = s.nsInit // the stage dies with it
		}
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		errR.Close()
		return fmt.Errorf("ptrace(PTRACE_SEIZE) of the target failed: %w; "+
			"ptrace may be restricted: check /proc/sys/kernel/yama/ptrace_scope (must be 0 or 1), "+
			"and that the container grants ptrace (CAP_SYS_PTRACE or a seccomp profile allowing ptrace)", err)
	}
	go func() {
		// EOF comes at the exec (close-on-exec) or when the stage dies.
		msg, _ := io.ReadAll(errR)
		errR.Close()
		s.launchErr <- string(msg)
	}()

	s.phase.Store(fmt.Sprintf("running (program pid %d, namespace init %d)", pid, s.nsInit))
	s.root = &ThreadGroup{pid: pid}
	s.rootPid.Store(int64(pid))
	t := s.newTask(pid, s.root)
	t.attached = true // seized, not auto-attached: no initial stop
	s.startTask(t)
	if _, err := syncW.Write([]byte{1}); err != nil {
		return fmt.Errorf("releasing the sentry stage: %w", err)
	}
	return nil
}

// startTask registers t with the engine and starts its goroutine. Engine
// thread only.
func (s *Sandbox) startTask(t *Task) {
	s.mu.Lock()
	s.tasks[t] = struct{}{}
	s.mu.Unlock()
	if s.det != nil {
		s.det.adopt(t)
	}
	s.eng.addTask(t)
	s.sched.Started(t)
}

func (s *Sandbox) taskGone(t *Task) {
	s.mu.Lock()
	delete(s.tasks, t)
	s.mu.Unlock()
	s.sched.Exited(t)
	if s.det != nil {
		s.det.exited(t)
	}
}

// processExited is told when a thread group's leader is reaped.
func (s *Sandbox) processExited(tg *ThreadGroup) {
	if tg == s.root {
		s.rootExit <- tg.exitStatus
	}
}

// logf prints one of madvisor's own messages.
func (s *Sandbox) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "madvisor: "+format+"\n", args...)
}

// dumpTasks prints every task and what it waits for (SIGUSR1).
func (s *Sandbox) dumpTasks() {
	s.mu.Lock()
	var lines []string
	for t := range s.tasks {
		lines = append(lines, t.describe())
	}
	s.mu.Unlock()
	sort.Strings(lines)
	phase, _ := s.phase.Load().(string)
	s.logf("%s; %d tasks:\n%s", phase, len(lines), "madvisor: "+strings.Join(lines, "\nmadvisor: "))
}

// emulating reports whether the run emulates e.
func (s *Sandbox) emulating(e hostmm.Emulation) bool { return s.cfg.Emulations[e] }

// procView reports whether the run keeps the program's view of /proc:
// whenever it emulates anything.
// hostAdvice reports whether madvise calls with an advice the host
// answers alone (syscalls.HostAnsweredAdvice) may run untraced: nothing
// is emulated (so the host's answer is the model's), and nothing wants to
// see every call (--strace, --check-maps, --kapi-verify, deterministic
// mode, an embedder's Emulate, fault injection).
func (s *Sandbox) hostAdvice() bool {
	c := &s.cfg
	return !s.procView() && c.Strace == nil && !c.CheckMaps && c.KAPI == nil && c.Det == nil &&
		c.Emulate == nil && c.LoseGuardRaces == 0
}

func (s *Sandbox) procView() bool {
	for _, on := range s.cfg.Emulations {
		if on {
			return true
		}
	}
	return false
}

// emulatedFlags are the VMA flags only the model has: those of the
// features the run emulates.
func (s *Sandbox) emulatedFlags() mm.VMFlags {
	var f mm.VMFlags
	if s.emulating(hostmm.EmulateMseal) {
		f |= mm.VMSealed
	}
	if s.emulating(hostmm.EmulateGuard) {
		f |= mm.VMMaybeGuard
	}
	if s.emulating(hostmm.EmulateWipeOnFork) {
		f |= mm.VMWipeOnFork
	}
	return f
}
