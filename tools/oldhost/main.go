// Command oldhost boots an older Linux kernel in qemu and runs a command or
// a shell script in it: madvisor's "older host" test bed (issue 5). By
// default it boots Debian's 6.1 cloud kernel (/boot/vmlinuz-6.1.*, from
// bookworm's linux-image-cloud-amd64), a kernel without guard regions,
// mseal or PROCMAP_QUERY.
//
//	oldhost [flags] [--] COMMAND [ARGS...]
//	oldhost [flags] -script FILE
//	oldhost -check
//
// For example, madvisor and a test program on Linux 6.1:
//
//	CGO_ENABLED=0 go build -o /tmp/madvisor ./tools/madvisor
//	gcc -static -o /tmp/hello tests/testdata/hello.c
//	go run ./tools/oldhost -file /tmp/madvisor -file /tmp/hello -- madvisor run -- hello
//
// The guest is qemu-system-x86_64 -accel tcg (no KVM needed; Linux 6.1 boots
// in about 5 s) with 1 GiB and 2 CPUs, booted from an initramfs made at run
// time of a static busybox, the -file files and /init. /init mounts /proc,
// /sys, /dev (devtmpfs), /dev/shm and /tmp (tmpfs), runs the command in
// /tmp with stdin /dev/null and stdout and stderr on pipes, and powers off.
// The command's stdout and stderr are oldhost's, and its exit status
// oldhost's; oldhost's own failures (qemu or the kernel missing, a kernel
// panic, the timeout) exit 125 with a message starting "oldhost: ". Files
// the command writes under $OLDHOST_OUT in the guest are copied to -out.
// Programs put in the guest must be statically linked: it has no libc.
//
// Flags:
//
//	-kernel PATH        kernel image (default $OLDHOST_KERNEL, else the newest /boot/vmlinuz-6.1.*)
//	-file [GUEST=]HOST  copy HOST into the guest at GUEST (default /bin/BASENAME); repeatable
//	-script FILE        run FILE with the guest's sh instead of a command ("-": stdin)
//	-out DIR            write what the guest left in $OLDHOST_OUT to DIR
//	-timeout D          kill qemu after D (default 5m)
//	-m SIZE, -smp N     guest memory (1G) and CPUs (2)
//	-append ARGS        more kernel command line ("console=ttyS0 panic=-1 quiet" always)
//	-console FILE       write the serial console (kernel log) to FILE; "-": stderr, live
//	-v                  print the kernel release, boot and total times on stderr
//	-check              print the kernel, busybox, qemu and cpio that would be used; exit 1 if one is missing
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// fileFlags collects repeated -file flags.
type fileFlags map[string]string

func (f fileFlags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f fileFlags) Set(v string) error {
	guest, host, ok := strings.Cut(v, "=")
	if !ok {
		host = v
		guest = "/bin/" + filepath.Base(v)
	}
	if host == "" || guest == "" {
		return fmt.Errorf("want [GUEST=]HOST, got %q", v)
	}
	if _, dup := f[guest]; dup {
		return fmt.Errorf("guest path %s given twice", guest)
	}
	f[guest] = host
	return nil
}

const statusFailure = 125

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oldhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: oldhost [flags] [--] COMMAND [ARGS...]\n       oldhost [flags] -script FILE\n       oldhost -check\n"+
			"Boots an older Linux (default: Debian's 6.1, %s) in qemu and runs the command in it.\n", kernelGlob)
		fs.PrintDefaults()
	}
	files := fileFlags{}
	var (
		kernel  = fs.String("kernel", "", "kernel image (default $OLDHOST_KERNEL, else the newest "+kernelGlob+")")
		script  = fs.String("script", "", "run this file with the guest's sh instead of a command (\"-\": stdin)")
		outDir  = fs.String("out", "", "write what the guest left in $OLDHOST_OUT to this directory")
		timeout = fs.Duration("timeout", 5*time.Minute, "kill qemu after this long")
		mem     = fs.String("m", DefaultMemory, "guest memory")
		cpus    = fs.Int("smp", DefaultCPUs, "guest CPUs")
		extra   = fs.String("append", "", "more kernel command line")
		console = fs.String("console", "", "write the serial console to this file (\"-\": stderr, live)")
		verbose = fs.Bool("v", false, "print the kernel release, boot and total times on stderr")
		check   = fs.Bool("check", false, "print the kernel, busybox, qemu and cpio that would be used; exit 1 if one is missing")
	)
	fs.Var(files, "file", "copy `[GUEST=]HOST` into the guest (default GUEST: /bin/BASENAME); repeatable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *check {
		return runCheck(*kernel, stdout, stderr)
	}
	cfg := Config{Kernel: *kernel, Files: files, Memory: *mem, CPUs: *cpus, Cmdline: *extra}
	switch {
	case *script != "" && fs.NArg() > 0:
		fmt.Fprintln(stderr, "oldhost: give a command or -script, not both")
		return 2
	case *script == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "oldhost: reading the script: %v\n", err)
			return 2
		}
		cfg.Script = string(b)
	case *script != "":
		b, err := os.ReadFile(*script)
		if err != nil {
			fmt.Fprintf(stderr, "oldhost: %v\n", err)
			return 2
		}
		cfg.Script = string(b)
	case fs.NArg() > 0:
		cfg.Script = "exec " + shellQuote(fs.Args()) + "\n"
	default:
		fs.Usage()
		return 2
	}
	switch *console {
	case "":
	case "-":
		cfg.Console = stderr
	default:
		f, err := os.Create(*console)
		if err != nil {
			fmt.Fprintf(stderr, "oldhost: %v\n", err)
			return 2
		}
		defer f.Close()
		cfg.Console = f
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	out, err := Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timeout (-timeout %v): %w", *timeout, err)
		}
		fmt.Fprintln(stderr, err)
		return statusFailure
	}
	_, _ = stdout.Write(out.Stdout)
	_, _ = stderr.Write(out.Stderr)
	if *outDir != "" {
		if err := writeFiles(*outDir, out.Files); err != nil {
			fmt.Fprintf(stderr, "oldhost: -out: %v\n", err)
			return statusFailure
		}
	}
	if *verbose {
		fmt.Fprintf(stderr, "oldhost: Linux %s: booted in %v, %v in all, exit status %d\n",
			out.Release, out.Boot.Round(time.Millisecond), out.Total.Round(time.Millisecond), out.Status)
	}
	return out.Status
}

// runCheck prints what a run would use.
func runCheck(kernel string, stdout, stderr io.Writer) int {
	ok := true
	report := func(what, p string, err error) {
		if err != nil {
			ok = false
			fmt.Fprintf(stderr, "%s: missing: %v\n", what, err)
			return
		}
		fmt.Fprintf(stdout, "%s: %s\n", what, p)
	}
	var err error
	if kernel == "" {
		kernel, err = FindKernel()
	} else {
		_, err = os.Stat(kernel)
	}
	report("kernel", kernel, err)
	bb, err := FindBusybox()
	report("busybox", bb, err)
	q, err := exec.LookPath(qemuName)
	if err != nil {
		err = fmt.Errorf("%w (Debian: apt-get install qemu-system-x86)", err)
	}
	report("qemu", q, err)
	c, err := exec.LookPath("cpio")
	if err != nil {
		err = fmt.Errorf("%w (Debian: apt-get install cpio)", err)
	}
	report("cpio", c, err)
	if !ok {
		return 1
	}
	return 0
}

// writeFiles writes files (relative paths) under dir.
func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("the guest returned a file outside $OLDHOST_OUT: %q", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes args for sh.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
