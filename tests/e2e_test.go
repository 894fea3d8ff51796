package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHelloStatic(t *testing.T) {
	bin := cProgram(t, "hello", true)
	runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "hello, world"}, bin, "one", "two words")
}

func TestHelloDynamic(t *testing.T) {
	bin := cProgram(t, "hello", false)
	runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "hello, world"}, bin, "one", "two words")
}

// TestPathLookup runs a program by its bare name: madvisor looks it up in
// PATH like a shell does.
func TestPathLookup(t *testing.T) {
	bin := cProgram(t, "hello", false)
	t.Setenv("PATH", filepath.Dir(bin)+":"+os.Getenv("PATH"))
	runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "hello, world"}, filepath.Base(bin))
}

// TestThreadsMM: 8 threads mmap/mprotect/madvise/munmap concurrently.
func TestThreadsMM(t *testing.T) {
	for _, static := range []bool{false, true} {
		name := "dynamic"
		if static {
			name = "static"
		}
		t.Run(name, func(t *testing.T) {
			bin := cProgram(t, "threads_mm", static)
			// A short round first: it fails faster and more readably.
			runCompare(t, compareOpts{runOpts: runOpts{Timeout: 2 * time.Minute}, WantStatus: intp(0), WantStdout: "OK\n"},
				bin, "200")
			if t.Failed() {
				return
			}
			if testing.Short() {
				t.Skip("-short: skipping 10,000 iterations per thread")
			}
			// The size: 10,000 iterations in each of the 8 threads,
			// over 300,000 intercepted syscalls, each checked against
			// /proc/PID/maps.
			runCompare(t, compareOpts{runOpts: runOpts{Timeout: 15 * time.Minute}, WantStatus: intp(0), WantStdout: "OK\n"},
				bin, "10000")
		})
	}
}

// TestSegvDies: a program killed by SIGSEGV makes madvisor exit 128+11.
func TestSegvDies(t *testing.T) {
	for _, static := range []bool{false, true} {
		bin := cProgram(t, "segv_die", static)
		_, m := runCompare(t, compareOpts{WantStatus: intp(128 + 11), WantStdout: "about to fault"}, bin)
		require.False(t, m.Signaled, "madvisor must exit with status 139, not die of the signal itself")
	}
}

// TestSegvCaught: a SIGSEGV handler sees the same si_code and si_addr.
func TestSegvCaught(t *testing.T) {
	for _, static := range []bool{false, true} {
		bin := cProgram(t, "segv_catch", static)
		runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "SEGV_ACCERR"}, bin)
	}
}

// TestForkExecChain: fork, then exec of /proc/self/exe, four levels deep.
func TestForkExecChain(t *testing.T) {
	for _, static := range []bool{false, true} {
		bin := cProgram(t, "forkexec", static)
		runCompare(t, compareOpts{WantStatus: intp(7), WantStdout: "depth 4: child exited 7"}, bin, "4")
	}
}

// TestSpawn: posix_spawn (clone with CLONE_VM|CLONE_VFORK) and vfork.
func TestSpawn(t *testing.T) {
	for _, static := range []bool{false, true} {
		bin := cProgram(t, "spawn", static)
		runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "vfork: exited 5"}, bin)
	}
}

// TestCloneVM: a process sharing its parent's address space (CLONE_VM
// without CLONE_THREAD) maps and unmaps memory the parent then uses.
func TestCloneVM(t *testing.T) {
	for _, static := range []bool{false, true} {
		bin := cProgram(t, "clone_vm", static)
		runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "parent reads: x x"}, bin)
	}
}

func TestShellPipelines(t *testing.T) {
	sh := lookPathOrSkip(t, "sh")
	cases := []struct {
		name   string
		script string
		status int
	}{
		{"pipeline", "echo a | tr a b | cat", 0},
		{"nested", `sh -c 'sh -c "echo inner; exit 5"; echo "inner status $?"' ; echo outer`, 0},
		{"subshells", `(echo x; (echo y | sed s/y/z/)) | sort -r; echo "$(echo sub)"`, 0},
		{"stderr", `echo to-stderr >&2; ls /nonexistent-madvisor-test 2>&1 | wc -l >/dev/null; echo done`, 0},
		{"loop", `i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo $i | cat > /dev/null; done; echo $i`, 0},
		{"background", "sleep 1 & echo started", 0},
		{"background_wait", "sleep 1 & sleep 0.5 & wait; echo waited", 0},
		{"exit3", "exit 3", 3},
		{"false", "false", 1},
		{"killself", "kill -TERM $$", 128 + 15},
		{"killself_segv", "kill -SEGV $$", 128 + 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCompare(t, compareOpts{WantStatus: intp(c.status)}, sh, "-c", c.script)
		})
	}
}

