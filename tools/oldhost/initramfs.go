package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

const qemuName = "qemu-system-x86_64"

// kernelGlob is where Debian's 6.1 kernel packages put the image
// (linux-image-cloud-amd64 on bookworm, or any
// linux-image-6.1.0-N-{cloud-,}amd64{,-unsigned}).
const kernelGlob = "/boot/vmlinuz-6.1.*"

// FindKernel returns $OLDHOST_KERNEL, or else the newest /boot/vmlinuz-6.1.*
// (by ABI number: 6.1.0-56 after 6.1.0-9).
func FindKernel() (string, error) {
	if k := os.Getenv("OLDHOST_KERNEL"); k != "" {
		if _, err := os.Stat(k); err != nil {
			return "", fmt.Errorf("oldhost: OLDHOST_KERNEL: %w", err)
		}
		return k, nil
	}
	matches, err := filepath.Glob(kernelGlob)
	if err != nil {
		return "", err
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("oldhost: no kernel image %s (Debian bookworm: apt-get install linux-image-cloud-amd64; or set OLDHOST_KERNEL)", kernelGlob)
	}
	sort.Slice(matches, func(i, j int) bool { return naturalLess(matches[i], matches[j]) })
	return matches[len(matches)-1], nil
}

// naturalLess orders strings with their digit runs compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func splitDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// FindBusybox returns $OLDHOST_BUSYBOX, or else the first statically
// linked busybox among PATH's, /bin/busybox and /usr/bin/busybox.
func FindBusybox() (string, error) {
	if b := os.Getenv("OLDHOST_BUSYBOX"); b != "" {
		if err := checkStatic(b); err != nil {
			return "", fmt.Errorf("oldhost: OLDHOST_BUSYBOX: %w", err)
		}
		return b, nil
	}
	var candidates []string
	if p, err := exec.LookPath("busybox"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/bin/busybox", "/usr/bin/busybox")
	var problems []string
	for _, c := range candidates {
		if _, err := os.Stat(c); err != nil {
			continue
		}
		if err := checkStatic(c); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return c, nil
	}
	msg := "oldhost: no statically linked busybox (Debian: apt-get install busybox-static; or set OLDHOST_BUSYBOX)"
	if len(problems) > 0 {
		msg += ": " + strings.Join(problems, "; ")
	}
	return "", errors.New(msg)
}

// checkStatic fails for an ELF file that needs a dynamic loader: the guest
// has none. Other files (scripts, data) pass.
func checkStatic(file string) error {
	magic := make([]byte, len(elf.ELFMAG))
	r, err := os.Open(file)
	if err != nil {
		return err
	}
	n, _ := io.ReadFull(r, magic)
	r.Close()
	if string(magic[:n]) != elf.ELFMAG {
		return nil // not ELF
	}
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the guest has no libc (build it with gcc -static, or CGO_ENABLED=0 for Go)", file)
		}
	}
	return nil
}

// reserved are the guest paths that /init and busybox own.
var reserved = []string{"/init", "/oldhost", "/bin/busybox", "/proc", "/sys", "/dev", "/tmp"}

// guestPath validates a guest path and returns it relative to the root.
func guestPath(p string) (string, error) {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return "", fmt.Errorf("oldhost: guest path %q: want a clean absolute path to a file", p)
	}
	for _, r := range reserved {
		if p == r || strings.HasPrefix(p, r+"/") {
			return "", fmt.Errorf("oldhost: guest path %q: %s belongs to the initramfs's /init", p, r)
		}
	}
	return p[1:], nil
}

// initTemplate is the guest's /init. The console (ttyS0) gets only the
// kernel log and the two MARK lines; the script's stdout and stderr are
// pipes copied to ttyS1 and ttyS2, so the script sees no terminal, as under
// os/exec; ttyS3 carries a tar of its status and $OLDHOST_OUT. The last
// close of a tty waits until its output has left the UART, so everything is
// on the host before poweroff.
var initTemplate = template.Must(template.New("init").Parse(`#!/bin/busybox sh
# /init of an oldhost initramfs (madvisor's tools/oldhost).
/bin/busybox mkdir -p /proc /sys /dev /tmp /root /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root OLDHOST_OUT=/oldhost/result/out
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts "$OLDHOST_OUT"
mount -t tmpfs tmpfs /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
for t in 1 2 3; do stty -F /dev/ttyS$t raw -echo; done
mkfifo /oldhost/stdout /oldhost/stderr
cat /oldhost/stdout >/dev/ttyS1 &
o=$!
cat /oldhost/stderr >/dev/ttyS2 &
e=$!
echo "{{.Mark}} begin $(uname -r)"
(cd /tmp && exec sh /oldhost/script) >/oldhost/stdout 2>/oldhost/stderr </dev/null
echo $? >/oldhost/result/status
# A process the script left running may hold the pipes: wait 10 s at most.
(sleep 10; kill $o $e) 2>/dev/null &
w=$!
wait $o $e
kill $w 2>/dev/null
(cd /oldhost/result && tar -c status out) >/dev/ttyS3
echo "{{.Mark}} end status $(cat /oldhost/result/status)"
poweroff -f
`))

// buildInitramfs lays out the guest's root in root and writes it to
// initrd as a gzipped newc cpio archive (made by the cpio tool).
func buildInitramfs(ctx context.Context, root, initrd string, cfg Config, mark string) error {
	if err := checkStatic(cfg.Busybox); err != nil {
		return fmt.Errorf("oldhost: busybox: %w", err)
	}
	files := map[string]string{"bin/busybox": cfg.Busybox}
	for guest, host := range cfg.Files {
		rel, err := guestPath(guest)
		if err != nil {
			return err
		}
		if err := checkStatic(host); err != nil {
			return fmt.Errorf("oldhost: %w", err)
		}
		files[rel] = host
	}
	for rel, host := range files {
		if err := copyInto(filepath.Join(root, rel), host); err != nil {
			return err
		}
	}
	var initText bytes.Buffer
	if err := initTemplate.Execute(&initText, struct{ Mark string }{mark}); err != nil {
		return err
	}
	for name, f := range map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"init":           {initText.Bytes(), 0o755},
		"oldhost/script": {[]byte(cfg.Script), 0o644},
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("oldhost: %w", err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("oldhost: %w", err)
		}
	}

	var list bytes.Buffer
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		list.WriteString(rel)
		list.WriteByte(0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}

	out, err := os.Create(initrd)
	if err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	defer out.Close()
	bw := bufio.NewWriter(out)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	var cpioErr bytes.Buffer
	cmd := exec.CommandContext(ctx, "cpio", "--quiet", "--create", "--null", "--format=newc",
		"--owner=0:0", "--reproducible")
	cmd.Dir = root
	cmd.Stdin = &list
	cmd.Stdout = zw
	cmd.Stderr = &cpioErr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("oldhost: the cpio tool is needed (Debian: apt-get install cpio): %w", err)
		}
		return fmt.Errorf("oldhost: cpio: %w\n%s", err, cpioErr.String())
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	return out.Close()
}

// copyInto copies host to dst with host's permission bits (directories on
// the way are made).
func copyInto(dst, host string) error {
	in, err := os.Open(host)
	if err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("oldhost: %s is not a regular file", host)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("oldhost: copying %s: %w", host, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("oldhost: %w", err)
	}
	// The umask may have dropped bits; the guest sees the host's.
	return os.Chmod(dst, st.Mode().Perm())
}
