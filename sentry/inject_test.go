package sentry

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/hostmm"
)

// The test binary doubles as the pre-exec stage.
func init() { MaybeRunStage() }

const injectProg = `
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
	long r = syscall(SYS_madvise, 0, 0, 1234);
	printf("pid+1000 %d\n", r == getpid() + 1000);
	char *p = (char *)syscall(SYS_madvise, 0, 0, 1235);
	printf("page %s\n", p);
	p[100] = 1; /* the injected mmap is real, writable memory */
	printf("errno %ld\n", syscall(SYS_madvise, 0, 0, 1236));
	return 0;
}
`

// TestInject answers made-up madvise advice by running host syscalls
// inside the tracee: getpid, then mmap plus a memory write the program
// reads back, then a result with no injection at all.
func TestInject(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "inject.c")
	bin := filepath.Join(dir, "inject")
	require.NoError(t, os.WriteFile(src, []byte(injectProg), 0o644))
	out, err := exec.Command(gcc, "-O2", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)

	stdout, err := os.CreateTemp(dir, "stdout")
	require.NoError(t, err)
	var log bytes.Buffer
	status, err := Run(Config{
		Path: bin, Argv: []string{bin}, Env: os.Environ(),
		Stdin: os.Stdin, Stdout: stdout, Stderr: os.Stderr, Log: &log,
		Emulate: func(nr uint64, args [6]uint64) func(tr hostmm.Tracee) int64 {
			if nr != unix.SYS_MADVISE {
				return nil
			}
			switch args[2] {
			case 1234:
				return func(tr hostmm.Tracee) int64 {
					// Two injections in a row: the second re-executes
					// the syscall instruction from the first's exit stop.
					pid, err := tr.Inject(unix.SYS_GETPID)
					if err != nil {
						return -int64(unix.EIO)
					}
					tid, err := tr.Inject(unix.SYS_GETTID)
					if err != nil || tid != pid {
						return -int64(unix.EIO)
					}
					return pid + 1000
				}
			case 1235:
				return func(tr hostmm.Tracee) int64 {
					addr, err := tr.Inject(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE,
						unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
					if err != nil || addr < 0 {
						return -int64(unix.ENOMEM)
					}
					if err := tr.WriteMem(uint64(addr), []byte("written by the sentry\x00")); err != nil {
						return -int64(unix.EFAULT)
					}
					return addr
				}
			case 1236:
				return func(hostmm.Tracee) int64 { return 77 }
			}
			return nil
		},
	})
	require.NoError(t, err)
	assert.Equal(t, 0, status, "exit status; log: %s", log.String())
	got, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	want := strings.Join([]string{"pid+1000 1", "page written by the sentry", "errno 77"}, "\n") + "\n"
	assert.Equal(t, want, string(got), fmt.Sprintf("log: %s", log.String()))
}