// TestStdin: the program's stdin is madvisor's stdin.
func TestStdin(t *testing.T) {
	runCompare(t, compareOpts{runOpts: runOpts{Stdin: "line one\nline two\n"}, WantStatus: intp(0), WantStdout: "LINE TWO"},
		lookPathOrSkip(t, "sh"), "-c", "tr a-z A-Z; echo eof")
}

const goProgram = `package main

import (
	"fmt"
	"runtime"
	"sync"
)

// Each of 100 goroutines allocates slices of varying sizes, keeps some of
// them, and adds up what it wrote; the total depends only on the constants.
func main() {
	const workers = 100
	var wg sync.WaitGroup
	totals := make([]uint64, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var keep [][]byte
			for i := 0; i < 300; i++ {
				b := make([]byte, 1024*(1+(i*w)%64))
				for j := range b {
					b[j] = byte(i + j)
				}
				var s uint64
				for _, v := range b {
					s += uint64(v)
				}
				totals[w] += s
				if i%10 == 0 {
					keep = append(keep, b)
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
			totals[w] += uint64(len(keep))
		}(w)
	}
	wg.Wait()
	runtime.GC()
	var total uint64
	for _, v := range totals {
		total += v
	}
	fmt.Printf("goroutines=%d total=%d\n", workers, total)
}
`

// TestGoProgram: a Go program built at test time, 100 goroutines that
// allocate (the Go runtime's own mmap/madvise traffic, many threads).
func TestGoProgram(t *testing.T) {
	goBin := lookPathOrSkip(t, "go")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goroutines\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(goProgram), 0o644))
	bin := filepath.Join(dir, "goroutines")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	runCompare(t, compareOpts{runOpts: runOpts{Timeout: 3 * time.Minute}, WantStatus: intp(0), WantStdout: "goroutines=100 total="}, bin)
}

// python3 finds the real interpreter (not a pyenv shim script).
func python3(t *testing.T) string {
	t.Helper()
	p := lookPathOrSkip(t, "python3")
	out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output()
	if err == nil {
		if exe := strings.TrimSpace(string(out)); exe != "" {
			return exe
		}
	}
	return p
}

func TestPython(t *testing.T) {
	py := python3(t)
	t.Run("print", func(t *testing.T) {
		runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "42\n"}, py, "-c", "print(42)")
	})
	t.Run("allocate", func(t *testing.T) {
		script := `
import mmap
blocks = [bytearray(1000 + i % 5000) for i in range(100000)]
print(sum(len(b) for b in blocks))
del blocks
big = [bytes(1 << 20) for _ in range(64)]
print(len(big), sum(len(b) for b in big))
m = mmap.mmap(-1, 1 << 22)
m[0:5] = b"hello"
print(m[0:5].decode())
m.close()
`
		runCompare(t, compareOpts{runOpts: runOpts{Timeout: 2 * time.Minute}, WantStatus: intp(0), WantStdout: "hello"}, py, "-c", script)
	})
	t.Run("subprocess", func(t *testing.T) {
		script := `import subprocess, sys
r = subprocess.run([sys.executable, "-c", "import sys; print('child'); sys.exit(4)"], capture_output=True, text=True)
print(r.stdout.strip(), r.returncode)`
		runCompare(t, compareOpts{WantStatus: intp(0), WantStdout: "child 4"}, py, "-c", script)
	})
	t.Run("exception", func(t *testing.T) {
		runCompare(t, compareOpts{WantStatus: intp(1)}, py, "-c", "raise SystemExit('bye')")
	})
}

const gccSource = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item { int key; char name[16]; };

static int cmp(const void *a, const void *b) {
	return ((const struct item *)a)->key - ((const struct item *)b)->key;
}

