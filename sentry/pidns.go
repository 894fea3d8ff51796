package sentry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
)

// Pids that repeat in deterministic mode: the stage starts as the init of
// new PID and mount namespaces, mounts their own /proc (so /proc/self and
// /proc/PID name the namespace's processes) and forks the stage proper,
// which execs the program as pid 100 (programPid); the program's threads
// and children then get 101, 102... in creation order, which the
// schedule fixes. The init stays as pid 1 rather than the program, since
// pid 1 is special: signals without a handler sent from inside the
// namespace do not reach it (an abort() would end otherwise), and
// orphans are reparented to it (the init reaps them).
//
// Nothing else may take pids in the namespace meanwhile, and the init
// and the stage are Go programs, whose runtimes start threads (each a
// pid) at times of their own. So the init sets the namespace's last pid
// (/proc/sys/kernel/ns_last_pid) before it forks the stage, then only
// waits in raw system calls with one P, no garbage collector and the
// asynchronous signals ignored: it starts no thread. The stage sets the
// last pid to its own right before its exec, whose threads die there. A
// program that does not get programPid is told (determinism lost).
//
// As root the namespaces need no more; otherwise a user namespace that
// maps the caller's own uid and gid is made too, and the init gets
// CAP_SYS_ADMIN there as an ambient capability (for the mount and
// ns_last_pid), which the stage clears before the exec. Where the host
// refuses both, the pids are the host's and the run says so.
//
// The sentry keeps the host's ids for its own work; a pid the program
// hands it (a /proc/PID path, a signal's sender) is looked up by the
// namespace id (Sandbox.programTask).

// programPid is the program's pid in its namespace.
const programPid = 100

// nsLastPid is the file that sets the pid the namespace's next one
// follows.
const nsLastPid = "/proc/sys/kernel/ns_last_pid"

// initTimeout bounds the namespace init's start.
const initTimeout = 10 * time.Second

// namespaceFlags are the namespaces the init is started in.
const namespaceFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS

// namespaceAttempt is one way to start the init: its name, for the
// message when none works, and its process attributes.
type namespaceAttempt struct {
	name string
	sys  func() *syscall.SysProcAttr
}

var namespaceAttempts = []namespaceAttempt{
	{"a PID namespace", func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Cloneflags: namespaceFlags}
	}},
	{"a PID namespace in a user namespace", func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{
			Cloneflags:  namespaceFlags | unix.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
			AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN},
		}
	}},
}

