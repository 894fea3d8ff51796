package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNaturalLess(t *testing.T) {
	names := []string{
		"/boot/vmlinuz-6.1.0-56-cloud-amd64",
		"/boot/vmlinuz-6.1.0-9-cloud-amd64",
		"/boot/vmlinuz-6.1.0-10-amd64",
		"/boot/vmlinuz-6.1.0-56-amd64",
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	assert.Equal(t, []string{
		"/boot/vmlinuz-6.1.0-9-cloud-amd64",
		"/boot/vmlinuz-6.1.0-10-amd64",
		"/boot/vmlinuz-6.1.0-56-amd64",
		"/boot/vmlinuz-6.1.0-56-cloud-amd64",
	}, names)
	assert.False(t, naturalLess("a10", "a10"))
	assert.True(t, naturalLess("a", "a1"))
	assert.True(t, naturalLess("a007", "a8"))
}

func TestFindKernelEnv(t *testing.T) {
	k := filepath.Join(t.TempDir(), "bzImage")
	require.NoError(t, os.WriteFile(k, nil, 0o644))
	t.Setenv("OLDHOST_KERNEL", k)
	got, err := FindKernel()
	require.NoError(t, err)
	assert.Equal(t, k, got)
	t.Setenv("OLDHOST_KERNEL", k+".missing")
	_, err = FindKernel()
	assert.Error(t, err)
}

func TestFileFlags(t *testing.T) {
	f := fileFlags{}
	require.NoError(t, f.Set("/tmp/x/madvisor"))
	require.NoError(t, f.Set("/usr/local/bin/prog=/tmp/y/p"))
	assert.Equal(t, fileFlags{"/bin/madvisor": "/tmp/x/madvisor", "/usr/local/bin/prog": "/tmp/y/p"}, f)
	assert.Error(t, f.Set("/other/madvisor"), "a second /bin/madvisor")
	assert.Error(t, f.Set("/bin/z="))
}

func TestGuestPath(t *testing.T) {
	for p, want := range map[string]string{"/bin/madvisor": "bin/madvisor", "/a/b/c": "a/b/c"} {
		got, err := guestPath(p)
		require.NoError(t, err, p)
		assert.Equal(t, want, got)
	}
	for _, p := range []string{"bin/x", "/", "/a/../b", "/init", "/oldhost/script", "/bin/busybox", "/proc/x", "/tmp/f"} {
		_, err := guestPath(p)
		assert.Error(t, err, "guest path %q", p)
	}
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, `'madvisor' 'run' '--' 'a b' 'it'\''s'`, shellQuote([]string{"madvisor", "run", "--", "a b", "it's"}))
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755}))
			continue
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n]))}))
		_, err := tw.Write([]byte(files[n]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func TestParseResult(t *testing.T) {
	status, files, err := parseResult(tarOf(t, map[string]string{
		"status":        "3\n",
		"out/":          "",
		"out/a":         "A",
		"./out/d/b.txt": "B\n",
		"elsewhere":     "ignored",
	}))
	require.NoError(t, err)
	assert.Equal(t, 3, status)
	assert.Equal(t, map[string][]byte{"a": []byte("A"), "d/b.txt": []byte("B\n")}, files)

	_, _, err = parseResult(nil)
	assert.Error(t, err, "empty stream")
	_, _, err = parseResult(tarOf(t, map[string]string{"out/a": "A"}))
	assert.Error(t, err, "no status")
	_, _, err = parseResult(tarOf(t, map[string]string{"status": "x"}))
	assert.Error(t, err, "bad status")
	_, _, err = parseResult([]byte("not a tar stream, just text that is long enough to be read as a header block"))
	assert.Error(t, err, "garbage")
}

func TestCheckStatic(t *testing.T) {
	text := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	assert.NoError(t, checkStatic(text), "not ELF: fine")
	for _, p := range []string{"/bin/sh", "/bin/true", "/usr/bin/env"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := checkStatic(p); err != nil {
			assert.Contains(t, err.Error(), "dynamically linked")
			return
		}
	}
	t.Log("no dynamically linked program found to check the refusal with")
}

// TestBuildInitramfs unpacks the archive with the cpio tool and checks the
// layout: /init, busybox, the files with their modes, the script.
func TestBuildInitramfs(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "busybox")
	require.NoError(t, os.WriteFile(fake, []byte("not really busybox"), 0o755))
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o750))
	data := filepath.Join(dir, "data")
	require.NoError(t, os.WriteFile(data, []byte("data"), 0o600))
	cfg := Config{
		Busybox: fake,
		Files:   map[string]string{"/bin/prog": prog, "/etc/x/data": data},
		Script:  "echo hello\n",
	}
	initrd := filepath.Join(dir, "initrd.gz")
	require.NoError(t, buildInitramfs(context.Background(), filepath.Join(dir, "root"), initrd, cfg, "OLDHOST-test"))

	unpacked := filepath.Join(dir, "unpacked")
	require.NoError(t, os.Mkdir(unpacked, 0o755))
	cmd := exec.Command("sh", "-c", `gzip -dc "$1" | cpio --quiet -idm --no-absolute-filenames`, "sh", initrd)
	cmd.Dir = unpacked
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	for name, want := range map[string]struct {
		content string
		mode    os.FileMode
	}{
		"bin/busybox":    {"not really busybox", 0o755},
		"bin/prog":       {"#!/bin/sh\n", 0o750},
		"etc/x/data":     {"data", 0o600},
		"oldhost/script": {"echo hello\n", 0o644},
	} {
		p := filepath.Join(unpacked, name)
		b, err := os.ReadFile(p)
		require.NoError(t, err, name)
		assert.Equal(t, want.content, string(b), name)
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, want.mode, st.Mode().Perm(), "mode of %s", name)
	}
	init, err := os.ReadFile(filepath.Join(unpacked, "init"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(init), "#!/bin/busybox sh\n"))
	assert.Contains(t, string(init), `echo "OLDHOST-test begin $(uname -r)"`)
	assert.Contains(t, string(init), "poweroff -f")

	cfg.Files = map[string]string{"/init": prog}
	assert.Error(t, buildInitramfs(context.Background(), filepath.Join(dir, "root2"), initrd, cfg, "m"), "/init is reserved")
}

