package sentry

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ptrace options every tracee carries. Children inherit them through
// PTRACE_O_TRACECLONE/FORK/VFORK, so they are set once, at PTRACE_SEIZE.
const traceOptions = unix.PTRACE_O_EXITKILL |
	unix.PTRACE_O_TRACESECCOMP |
	unix.PTRACE_O_TRACECLONE |
	unix.PTRACE_O_TRACEFORK |
	unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACEEXEC |
	unix.PTRACE_O_TRACESYSGOOD

// ptrace stop kinds, decoded from a wait status.
const (
	sigtrap     = int(unix.SIGTRAP)
	stopSeccomp = sigtrap | unix.PTRACE_EVENT_SECCOMP<<8
	stopClone   = sigtrap | unix.PTRACE_EVENT_CLONE<<8
	stopFork    = sigtrap | unix.PTRACE_EVENT_FORK<<8
	stopVfork   = sigtrap | unix.PTRACE_EVENT_VFORK<<8
	// stopVforkDone: a vfork parent about to return, its child having
	// exec'd or exited (deterministic mode schedules it from there).
	stopVforkDone = sigtrap | unix.PTRACE_EVENT_VFORK_DONE<<8
	stopExec      = sigtrap | unix.PTRACE_EVENT_EXEC<<8
	stopExit      = sigtrap | unix.PTRACE_EVENT_EXIT<<8
	stopSyscall   = sigtrap | 0x80
)

// syscallInfo is struct ptrace_syscall_info (PTRACE_GET_SYSCALL_INFO), the
// one-call view of a syscall stop: the number and arguments at entry and
// seccomp stops, the return value at exit stops.
type syscallInfo struct {
	Op   uint8
	_    [3]uint8
	Arch uint32
	IP   uint64
	SP   uint64
	// For entry and seccomp stops: Nr, Args. For exit stops: Nr holds rval
	// and Args[0]'s low byte is_error.
	Nr   uint64
	Args [6]uint64
	Ret  uint32
	_    uint32
}

// PTRACE_SYSCALL_INFO_* ops and the x86-64 audit arch.
const (
	syscallInfoEntry   = 1
	syscallInfoExit    = 2
	syscallInfoSeccomp = 3
	auditArchX86_64    = 0xc000003e
)

// rval is the return value at a syscall-exit stop.
func (si *syscallInfo) rval() int64 { return int64(si.Nr) }

func ptraceSeize(pid int, options uintptr) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, options, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func ptraceGetSyscallInfo(tid int, si *syscallInfo) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid),
		unsafe.Sizeof(*si), uintptr(unsafe.Pointer(si)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func ptraceRequest(req int, tid int, addr, data uintptr) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
