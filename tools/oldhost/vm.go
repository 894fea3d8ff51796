package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one boot of the guest.
type Config struct {
	// Kernel is the kernel image (bzImage) to boot; empty: FindKernel.
	Kernel string
	// Busybox is a statically linked busybox; empty: FindBusybox.
	Busybox string
	// Qemu is qemu-system-x86_64; empty: looked up in PATH.
	Qemu string
	// Files maps a path in the guest to a file on the host; each is copied
	// into the initramfs with its permission bits. Programs must be
	// statically linked (the guest has no libc): Run refuses an ELF file
	// with an interpreter.
	Files map[string]string
	// Script is run by the guest's busybox sh, in /tmp, with stdin
	// /dev/null, stdout and stderr pipes (not terminals) and PATH
	// /bin:/sbin:/usr/bin:/usr/sbin. Files it writes under $OLDHOST_OUT
	// come back in Output.Files.
	Script string
	// Memory is qemu's -m (default "1G"); CPUs its -smp (default 2).
	Memory string
	CPUs   int
	// Cmdline is appended to the kernel command line
	// "console=ttyS0 panic=-1 quiet".
	Cmdline string
	// Console, if set, receives a copy of the serial console (the kernel
	// log and /init's own lines) as it arrives.
	Console io.Writer
}

// Output is what one boot produced.
type Output struct {
	// Stdout and Stderr are the script's.
	Stdout, Stderr []byte
	// Status is the script's exit status as sh reports it (128+N when it
	// was killed by signal N).
	Status int
	// Files holds what the script left under $OLDHOST_OUT, by path
	// relative to it (regular files only).
	Files map[string][]byte
	// Release is the guest kernel's `uname -r`.
	Release string
	// Console is the whole serial console.
	Console string
	// Boot is the time from qemu's start to the start of the script;
	// Total the time until qemu exited.
	Boot, Total time.Duration
}

// Defaults of Config.
const (
	DefaultMemory  = "1G"
	DefaultCPUs    = 2
	baseCmdline    = "console=ttyS0 panic=-1 quiet"
	resultStatus   = "status"
	resultOutDir   = "out"
	consoleTailLen = 40
)

// Run boots the kernel in qemu (TCG: no KVM needed) with an initramfs made
// of busybox, cfg.Files and cfg.Script, runs the script and powers the guest
// off. It returns the script's outputs and exit status. The error is
// non-nil when the guest did not report a status: qemu failed to start or
// crashed, the kernel panicked, or ctx ended (qemu is then killed). The
// Output is non-nil even then, with the console so far. Run removes its
// temporary directory before returning.
func Run(ctx context.Context, cfg Config) (*Output, error) {
	start := time.Now()
	out := &Output{}
	var err error
	if cfg.Kernel == "" {
		if cfg.Kernel, err = FindKernel(); err != nil {
			return out, err
		}
	}
	if cfg.Busybox == "" {
		if cfg.Busybox, err = FindBusybox(); err != nil {
			return out, err
		}
	}
	if cfg.Qemu == "" {
		if cfg.Qemu, err = exec.LookPath(qemuName); err != nil {
			return out, fmt.Errorf("oldhost: %s not found (Debian: apt-get install qemu-system-x86): %w", qemuName, err)
		}
	}
	if cfg.Memory == "" {
		cfg.Memory = DefaultMemory
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = DefaultCPUs
	}

	dir, err := os.MkdirTemp("", "oldhost-")
	if err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	defer os.RemoveAll(dir)

	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	mark := "OLDHOST-" + hex.EncodeToString(nonce)
	initrd := filepath.Join(dir, "initrd.gz")
	if err := buildInitramfs(ctx, filepath.Join(dir, "root"), initrd, cfg, mark); err != nil {
		return out, err
	}
	if err := os.RemoveAll(filepath.Join(dir, "root")); err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}

	// The guest's serial ports: ttyS0 the console (qemu's stdout), ttyS1
	// the script's stdout, ttyS2 its stderr, ttyS3 a tar of the results
	// (status and $OLDHOST_OUT). Each is a file on the host.
	stdoutPath := filepath.Join(dir, "stdout")
	stderrPath := filepath.Join(dir, "stderr")
	resultPath := filepath.Join(dir, "result.tar")
	args := []string{
		"-accel", "tcg",
		// Every CPU feature TCG has (RDRAND seeds the guest's crng at
		// once), but 4-level paging, as on most hosts.
		"-cpu", "max,la57=off",
		"-m", cfg.Memory,
		"-smp", strconv.Itoa(cfg.CPUs),
		// -nographic without its multiplexed monitor on stdio.
		"-display", "none", "-vga", "none", "-monitor", "none",
		"-nic", "none",
		"-no-reboot",
		"-kernel", cfg.Kernel,
		"-initrd", initrd,
		"-append", strings.TrimSpace(baseCmdline + " " + cfg.Cmdline),
		"-serial", "stdio",
		"-serial", "file:" + stdoutPath,
		"-serial", "file:" + stderrPath,
		"-serial", "file:" + resultPath,
	}
	cmd := exec.Command(cfg.Qemu, args...)
	cmd.Stdin = nil // /dev/null
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	var qemuErr bytes.Buffer
	cmd.Stderr = &qemuErr
	// qemu dies with us (the test binary killed, ^C on the command).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	qemuStart := time.Now()
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("oldhost: starting %s: %w", cfg.Qemu, err)
	}

	var console consoleReader
	console.mark = mark
	console.tee = cfg.Console
	readDone := make(chan struct{})
	go func() {
		console.read(stdout, qemuStart)
		close(readDone)
	}()
	waitDone := make(chan error, 1)
	go func() {
		<-readDone // Wait closes the pipe: read it to the end first
		waitDone <- cmd.Wait()
	}()

	var waitErr error
	select {
	case waitErr = <-waitDone:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waitDone
		out.Console = console.String()
		out.Total = time.Since(start)
		return out, fmt.Errorf("oldhost: %w after %v: qemu killed; the console's last lines:\n%s",
			ctx.Err(), out.Total.Round(time.Millisecond), tail(out.Console, consoleTailLen))
	}
	out.Total = time.Since(start)
	out.Console = console.String()
	out.Release, out.Boot = console.release, console.boot
	if waitErr != nil {
		return out, fmt.Errorf("oldhost: %s: %v\n%s\nthe console's last lines:\n%s", qemuName, waitErr,
			strings.TrimSpace(qemuErr.String()), tail(out.Console, consoleTailLen))
	}
	if out.Stdout, err = os.ReadFile(stdoutPath); err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	if out.Stderr, err = os.ReadFile(stderrPath); err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	result, err := os.ReadFile(resultPath)
	if err != nil {
		return out, fmt.Errorf("oldhost: %w", err)
	}
	status, files, err := parseResult(result)
	if err != nil {
		return out, fmt.Errorf("oldhost: the guest reported no result (%v): did the kernel panic or the script kill /init? The console's last lines:\n%s",
			err, tail(out.Console, consoleTailLen))
	}
	out.Status, out.Files = status, files
	return out, nil
}

