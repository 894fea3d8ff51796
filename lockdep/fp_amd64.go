package lockdep

// fpCallers stores the return addresses of the caller's frame and the ones
// above it, by walking frame pointers, and returns how many it stored.
//
//go:noescape
func fpCallers(pcs []uintptr) int

// captureSite records where a lock is acquired: a few raw return addresses,
// resolved (and stripped of the validator's frames) only when printed. It
// costs a few loads, where runtime.Callers would unwind with tables.
//
//go:noinline
func captureSite(s *site) {
	fpCallers(s[:])
}
