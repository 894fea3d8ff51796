package sentry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// TestTrappedFileCalls: the per-fd filter traces the reads and writes the
// sentry answers but pread64 and pwrite64, which the main filter traces.
func TestTrappedFileCalls(t *testing.T) {
	assert.Equal(t, []uintptr{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV,
		unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_PREADV2, unix.SYS_PWRITEV2}, trappedFileCalls)
}
