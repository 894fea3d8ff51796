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

// siteSkip is the runtime.Callers skip that lands on the client's frame when
// callerSite is called from the internal function behind a public method:
// Callers, callerSite, internal, public method, client.
const siteSkip = 4

// callerSite returns the program counter of the client that called the
// public lock method.
func callerSite() uintptr {
	var pc [1]uintptr
	if runtime.Callers(siteSkip, pc[:]) == 0 {
		return 0
	}
	return pc[0]
}

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

// formatSite formats a single acquisition site from callerSite.
func formatSite(pc uintptr) string {
	if pc == 0 {
		return "(unknown)"
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return formatFrame(f)
}
