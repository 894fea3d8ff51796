// Package hostmm is everything that touches a tracee's real host memory:
// the host side of the memory syscalls the sentry answers. It declares the
// small interface it needs from the sentry (Tracee) instead of importing
// it; the sentry implements it and hands it down.
package hostmm

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
}
