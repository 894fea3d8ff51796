package lockdep

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"go.uber.org/atomic"
)

// Mode says what the validator does.
type Mode int32

const (
	// Off disables validation: lock operations go straight to the
	// underlying primitive after one atomic load of the mode.
	Off Mode = iota
	// Warn validates every operation, prints each distinct problem once to
	// the output writer (see SetOutput) and goes on.
	Warn
	// Panic validates every operation and panics with a *Report on the first
	// problem, before the offending operation takes effect.
	Panic
	// Record keeps the held-lock stacks and calls the holders' recorders
	// (Holder.SetRecorder) without checking the dependency graph: a
	// record of what each holder takes, at a fraction of Warn's cost
	// (madvisor's --kapi-verify). Stack problems are printed as in Warn.
	Record
)

// curMode is the global mode; it is read on every lock operation.
var curMode atomic.Int32

// SetMode sets the global mode and returns the previous one.
//
// Set the mode at start-up (or in a test, while no holder holds a lock): a
// lock taken while Off is not on any held stack, so releasing it after the
// mode was turned on is reported as a bad unlock balance.
func SetMode(m Mode) Mode {
	if m < Off || m > Record {
		panic(fmt.Sprintf("lockdep: SetMode(%d): no such mode", m))
	}
	return Mode(curMode.Swap(int32(m)))
}

// CurrentMode returns the global mode.
func CurrentMode() Mode { return Mode(curMode.Load()) }

// Enabled reports whether validation is on (mode Warn or Panic).
func Enabled() bool { return curMode.Load() != int32(Off) }

// String returns "off", "warn" or "panic".
func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Warn:
		return "warn"
	case Panic:
		return "panic"
	case Record:
		return "record"
	}
	return fmt.Sprintf("Mode(%d)", int32(m))
}

// ParseMode parses "off", "warn" or "panic" (case-insensitive), as a
// --lockdep flag would carry it.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off":
		return Off, nil
	case "warn":
		return Warn, nil
	case "panic":
		return Panic, nil
	}
	return Off, fmt.Errorf("lockdep: unknown mode %q (want off, warn or panic)", s)
}

// Set implements flag.Value, so a *Mode can be registered with flag.Var.
// It only parses; call SetMode to apply the value.
func (m *Mode) Set(s string) error {
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// output is where Warn reports go.
var output struct {
	mu sync.Mutex
	// w is protected by mu.
	w io.Writer
}

// SetOutput sets the writer that Warn reports are printed to and returns the
// previous one. nil means os.Stderr (the default).
func SetOutput(w io.Writer) io.Writer {
	output.mu.Lock()
	defer output.mu.Unlock()
	old := output.w
	if old == nil {
		old = os.Stderr
	}
	output.w = w
	return old
}
