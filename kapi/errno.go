package kapi

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoCodes maps errno names to their numbers: the userspace ones, their
// aliases, and the kernel-internal restart codes specs mention.
var errnoCodes = sync.OnceValue(func() map[string]int {
	m := map[string]int{
		"EWOULDBLOCK":           int(unix.EWOULDBLOCK),
		"EDEADLOCK":             int(unix.EDEADLOCK),
		"ENOTSUP":               int(unix.ENOTSUP),
		"ERESTARTSYS":           512,
		"ERESTARTNOINTR":        513,
		"ERESTARTNOHAND":        514,
		"ENOIOCTLCMD":           515,
		"ERESTART_RESTARTBLOCK": 516,
	}
	for e := 1; e < 256; e++ {
		if name := unix.ErrnoName(syscall.Errno(e)); name != "" {
			m[name] = e
		}
	}
	return m
})

// errnoCode returns -N for the errno named name, as the kernel returns it,
// or 0 when the name is unknown.
func errnoCode(name string) int {
	return -errnoCodes()[name]
}