// consoleReader collects the console and watches for /init's begin line.
type consoleReader struct {
	mark string
	tee  io.Writer

	mu      sync.Mutex
	buf     bytes.Buffer
	release string
	boot    time.Duration
}

func (c *consoleReader) read(r io.Reader, start time.Time) {
	var line []byte
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			data := chunk[:n]
			if c.tee != nil {
				_, _ = c.tee.Write(data)
			}
			c.mu.Lock()
			c.buf.Write(data)
			c.mu.Unlock()
			for _, b := range data {
				if b != '\n' {
					line = append(line, b)
					continue
				}
				c.line(strings.TrimRight(string(line), "\r"), start)
				line = line[:0]
			}
		}
		if err != nil {
			return
		}
	}
}

// line handles one console line: "MARK begin RELEASE" is printed by /init
// just before it starts the script.
func (c *consoleReader) line(l string, start time.Time) {
	rest, ok := strings.CutPrefix(l, c.mark+" begin ")
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.release == "" {
		c.release = strings.TrimSpace(rest)
		c.boot = time.Since(start)
	}
}

func (c *consoleReader) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ReplaceAll(c.buf.String(), "\r\n", "\n")
}

// parseResult reads the tar that /init writes to ttyS3: "status" (the
// script's exit status) and "out/..." (the files under $OLDHOST_OUT).
func parseResult(data []byte) (int, map[string][]byte, error) {
	if len(data) == 0 {
		return 0, nil, errors.New("empty result stream")
	}
	tr := tar.NewReader(bytes.NewReader(data))
	status := -1
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("result stream: %w", err)
		}
		name := strings.TrimPrefix(filepath.Clean(h.Name), "./")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return 0, nil, fmt.Errorf("result stream: %s: %w", name, err)
		}
		switch {
		case name == resultStatus:
			status, err = strconv.Atoi(strings.TrimSpace(string(body)))
			if err != nil {
				return 0, nil, fmt.Errorf("result stream: status %q: %w", body, err)
			}
		case strings.HasPrefix(name, resultOutDir+"/"):
			files[strings.TrimPrefix(name, resultOutDir+"/")] = body
		}
	}
	if status < 0 {
		return 0, nil, errors.New("no status in the result stream")
	}
	return status, files, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
