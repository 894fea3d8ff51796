//go:build !amd64

package lockdep

import "runtime"

// captureSite records where a lock is acquired (see the amd64 version); here
// it uses runtime.Callers.
//
//go:noinline
func captureSite(s *site) {
	runtime.Callers(2, s[:])
}
