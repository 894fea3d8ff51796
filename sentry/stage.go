package sentry

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// StageArg is argv[1] of madvisor re-executed as the pre-exec stage: the
// process that waits until the engine has seized it, installs the seccomp
// filter on itself and execs the target. No helper binary beside madvisor.
const StageArg = "__madvisor_stage"

// StageProcViewArg is StageArg for a run that keeps the program's view of
// /proc: the filter also traps the opens.
const StageProcViewArg = "__madvisor_stage_procview"

// The stage's inherited descriptors.
const (
	stageSyncFd  = 3 // read end: one byte once the engine has seized us
	stageErrorFd = 4 // write end, close-on-exec: why the exec failed
)

// MaybeRunStage runs the stage if this process is one. Call it from an
// init function of the main package (or of a test package), where the
// runtime keeps the goroutine on the main thread.
func MaybeRunStage() {
	if len(os.Args) > 1 && (os.Args[1] == StageArg || os.Args[1] == StageProcViewArg) {
		RunStage(os.Args[2:], os.Args[1] == StageProcViewArg)
	}
}

// RunStage is the whole life of the stage process: argv is
// [path, argv0, args...]. It never returns. The caller must run it on the
// main thread (madvisor calls it from init with the OS thread locked), since
// only the main thread is traced and the filter is installed on the calling
// thread only: it is that thread which execs.
func RunStage(argv []string, procView bool) {
	runtime.LockOSThread()
	if len(argv) < 2 {
		stageFail("internal error: stage called without a program")
	}
	var b [1]byte
	if n, _ := unix.Read(stageSyncFd, b[:]); n != 1 {
		stageFail("the sentry did not attach")
	}
	unix.Close(stageSyncFd)
	unix.CloseOnExec(stageErrorFd)
	insns, err := BuildFilter(procView)
	if err != nil {
		stageFail(err.Error())
	}
	if err := installFilter(insns); err != nil {
		stageFail(fmt.Sprintf("installing the seccomp filter: %v (the kernel needs CONFIG_SECCOMP_FILTER; in a container, seccomp(2) itself may be denied)", err))
	}
	err = unix.Exec(argv[0], argv[1:], os.Environ())
	code := 126 // found but cannot be executed, as a shell says
	if errors.Is(err, unix.ENOENT) {
		code = 127
	}
	stageExit(code, fmt.Sprintf("cannot run %s: %v", argv[0], err))
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
