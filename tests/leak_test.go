package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// procInfo is what /proc/PID/stat says about a process.
type procInfo struct {
	pid, ppid int
	comm      string
	state     byte
}

// readProc parses /proc/PID/stat; ok is false when the process is gone.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	s := string(data)
	// comm is in parentheses and may contain spaces or parentheses.
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procInfo{}, false
	}
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 2 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	return procInfo{pid: pid, ppid: ppid, comm: s[open+1 : closing], state: fields[0][0]}, true
}

// descendants lists the live processes below pid.
func descendants(pid int) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procInfo{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, ok := readProc(p); ok {
			children[info.ppid] = append(children[info.ppid], info)
		}
	}
	var out []procInfo
	queue := []int{pid}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range children[cur] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// alive reports whether pid is a process that has not exited (a zombie
// has exited: it only waits for its parent to reap it).
func alive(pid int) bool {
	info, ok := readProc(pid)
	return ok && info.state != 'Z' && info.state != 'X'
}

// background is a madvisor run that the test controls by signals.
type background struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// startMadvisor starts `madvisor run [flags] -- argv` in its own process
// group; cleanup kills the group if the test leaves it running.
func startMadvisor(t *testing.T, flags []string, argv ...string) *background {
	t.Helper()
	args := append([]string{"run"}, flags...)
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.Command(madvisorBin, args...)
	b := &background{t: t, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = b.stderr
	cmd.Stderr = b.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	go func() {
		b.err = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	})
	return b
}

func (b *background) pid() int { return b.cmd.Process.Pid }

// fail dumps madvisor's task table (SIGUSR1), kills the group and fails.
func (b *background) fail(format string, args ...any) {
	b.t.Helper()
	select {
	case <-b.done:
	default:
		_ = syscall.Kill(b.pid(), syscall.SIGUSR1)
		time.Sleep(time.Second)
		_ = syscall.Kill(-b.pid(), syscall.SIGKILL)
		<-b.done
	}
	b.t.Fatalf("%s\n--- madvisor output ---\n%s", fmt.Sprintf(format, args...), b.stderr.String())
}

// waitForComm waits until a descendant of madvisor runs a program named
// comm and returns it.
func (b *background) waitForComm(comm string, count int) []procInfo {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var found []procInfo
		for _, d := range descendants(b.pid()) {
			if d.comm == comm && d.state != 'Z' {
				found = append(found, d)
			}
		}
		if len(found) >= count {
			return found
		}
		select {
		case <-b.done:
			b.fail("madvisor exited (%v) before %d %q process(es) started", b.err, count, comm)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.fail("no %d %q process(es) below madvisor (pid %d) after 30s; descendants: %v", count, comm, b.pid(), descendants(b.pid()))
	return nil
}

// waitExit waits up to d for madvisor to exit and returns its status as a
// shell reports it, and whether madvisor itself died of a signal.
func (b *background) waitExit(d time.Duration) (status int, signaled bool) {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		b.fail("madvisor did not exit within %v", d)
	}
	var exitErr *exec.ExitError
	switch {
	case b.err == nil:
		return 0, false
	case errors.As(b.err, &exitErr):
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ws.ExitStatus(), false
	case errors.Is(b.err, exec.ErrWaitDelay):
		return b.cmd.ProcessState.ExitCode(), false
	}
	b.t.Fatalf("waiting for madvisor: %v", b.err)
	return 0, false
}

// requireGone requires every one of procs to have exited within d.
func requireGone(t *testing.T, procs []procInfo, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var left []procInfo
		for _, p := range procs {
			if alive(p.pid) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			t.Fatalf("processes outlived madvisor by %v: %+v", d, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignalForwarded: SIGTERM/SIGINT/SIGHUP to madvisor reach the target;
// madvisor exits promptly with 128+N and the target is gone.
func TestSignalForwarded(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			b := startMadvisor(t, []string{"--check-maps"}, "sleep", "100")
			sleeps := b.waitForComm("sleep", 1)
			require.NoError(t, syscall.Kill(b.pid(), sig))
			status, signaled := b.waitExit(5 * time.Second)
			assert.Equal(t, 128+int(sig), status, "madvisor's exit status after %v\n%s", sig, b.stderr.String())
			assert.False(t, signaled, "madvisor must exit with 128+%d, not die of the signal itself", int(sig))
			requireGone(t, sleeps, 2*time.Second)
			// Nothing madvisor said: the target was killed quietly, as
			// natively.
			assert.Empty(t, b.stderr.String(), "madvisor output")
		})
	}
}

