package sentry

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// StageArg is argv[1] of madvisor re-executed as the pre-exec stage: the
// process that waits until the engine has seized it, installs the seccomp
// filter on itself and execs the target. No helper binary beside madvisor.
// argv[2] are the stage's options (StageOptions.String).
const StageArg = "__madvisor_stage"

// StageOptions say how the stage prepares the target.
type StageOptions struct {
	// ProcView: the filter also traps the calls of the program's view of
	// /proc (the opens...).
	ProcView bool
	// Det: deterministic mode. The filter traps every syscall; address
	// space randomization is off (ADDR_NO_RANDOMIZE) and the time stamp
	// counter faults (PR_SET_TSC: the sentry answers rdtsc), both kept
	// across exec and inherited by children.
	Det bool
	// HostAdvice: madvise with an advice the host answers alone runs
	// untraced (BuildFilter).
	HostAdvice bool
	// PidNS: the stage was started as the init of new PID and mount
	// namespaces (pidns.go): as pid 1 it mounts their /proc and forks
	// the stage proper, which runs the program as pid 100.
	PidNS bool
}

// String encodes the options as the stage's argv[2].
func (o StageOptions) String() string {
	s := "-"
	if o.ProcView {
		s += "procview,"
	}
	if o.Det {
		s += "det,"
	}
	if o.PidNS {
		s += "pidns,"
	}
	if o.HostAdvice {
		s += "hostadvice,"
	}
	return s
}

func parseStageOptions(s string) StageOptions {
	return StageOptions{ProcView: strings.Contains(s, "procview,"), Det: strings.Contains(s, "det,"),
		PidNS: strings.Contains(s, "pidns,"), HostAdvice: strings.Contains(s, "hostadvice,")}
}

// The stage's inherited descriptors.
const (
	stageSyncFd  = 3 // read end: one byte once the engine has seized us
	stageErrorFd = 4 // write end, close-on-exec: why the exec failed
	// stageInitFd (the namespace init's only, write end): why the
	// namespaces could not be set up, or nothing once the stage proper
	// is forked.
	stageInitFd = 5
)

// MaybeRunStage runs the stage if this process is one. Call it from an
// init function of the main package (or of a test package), where the
// runtime keeps the goroutine on the main thread.
func MaybeRunStage() {
	if len(os.Args) > 2 && os.Args[1] == StageArg {
		RunStage(os.Args[3:], parseStageOptions(os.Args[2]))
	}
}

// RunStage is the whole life of the stage process: argv is
// [path, argv0, args...]. It never returns. The caller must run it on the
// main thread (madvisor calls it from init with the OS thread locked), since
// only the main thread is traced and the filter is installed on the calling
// thread only: it is that thread which execs.
func RunStage(argv []string, opts StageOptions) {
	runtime.LockOSThread()
	if len(argv) < 2 {
		stageFail("internal error: stage called without a program")
	}
	if opts.PidNS && os.Getpid() == 1 {
		runNamespaceInit(argv, opts)
	}
	var b [1]byte
	if n, _ := unix.Read(stageSyncFd, b[:]); n != 1 {
		stageFail("the sentry did not attach")
	}
	unix.Close(stageSyncFd)
	unix.CloseOnExec(stageErrorFd)
	insns, err := BuildFilter(opts.ProcView, opts.Det, opts.HostAdvice)
	if err != nil {
		stageFail(err.Error())
	}
	if opts.PidNS {
		if err := stageLastPid(); err != nil {
			stageFail(fmt.Sprintf("setting the namespace's next pid: %v", err))
		}
	}
	if opts.Det {
		// personality(0xffffffff) reads the persona without changing it.
		persona, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, persona|addrNoRandomize, 0, 0); e != 0 {
			stageFail(fmt.Sprintf("personality(ADDR_NO_RANDOMIZE): %v", e))
		}
	}
	if err := installFilter(insns); err != nil {
		stageFail(fmt.Sprintf("installing the seccomp filter: %v (the kernel needs CONFIG_SECCOMP_FILTER; in a container, seccomp(2) itself may be denied)", err))
	}
	err = execTarget(argv[0], argv[1:], os.Environ(), opts)
	code := 126 // found but cannot be executed, as a shell says
	if errors.Is(err, unix.ENOENT) {
		code = 127
	}
	stageExit(code, fmt.Sprintf("cannot run %s: %v", argv[0], err))
}

// execTarget execs the program. In deterministic mode rdtsc faults in it
// (PR_SET_TSC, kept across exec). The stage's own Go runtime reads the
// time stamp counter (nanotime, through the vDSO), so the counter is
// disabled on this thread only right before the execve, with raw system
// calls and the arguments ready: nothing of the runtime runs in between.
// Under a namespace init the ambient capabilities it was given are
// cleared, so that the program runs with the caller's.
func execTarget(path string, argv, env []string, opts StageOptions) error {
	pathp, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	if opts.PidNS {
		unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	}
	if opts.Det {
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TSC, unix.PR_TSC_SIGSEGV, 0); e != 0 {
			return fmt.Errorf("prctl(PR_SET_TSC, PR_TSC_SIGSEGV): %w", e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	if opts.Det {
		unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TSC, unix.PR_TSC_ENABLE, 0)
	}
	return e
}

func stageFail(msg string) { stageExit(127, msg) }

func stageExit(code int, msg string) {
	unix.Write(stageErrorFd, []byte(msg))
	os.Exit(code)
}

// installFilter sets no_new_privs and the filter on the calling thread only
// (no TSYNC: the stage's other Go threads are not traced and die at exec).
func installFilter(insns []bpf.Instruction) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	prog := linux.SockFprog{
		Len:    uint16(len(insns)),
		Filter: (*linux.BPFInstruction)(unsafe.Pointer(&insns[0])),
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, linux.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(insns)
	if errno != 0 {
		return errno
	}
	return nil
}

// addrNoRandomize is ADDR_NO_RANDOMIZE (include/uapi/linux/personality.h),
// which neither x/sys nor gvisor's abi/linux defines.
const addrNoRandomize = 0x0040000
