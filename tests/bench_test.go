package tests

// Benchmarks: native vs madvisor for the foundation issue's workloads.
// The C programs are tools/bench's (tools/bench/csrc/*.c, read from disk,
// not imported); each runs b.N iterations of its loop and prints the loop's
// own elapsed time, reported here as the "loop-ns/op" metric (ns/op also
// counts process start-up). No timing is asserted.
//
//	go test ./tests -run '^$' -bench . -benchtime 200000x

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	benchBuildMu sync.Mutex
	benchBuilt   = map[string]string{}
)

// benchProgram compiles tools/bench/csrc/NAME.c with gcc -O2 once.
func benchProgram(b *testing.B, name string) string {
	b.Helper()
	benchBuildMu.Lock()
	defer benchBuildMu.Unlock()
	if p, ok := benchBuilt[name]; ok {
		return p
	}
	src, err := filepath.Abs(filepath.Join("..", "tools", "bench", "csrc", name+".c"))
	require.NoError(b, err)
	exe := filepath.Join(workDir, "bench_"+name)
	out, err := exec.Command("gcc", "-O2", "-Wall", "-o", exe, src).CombinedOutput()
	require.NoError(b, err, "gcc %s:\n%s", src, out)
	benchBuilt[name] = exe
	return exe
}

// runSelfTimed runs argv and returns the elapsed_ns it printed.
func runSelfTimed(b *testing.B, argv []string) time.Duration {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%q: %v\n%s%s", argv, err, stdout.String(), stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "elapsed_ns" {
			ns, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(b, err)
			return time.Duration(ns)
		}
	}
	b.Fatalf("%q printed no elapsed_ns line:\n%s%s", argv, stdout.String(), stderr.String())
	return 0
}

func benchC(b *testing.B, name string, sandboxed bool) {
	exe := benchProgram(b, name)
	argv := []string{exe, strconv.Itoa(b.N)}
	if sandboxed {
		argv = append([]string{madvisorBin, "run", "--"}, argv...)
	}
	b.ResetTimer()
	loop := runSelfTimed(b, argv)
	b.ReportMetric(float64(loop.Nanoseconds())/float64(b.N), "loop-ns/op")
}

func BenchmarkGetppidNative(b *testing.B)   { benchC(b, "getppid", false) }
func BenchmarkGetppidMadvisor(b *testing.B) { benchC(b, "getppid", true) }

func BenchmarkMadviseDontneedNative(b *testing.B)   { benchC(b, "madvise", false) }
func BenchmarkMadviseDontneedMadvisor(b *testing.B) { benchC(b, "madvise", true) }

func BenchmarkMmapMunmapNative(b *testing.B)   { benchC(b, "mmap", false) }
func BenchmarkMmapMunmapMadvisor(b *testing.B) { benchC(b, "mmap", true) }

// gccBenchSource writes a 2,000-line C file (many small functions with
// loops and switches, enough for gcc -O2 to work on) and returns its path.
func gccBenchSource(b *testing.B) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("/* 2,000 lines for gcc -O2 */\n")
	lines := 1
	for i := 0; lines+10 <= 2000; i++ {
		fmt.Fprintf(&sb, "long g%d(const long *a, long n) {\n\tlong s = %d;\n\tfor (long j = 0; j < n; j++) {\n", i, i)
		fmt.Fprintf(&sb, "\t\tif ((a[j] ^ %d) & 1)\n\t\t\ts += a[j] * %d;\n\t\telse\n\t\t\ts ^= a[j] >> %d;\n\t}\n", i, i%13+2, i%7+1)
		fmt.Fprintf(&sb, "\treturn s;\n}\n")
		lines += 10
	}
	for ; lines < 2000; lines++ {
		fmt.Fprintf(&sb, "const int pad%d = %d;\n", lines, lines)
	}
	path := filepath.Join(b.TempDir(), "gen2000.c")
	require.NoError(b, os.WriteFile(path, []byte(sb.String()), 0o644))
	return path
}

func benchGcc(b *testing.B, sandboxed bool) {
	src := gccBenchSource(b)
	argv := []string{"gcc", "-O2", "-c", "-o", src + ".o", src}
	if sandboxed {
		argv = append([]string{madvisorBin, "run", "--"}, argv...)
	}
	b.ResetTimer()
	for range b.N {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			b.Fatalf("%q: %v\n%s", argv, err, out)
		}
	}
}

func BenchmarkGccO2Native(b *testing.B)   { benchGcc(b, false) }
func BenchmarkGccO2Madvisor(b *testing.B) { benchGcc(b, true) }