// forkStage starts the stage with the descriptors files (stdin, stdout,
// stderr, the sync and error pipes) and returns the pid to seize: the
// stage proper, under a namespace init in deterministic mode.
func (s *Sandbox) forkStage(self string, opts StageOptions, files []uintptr) (int, error) {
	argv := func(o StageOptions) []string {
		return append([]string{"madvisor", StageArg, o.String(), s.cfg.Path}, s.cfg.Argv...)
	}
	if s.det != nil {
		var why []string
		nsOpts := opts
		nsOpts.PidNS = true
		for _, a := range namespaceAttempts {
			pid, err := s.forkNamespaceInit(self, argv(nsOpts), files, a.sys())
			if err == nil {
				return pid, nil
			}
			why = append(why, fmt.Sprintf("%s: %v", a.name, err))
		}
		s.logf("the program's pids are the host's in this run, not repeatable (%s)", strings.Join(why, "; "))
	}
	return syscall.ForkExec(self, argv(opts), &syscall.ProcAttr{Env: s.cfg.Env, Files: files,
		// If madvisor dies before the seize, the stage must not run on
		// untraced. The engine thread never exits, so this is safe.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
}

// forkNamespaceInit starts the stage as a namespace init with process
// attributes sys and returns the pid of the stage proper it forked.
func (s *Sandbox) forkNamespaceInit(self string, argv []string, files []uintptr, sys *syscall.SysProcAttr) (int, error) {
	report, reportW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer report.Close()
	sys.Pdeathsig = syscall.SIGKILL // its death ends the namespace
	init, err := syscall.ForkExec(self, argv, &syscall.ProcAttr{Env: s.cfg.Env,
		Files: append(files[:stageInitFd:stageInitFd], reportW.Fd()), Sys: sys})
	reportW.Close()
	if err != nil {
		return 0, err
	}
	// EOF once the init has forked the stage proper, or has died; an init
	// that does neither within initTimeout is given up on.
	report.SetReadDeadline(time.Now().Add(initTimeout))
	msg, err := io.ReadAll(report)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		msg = []byte(fmt.Sprintf("the namespace init did not start the stage within %v", initTimeout))
	}
	stage, err := firstChild(init)
	if len(msg) > 0 || err != nil {
		unix.Kill(init, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(init, &ws, 0, nil)
		if len(msg) > 0 {
			err = errors.New(string(msg))
		}
		return 0, err
	}
	s.nsInit = init
	return stage, nil
}

// firstChild returns the first child of process pid (the children file
// of its main thread).
func firstChild(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("the namespace init has no child")
	}
	return strconv.Atoi(f[0])
}

// programTask returns the live task whose tid is pid as the program
// sees it: the namespace's id under a namespace init, else the host's.
// Engine thread only.
func (s *Sandbox) programTask(pid int) *Task {
	if s.nsInit == 0 {
		if t := s.eng.tasks[pid]; t != nil && !t.dead {
			return t
		}
		return nil
	}
	for _, t := range s.eng.tasks {
		if !t.dead && t.det != nil && t.det.nsTid == pid {
			return t
		}
	}
	return nil
}

// runNamespaceInit is the stage as the init of the new namespaces (pid
// 1): it mounts their /proc, forks the stage proper with argv, reaps
// every process of the namespace, and exits with the stage's status
// once none is left. It never returns.
func runNamespaceInit(argv []string, opts StageOptions) {
	unix.CloseOnExec(stageInitFd) // the stage must not hold it open
	report := os.NewFile(stageInitFd, "namespace report")
	fail := func(format string, args ...any) {
		fmt.Fprintf(report, format, args...)
		os.Exit(125)
	}
	// Quiet from here on: no thread may start (see the top of the file).
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(-1)
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("making the mounts private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("mounting the namespace's /proc: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		fail("finding the madvisor executable: %v", err)
	}
	if err := os.WriteFile(nsLastPid, []byte(strconv.Itoa(programPid-1)), 0); err != nil {
		fail("setting the namespace's next pid: %v", err)
	}
	stage, err := syscall.ForkExec(self, append([]string{"madvisor", StageArg, opts.String()}, argv...),
		&syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2, stageSyncFd, stageErrorFd}})
	if err != nil {
		fail("starting the stage: %v", err)
	}
	ignoreAsyncSignals()
	report.Close()
	unix.Close(stageSyncFd)
	unix.Close(stageErrorFd)
	code := 0
	for {
		var ws unix.WaitStatus
		pid, _, errno := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&ws)), 0, 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			break // no child left
		}
		if int(pid) == stage {
			code = exitCode(ws)
		}
	}
	unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(code), 0, 0)
}

// ignoreAsyncSignals sets the signals another process may send to
// SIG_IGN behind the Go runtime's back, with raw rt_sigaction: from
// outside the namespace (a Ctrl-C to the process group) they would end
// it, and the runtime's handlers could start threads. SIGCHLD keeps its
// handler (ignoring it would reap children unseen), and the signals of
// faults theirs.
func ignoreAsyncSignals() {
	var ign struct{ handler, flags, restorer, mask uint64 }
	ign.handler = 1 // SIG_IGN
	for sig := unix.Signal(1); sig <= 64; sig++ {
		switch sig {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS:
			continue
		}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&ign)), 0, 8, 0, 0)
	}
}

// stageLastPid makes the stage proper's pid the namespace's last, right
// before its exec: its runtime's threads took the pids after it and die
// at the exec, so the program's first thread or child gets the next.
func stageLastPid() error {
	return os.WriteFile(nsLastPid, []byte(strconv.Itoa(os.Getpid())), 0)
}

// namespaceTid is thread tid's id in the program's PID namespace, 0
// without one.
func (s *Sandbox) namespaceTid(tid int) int {
	if s.nsInit == 0 {
		return 0
	}
	id, _ := hostmm.NamespaceTid(tid)
	return id
}