// TestSignalForwardedTree: SIGTERM to madvisor while a shell waits for a
// pipeline of sleeps: every process of the tree is gone afterwards.
func TestSignalForwardedTree(t *testing.T) {
	b := startMadvisor(t, nil, "sh", "-c", "sleep 100 | sleep 101; echo unreachable")
	sleeps := b.waitForComm("sleep", 2)
	tree := descendants(b.pid())
	require.NoError(t, syscall.Kill(b.pid(), syscall.SIGTERM))
	status, _ := b.waitExit(5 * time.Second)
	assert.NotZero(t, status, "madvisor's exit status after SIGTERM")
	requireGone(t, append(tree, sleeps...), 2*time.Second)
}

// TestSIGKILLKillsTree: SIGKILL of madvisor kills every tracee through
// PTRACE_O_EXITKILL, also a backgrounded grandchild that would outlive its
// shell natively.
func TestSIGKILLKillsTree(t *testing.T) {
	t.Run("sleep", func(t *testing.T) {
		b := startMadvisor(t, nil, "sleep", "100")
		sleeps := b.waitForComm("sleep", 1)
		require.NoError(t, syscall.Kill(b.pid(), syscall.SIGKILL))
		b.waitExit(5 * time.Second)
		requireGone(t, sleeps, 2*time.Second)
	})
	t.Run("tree", func(t *testing.T) {
		b := startMadvisor(t, nil, "sh", "-c", "sleep 100 & sleep 101 & wait")
		sleeps := b.waitForComm("sleep", 2)
		tree := descendants(b.pid())
		require.NoError(t, syscall.Kill(b.pid(), syscall.SIGKILL))
		b.waitExit(5 * time.Second)
		requireGone(t, append(tree, sleeps...), 2*time.Second)
	})
}

// TestNoChildLeftAfterExit: after a normal exit of a multi-process run, no
// process that madvisor started (directly or not, except what the program
// deliberately detached) is left running, and madvisor exits promptly.
func TestNoChildLeftAfterExit(t *testing.T) {
	bin := cProgram(t, "forkexec", false)
	b := startMadvisor(t, []string{"--check-maps"}, bin, "3")
	// Sample the tree while it runs, then check everything sampled is gone.
	var seen []procInfo
	for {
		seen = append(seen, descendants(b.pid())...)
		select {
		case <-b.done:
		case <-time.After(5 * time.Millisecond):
			continue
		}
		break
	}
	status, _ := b.waitExit(time.Second)
	assert.Equal(t, 7, status, "exit status\n%s", b.stderr.String())
	requireGone(t, seen, 2*time.Second)
}

// TestTaskTableDump: SIGUSR1 makes madvisor print its task table (the
// report that a timed-out test shows) and does not disturb the target.
func TestTaskTableDump(t *testing.T) {
	b := startMadvisor(t, nil, "sleep", "100")
	b.waitForComm("sleep", 1)
	require.NoError(t, syscall.Kill(b.pid(), syscall.SIGUSR1))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.stderr.String(), "madvisor: task") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Contains(t, b.stderr.String(), "madvisor: task", "task table after SIGUSR1")
	select {
	case <-b.done:
		t.Fatalf("madvisor exited after SIGUSR1: %v\n%s", b.err, b.stderr.String())
	default:
	}
	require.NoError(t, syscall.Kill(b.pid(), syscall.SIGTERM))
	status, _ := b.waitExit(5 * time.Second)
	assert.Equal(t, 143, status)
}
