package sentry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// TestTrappedFileCalls: the per-fd filter traces the reads and writes the
// sentry answers but pread64 and pwrite64, which the main filter traces,
// and the copies of the fd (fcntl only for F_DUPFD and F_DUPFD_CLOEXEC).
func TestTrappedFileCalls(t *testing.T) {
	nrs := map[uintptr][]uint32{}
	for _, c := range trappedFileCalls {
		nrs[c.Nr] = c.Arg1
	}
	assert.Equal(t, map[uintptr][]uint32{
		unix.SYS_READ: nil, unix.SYS_WRITE: nil, unix.SYS_READV: nil, unix.SYS_WRITEV: nil,
		unix.SYS_PREADV: nil, unix.SYS_PWRITEV: nil, unix.SYS_PREADV2: nil, unix.SYS_PWRITEV2: nil,
		unix.SYS_DUP: nil, unix.SYS_DUP2: nil, unix.SYS_DUP3: nil,
		unix.SYS_FCNTL: {unix.F_DUPFD, unix.F_DUPFD_CLOEXEC},
	}, nrs)
}
