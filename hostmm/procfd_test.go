package hostmm

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcFileLink(t *testing.T) {
	for _, c := range []struct {
		link string
		pid  int
		file string
		ok   bool
	}{
		{"/proc/12/mem", 12, "mem", true},
		{"/proc/12/pagemap", 12, "pagemap", true},
		{"/proc/12/task/13/mem", 12, "mem", true}, // a thread's: its process's mm
		{"/proc/12/task/13/smaps", 12, "smaps", true},
		{"/mnt/otherproc/7/maps", 7, "maps", true}, // procfs mounted elsewhere
		{"/proc/12/status", 0, "", false},
		{"/proc/self/mem", 0, "", false}, // never a link's target
		{"/proc/12/task/x/mem", 0, "", false},
		{"/proc/task/13/mem", 0, "", false},
		{"mem", 0, "", false},
	} {
		pid, file, ok := parseProcFileLink(c.link)
		assert.Equal(t, c.ok, ok, c.link)
		assert.Equal(t, c.pid, pid, c.link)
		assert.Equal(t, c.file, file, c.link)
	}
}

// TestProcFileOfFD: the kernel's own idea of an fd decides, however the
// file was opened; a regular file whose path looks like one is not.
func TestProcFileOfFD(t *testing.T) {
	self := os.Getpid()
	dir, err := os.Open("/proc/self")
	require.NoError(t, err)
	defer dir.Close()
	for _, open := range []func() (*os.File, error){
		func() (*os.File, error) { return os.Open("/proc/self/pagemap") },
		func() (*os.File, error) { return os.Open("//proc/./thread-self/pagemap") },
		func() (*os.File, error) { return os.Open(fmt.Sprintf("/proc/%d/task/%d/pagemap", self, self)) },
	} {
		f, err := open()
		require.NoError(t, err)
		pid, file, ok := ProcFileOfFD(self, int(f.Fd()))
		assert.True(t, ok)
		assert.Equal(t, self, pid)
		assert.Equal(t, "pagemap", file)
		f.Close()
	}
	fake := t.TempDir() + "/1/mem"
	require.NoError(t, os.MkdirAll(fake[:len(fake)-4], 0o755))
	require.NoError(t, os.WriteFile(fake, nil, 0o644))
	f, err := os.Open(fake)
	require.NoError(t, err)
	defer f.Close()
	_, _, ok := ProcFileOfFD(self, int(f.Fd()))
	assert.False(t, ok, "a regular file named like a /proc file")
}
