package hostmm

import "errors"

// Tracee is a tracee thread stopped in a syscall, in which host syscalls
// can run and whose memory can be read and written.
type Tracee interface {
	// Inject runs syscall nr with args inside the tracee, as if the tracee
	// had made it, and returns the raw result (a negative errno on
	// failure). The tracee's own syscall is left pending; the caller's
	// handler decides its result.
	Inject(nr uintptr, args ...uint64) (int64, error)
	// ReadMem and WriteMem access the tracee's memory, whatever its
	// protection.
	ReadMem(addr uint64, b []byte) error
	WriteMem(addr uint64, b []byte) error
	// Pid is the tracee's process id (whose /proc files describe its
	// memory); Tid its thread id.
	Pid() int
	Tid() int
	// WithScratch places data in the tracee's memory where no live data
	// is (below its stack's red zone) for injected calls that take
	// pointers, runs use with its address, and restores the bytes after.
	// It fails (ErrNoScratch) when there is no room.
	WithScratch(data []byte, use func(addr uint64) error) error
}

// ErrNoScratch is WithScratch's error when the thread's stack has no room
// for the data.
var ErrNoScratch = errors.New("no scratch room below the stack pointer")
