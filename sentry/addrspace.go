package sentry

import (
	"sync"
)

// AddressSpace is the sentry's handle on one address space: the shadow
// model and the lock that serializes the memory syscalls of every task that
// shares it.
type AddressSpace struct {
	// mu stands for mmap_lock: held for writing across a memory syscall's
	// host execution and model update.
	mu sync.RWMutex
}

// Lock write-locks the address space for task t.
func (as *AddressSpace) Lock(t *Task) {
	if as == nil {
		return
	}
	t.s.sched.Block(t, "mmap_lock write", as.mu.Lock)
}

// Unlock releases the write lock.
func (as *AddressSpace) Unlock(t *Task) {
	if as == nil {
		return
	}
	as.mu.Unlock()
}

// forkLocked returns the child's copy of the address space.
//
// Preconditions: t holds as for writing.
func (as *AddressSpace) forkLocked(t *Task) *AddressSpace {
	return &AddressSpace{}
}

// newAddressSpaceFromHost builds the model of t's process from the host's
// /proc/PID/maps (at exec).
func (s *Sandbox) newAddressSpaceFromHost(t *Task) *AddressSpace {
	return &AddressSpace{}
}
