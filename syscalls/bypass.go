package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"madvisor/abi"
)

// Calls through which a program could change its address space, or its
// memory, behind the sentry's back: each is traced and either kept in
// view or refused the way a kernel without the feature refuses it
// (README, "What madvisor refuses"). All are rare: tracing them costs
// other programs nothing.
var bypassTable = []Entry{
	// The sentry is every thread's tracer; a program cannot be one too.
	{Nr: unix.SYS_PTRACE, Args: args(Int, Pid, Addr, Hex), Handle: ptraceCall},
	// A program's own seccomp listener could continue calls that the
	// sentry's filter never sees (SECCOMP_RET_USER_NOTIF outranks
	// SECCOMP_RET_TRACE).
	{Nr: unix.SYS_SECCOMP, Args: args(Int, Hex, Addr), Handle: seccompCall},
	// io_uring's IORING_OP_MADVISE is a madvise the filter cannot see:
	// every ring is restricted so that it refuses it.
	{Nr: unix.SYS_IO_URING_SETUP, Args: args(Uint, Addr), Handle: ioUringSetupCall},
	{Nr: unix.SYS_IO_URING_REGISTER, Args: args(Fd, Uint, Addr, Uint), Handle: ioUringRegisterCall,
		Match: []ArgMatch{
			{Index: 1, Value: abi.IORING_REGISTER_RESTRICTIONS, Low32: true},
			{Index: 1, Value: abi.IORING_REGISTER_ENABLE_RINGS, Low32: true},
			{Index: 1, Value: abi.IORING_REGISTER_RESTRICTIONS | abi.IORING_REGISTER_USE_REGISTERED_RING, Low32: true},
			{Index: 1, Value: abi.IORING_REGISTER_ENABLE_RINGS | abi.IORING_REGISTER_USE_REGISTERED_RING, Low32: true},
		}},
}

// refuse is the Plan of a call answered with -errno without running it.
func refuse(errno unix.Errno) Plan {
	return Plan{Emulate: func() int64 { return -int64(errno) }}
}

// ptraceCall refuses every request as a kernel whose Yama ptrace_scope is
// 3 does: no process may trace another, so TRACEME, ATTACH and SEIZE fail
// with EPERM, and every other request finds no tracee (ESRCH). Nested
// tracing cannot be given honestly: the sentry is already the tracer of
// every thread, and a second one would steal its stops.
func ptraceCall(_ Context, r Regs) Plan {
	switch int(int32(r[0])) {
	case unix.PTRACE_TRACEME, unix.PTRACE_ATTACH, unix.PTRACE_SEIZE:
		return refuse(unix.EPERM)
	}
	return refuse(unix.ESRCH)
}

// seccompCall: the program may add filters, but not a user-notification
// listener, refused as a kernel older than 5.0 refuses it: the flag and
// the SECCOMP_GET_NOTIF_SIZES operation are unknown (EINVAL), and the
// action is not available (EOPNOTSUPP). Without a listener a filter's
// SECCOMP_RET_USER_NOTIF fails the call with ENOSYS, as the host does.
func seccompCall(c Context, r Regs) Plan {
	switch uint32(r[0]) {
	case unix.SECCOMP_SET_MODE_FILTER:
		if uint32(r[1])&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
			return refuse(unix.EINVAL)
		}
	case unix.SECCOMP_GET_NOTIF_SIZES:
		return refuse(unix.EINVAL)
	case unix.SECCOMP_GET_ACTION_AVAIL:
		b, err := c.Host().ReadBytes(r[2], 4)
		if err == nil && binary.LittleEndian.Uint32(b) == unix.SECCOMP_RET_USER_NOTIF && uint32(r[1]) == 0 {
			return refuse(unix.EOPNOTSUPP)
		}
	}
	return ignore
}

// IoUring is what a Context may also do: keep io_uring rings from
// running IORING_OP_MADVISE (sentry/iouring.go).
type IoUring interface {
	// IoUringSetup creates the ring with the sentry's restrictions.
	IoUringSetup(r Regs) Plan
	// IoUringRegister is the step of a register call that registers
	// restrictions or enables a ring the program created disabled.
	IoUringRegister(r Regs) Plan
}

// ioUringSetupCall: a Context that cannot restrict rings refuses them as
// a kernel without io_uring does.
func ioUringSetupCall(c Context, r Regs) Plan {
	if u, ok := c.(IoUring); ok {
		return u.IoUringSetup(r)
	}
	return refuse(unix.ENOSYS)
}

func ioUringRegisterCall(c Context, r Regs) Plan {
	if u, ok := c.(IoUring); ok {
		return u.IoUringRegister(r)
	}
	return ignore
}