int main(void) {
	struct item items[64];
	for (int i = 0; i < 64; i++) {
		items[i].key = (i * 37) % 64;
		snprintf(items[i].name, sizeof(items[i].name), "item%d", items[i].key);
	}
	qsort(items, 64, sizeof(items[0]), cmp);
	long sum = 0;
	for (int i = 0; i < 64; i++)
		sum += items[i].key * (long)strlen(items[i].name);
	printf("first=%s last=%s sum=%ld\n", items[0].name, items[63].name, sum);
	return 0;
}
`

// TestGccCompile: gcc is a multi-process tree (gcc -> cc1 -> as ->
// collect2 -> ld); compile under madvisor, then run the result.
func TestGccCompile(t *testing.T) {
	lookPathOrSkip(t, "gcc")
	sh := lookPathOrSkip(t, "sh")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prog.c"), []byte(gccSource), 0o644))
	for _, variant := range []struct{ name, flags string }{
		{"dynamic", "-O2"},
		{"static", "-O2 -static"},
	} {
		t.Run(variant.name, func(t *testing.T) {
			script := "rm -f prog && gcc " + variant.flags + " -Wall -o prog prog.c && ./prog"
			runCompare(t, compareOpts{runOpts: runOpts{Dir: dir, Timeout: 3 * time.Minute}, WantStatus: intp(0), WantStdout: "first=item0"},
				sh, "-c", script)
		})
	}
	t.Run("error", func(t *testing.T) {
		// A compile error: the diagnostics go to stderr, status 1.
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.c"), []byte("int main(void) { return undefined_name; }\n"), 0o644))
		runCompare(t, compareOpts{runOpts: runOpts{Dir: dir, Timeout: 3 * time.Minute}, WantStatus: intp(1)},
			"gcc", "-fno-diagnostics-color", "-c", "bad.c", "-o", "bad.o")
	})
}

// TestExitStatus: exit codes and death by signal propagate.
func TestExitStatus(t *testing.T) {
	sh := lookPathOrSkip(t, "sh")
	for _, c := range []struct {
		script string
		status int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
		{"kill -TERM $$", 143},
		{"kill -KILL $$", 137},
		{"ulimit -c 0; kill -ABRT $$", 134},
	} {
		_, m := runCompare(t, compareOpts{WantStatus: intp(c.status)}, sh, "-c", c.script)
		require.False(t, m.Signaled, "%q: madvisor must exit with status %d, not die of the signal itself", c.script, c.status)
	}
}

const goTestPackage = `package goexec

import (
	"os"
	"sync"
	"testing"
)

func TestAllocate(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
		}()
	}
	wg.Wait()
}

func TestMaybeFail(t *testing.T) {
	if os.Getenv("GOEXEC_FAIL") != "" {
		t.Fatal("failing on purpose")
	}
}
`

// TestGoTestExec: `go test -exec 'madvisor run --'` (the usage):
// the test binary runs under madvisor, and a failing test still fails.
// go test's output has timings, so only the outcome is compared.
func TestGoTestExec(t *testing.T) {
	goBin := lookPathOrSkip(t, "go")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goexec\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "goexec_test.go"), []byte(goTestPackage), 0o644))
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	for _, fail := range []bool{false, true} {
		runEnv := env
		want := 0
		if fail {
			runEnv = append(slices.Clone(env), "GOEXEC_FAIL=1")
			want = 1
		}
		r := runProgram(t, runOpts{Dir: dir, Env: runEnv, Timeout: 3 * time.Minute},
			goBin, "test", "-count=1", "-v", "-exec", madvisorBin+" run --check-maps --", ".")
		require.Equal(t, want, r.Status, "go test -exec madvisor (GOEXEC_FAIL=%v)\n%s", fail, r)
		require.Contains(t, r.Stdout, "--- PASS: TestAllocate", "%s", r)
		require.NotContains(t, r.Stdout+r.Stderr, "madvisor: ", "%s", r)
	}
	// Issue 14: go test -exec under --kapi-verify=panic, zero violations
	// (the Go runtime's own madvise calls are checked too).
	r := runProgram(t, runOpts{Dir: dir, Env: env, Timeout: 3 * time.Minute},
		goBin, "test", "-count=1", "-v", "-exec", madvisorBin+" run --kapi-verify=panic --", ".")
	require.Equal(t, 0, r.Status, "go test -exec 'madvisor run --kapi-verify=panic --'\n%s", r)
	require.Contains(t, r.Stdout, "--- PASS: TestAllocate", "%s", r)
	require.Regexp(t, `madvisor: kapi: [1-9]\d* call\(s\) checked against sys_madvise \(built-in\), 0 violation\(s\)`, r.Stdout+r.Stderr)
	require.NotContains(t, r.Stdout+r.Stderr, "kapi: WARNING", "%s", r)
}

// TestLockStress is issue 3's stress: 16 tasks (2 processes, so two private
// mms, of 8 threads sharing one) run mixed mmap / mprotect / madvise /
// munmap for 10 seconds under --lockdep=panic and --check-maps: no lockdep
// report, no maps difference, no lost update (the program checks its shared
// counter against its per-thread counts).
func TestLockStress(t *testing.T) {
	secs := "10"
	if testing.Short() {
		secs = "2"
	}
	bin := cProgram(t, "lock_stress", false)
	runCompare(t, compareOpts{
		runOpts:    runOpts{Timeout: 3 * time.Minute, MadvisorFlags: []string{"--check-maps", "--lockdep=panic"}},
		WantStatus: intp(0), WantStdout: "lock_stress OK\n",
	}, bin, secs)
}
