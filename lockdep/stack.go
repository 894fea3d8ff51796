package lockdep

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// pkgDir is the directory of this package's source, used to drop the
// validator's own frames from the stacks it prints.
var pkgDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}()

// site is where a lock was acquired: raw return addresses, innermost
// first, possibly starting inside the validator.
type site [4]uintptr

// captureStack returns the current stack as raw program counters.
func captureStack() []uintptr {
	pcs := make([]uintptr, 24)
	n := runtime.Callers(2, pcs)
	return pcs[:n]
}

// internalFrame reports whether f belongs to the validator itself (tests of
// this package are clients, not internals).
func internalFrame(f runtime.Frame) bool {
	return filepath.Dir(f.File) == pkgDir && !strings.HasSuffix(f.File, "_test.go")
}

// stopFrame reports whether f is the harness that runs the client code;
// frames from there on are noise.
func stopFrame(f runtime.Frame) bool {
	return f.Function == "runtime.goexit" || f.Function == "testing.tRunner" || f.Function == "runtime.main"
}

func shortFile(file string) string {
	dir, base := filepath.Split(file)
	return filepath.Join(filepath.Base(dir), base)
}

func formatFrame(f runtime.Frame) string {
	return fmt.Sprintf("%s+0x%x (%s:%d)", f.Function, f.PC-f.Entry, shortFile(f.File), f.Line)
}

// writeStack writes up to max client frames of pcs, one a line, each line
// prefixed by indent; leading validator frames are skipped.
func writeStack(b *strings.Builder, pcs []uintptr, indent string, max int) {
	if len(pcs) == 0 {
		fmt.Fprintf(b, "%s(no stack)\n", indent)
		return
	}
	frames := runtime.CallersFrames(pcs)
	leading := true
	n := 0
	for n < max {
		f, more := frames.Next()
		if stopFrame(f) {
			break
		}
		if leading && internalFrame(f) {
			if !more {
				break
			}
			continue
		}
		leading = false
		fmt.Fprintf(b, "%s%s\n", indent, formatFrame(f))
		n++
		if !more {
			break
		}
	}
}

// firstFrame formats the first client frame of pcs.
func firstFrame(pcs []uintptr) string {
	var b strings.Builder
	writeStack(&b, pcs, "", 1)
	return strings.TrimSpace(b.String())
}

// formatSite formats the first client frame of an acquisition site.
func formatSite(s *site) string {
	n := 0
	for n < len(s) && s[n] != 0 {
		n++
	}
	if n == 0 {
		return "(unknown)"
	}
	if f := firstFrame(s[:n]); f != "" {
		return f
	}
	return "(unknown)"
}