// needGuest skips unless a kernel, qemu, busybox and cpio are installed.
func needGuest(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := FindKernel(); err != nil {
		missing = append(missing, err.Error())
	}
	if _, err := FindBusybox(); err != nil {
		missing = append(missing, err.Error())
	}
	for _, p := range []string{qemuName, "cpio"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, err.Error())
		}
	}
	if len(missing) > 0 {
		t.Skipf("cannot boot a guest: %s", strings.Join(missing, "; "))
	}
}

// TestBoot boots the guest once through the command's own entry point:
// the script's stdout, stderr (pipes, not terminals), exit status and
// $OLDHOST_OUT files come back, and nothing is left in TMPDIR.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no qemu boot")
	}
	needGuest(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	require.NoError(t, os.WriteFile(script, []byte(`set -e
echo "kernel $(uname -r)"
[ -t 1 ] && echo "stdout is a tty" || echo "stdout is a pipe"
echo "pwd $(pwd)"
grep -q ' /proc proc ' /proc/mounts && echo "proc mounted"
grep -q ' /tmp tmpfs ' /proc/mounts && echo "tmp is tmpfs"
echo to-stderr >&2
mkdir -p "$OLDHOST_OUT/sub"
printf 'result\n' >"$OLDHOST_OUT/sub/r.txt"
head -c 70000 /dev/zero | tr '\0' 'x' >"$OLDHOST_OUT/big"
exit 3
`), 0o644))
	outDir := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	status := run([]string{"-timeout", "3m", "-v", "-out", outDir, "-script", script}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, 3, status, "exit status\n--- stdout ---\n%s--- stderr ---\n%s", stdout.String(), stderr.String())
	assert.Regexp(t, `^kernel \S+\nstdout is a pipe\npwd /tmp\nproc mounted\ntmp is tmpfs\n$`, stdout.String())
	assert.Regexp(t, `^to-stderr\noldhost: Linux \S+: booted in .*, exit status 3\n$`, stderr.String())
	b, err := os.ReadFile(filepath.Join(outDir, "sub", "r.txt"))
	require.NoError(t, err)
	assert.Equal(t, "result\n", string(b))
	b, err = os.ReadFile(filepath.Join(outDir, "big"))
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("x", 70000), string(b))
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "left in TMPDIR")
}

// TestRunTimeout: when the context ends, qemu is killed, the error says so
// and the temporary directory is gone.
func TestRunTimeout(t *testing.T) {
	needGuest(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := Run(ctx, Config{Script: "sleep 1000\n"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "error: %v", err)
	require.NotNil(t, out)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "left in TMPDIR")
	// No qemu still runs with our (removed) temporary directory.
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(tmp)) {
			t.Errorf("%s still runs: %q", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
