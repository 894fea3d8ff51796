package lockdep

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"go.uber.org/atomic"
)

// ReportKind names a kind of problem the validator reports.
type ReportKind int

const (
	// CircularDependency: an acquisition closes a cycle in the learned
	// graph (an ABBA inversion, possibly through other locks).
	CircularDependency ReportKind = iota + 1
	// RecursiveLocking: a holder acquires a lock, or a lock of the same
	// class and subclass, that it already holds (readers included).
	RecursiveLocking
	// BadUnlockBalance: a holder releases a lock that nobody holds, or
	// releases it in the wrong mode.
	BadUnlockBalance
	// ForeignUnlock: a holder releases a lock that another holder holds.
	ForeignUnlock
	// HeldAtReturn: a holder returns to its tracee with locks held.
	HeldAtReturn
	// AssertionFailed: AssertHeld, AssertHeldW, AssertHeldR or
	// AssertNotHeld failed.
	AssertionFailed
	// PinnedRelease: a holder releases a lock that is pinned.
	PinnedRelease
	// BadPin: Pin or Unpin of a lock not held, or Unpin with a wrong cookie.
	BadPin
	// DeclaredOrderViolation: an acquisition contradicts DeclareOrder.
	DeclaredOrderViolation
	// BadDowngrade: downgrade of a lock that is not write-held.
	BadDowngrade
	// BadNesting: a scope is exited while a scope entered after it is
	// still open.
	BadNesting
)

var kindNames = map[ReportKind]string{
	CircularDependency:     "circular dependency",
	RecursiveLocking:       "recursive locking",
	BadUnlockBalance:       "bad unlock balance",
	ForeignUnlock:          "foreign unlock",
	HeldAtReturn:           "lock held at return",
	AssertionFailed:        "assertion failed",
	PinnedRelease:          "pinned release",
	BadPin:                 "bad pin",
	DeclaredOrderViolation: "declared order violation",
	BadDowngrade:           "bad downgrade",
	BadNesting:             "bad nesting",
}

func (k ReportKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ReportKind(%d)", int(k))
}

// A Report is one problem found by the validator. In Panic mode it is the
// panic value.
type Report struct {
	Kind ReportKind
	// Holder is the reporting holder, "name/id".
	Holder string
	// Text is the full report in the Linux lockdep layout.
	Text string
}

// Error returns the report text.
func (r *Report) Error() string { return r.Text }

var reports struct {
	count atomic.Int64
	mu    sync.Mutex
	// seen holds the keys of the reports already printed in Warn mode;
	// protected by mu.
	seen map[string]bool
}

// ReportCount returns how many problems have been found since the program
// started (repeats included; Warn prints each distinct problem once).
func ReportCount() int64 { return reports.count.Load() }

// emit delivers a report according to the mode. key identifies the problem
// for Warn-mode deduplication.
func emit(r *Report, key string) {
	reports.count.Inc()
	switch CurrentMode() {
	case Panic:
		panic(r)
	case Warn, Record:
		reports.mu.Lock()
		if reports.seen == nil {
			reports.seen = make(map[string]bool)
		}
		dup := reports.seen[key]
		reports.seen[key] = true
		reports.mu.Unlock()
		if dup {
			return
		}
		output.mu.Lock()
		w := output.w
		if w == nil {
			w = os.Stderr
		}
		_, _ = w.Write([]byte(r.Text))
		output.mu.Unlock()
	}
}

// rb builds a report.
type rb struct {
	strings.Builder
}

func (b *rb) f(format string, args ...any) { fmt.Fprintf(b, format, args...) }

func (b *rb) header(title string) {
	b.f("\n%s\n%s\n%s lockdep (madvisor), mode %s\n%s\n",
		strings.Repeat("=", len(title)), title, runtime.Version(), CurrentMode(), strings.Repeat("-", len(title)))
}

// lock writes "0xADDR (name){W}" for a lock instance (or the class alone).
func (b *rb) lock(m *Map, n *node, a Access) {
	if m != nil {
		b.f("%p ", m)
	}
	b.f("(%s)%s", n.name, a.mark())
}

func (b *rb) heldList(h *Holder) {
	switch len(h.held) {
	case 0:
		b.f("no locks held by %s.\n", h)
		return
	case 1:
		b.f("1 lock held by %s:\n", h)
	default:
		b.f("%d locks held by %s:\n", len(h.held), h)
	}
	for i := range h.held {
		e := &h.held[i]
		b.f(" #%d: ", i)
		b.lock(e.m, e.node, e.access)
		b.f(", at: %s", formatSite(&e.site))
		if len(e.pins) > 0 {
			b.f(" [pinned]")
		}
		b.f("\n")
	}
}

func (b *rb) backtrace() {
	b.f("\nstack backtrace:\n")
	writeStack(&b.Builder, captureStack(), "  ", 12)
}

func lockVerb(a Access) string {
	if a&Read != 0 {
		return "rlock"
	}
	return "lock"
}

func (h *Holder) newReport(kind ReportKind, b *rb) *Report {
	return &Report{Kind: kind, Holder: h.String(), Text: b.String()}
}

// acquiringWhileHolding writes the opening every ordering report shares:
// the lock being acquired (and where), and the lock already held.
func (b *rb) acquiringWhileHolding(h *Holder, held *heldLock, m *Map, n *node, a Access) {
	b.f("%s is trying to acquire lock:\n", h)
	b.lock(m, n, a)
	b.f(", at: %s\n\n", firstFrame(captureStack()))
	b.f("but task is already holding lock:\n")
	b.lock(held.m, held.node, held.access)
}

func (h *Holder) reportCircular(held *heldLock, m *Map, n *node, a Access, path []*edge) {
	var b rb
	b.header("WARNING: possible circular locking dependency detected")
	b.acquiringWhileHolding(h, held, m, n, a)
	b.f(", at: %s\n\n", formatSite(&held.site))
	b.f("and a dependency chain from the new lock back to the held one was already seen.\n\n")
	b.f("\nthe existing dependency chain (in reverse order) is:\n")
	for i := len(path) - 1; i >= 0; i-- {
		e := path[i]
		b.f("\n-> #%d (%s)%s:\n", i+1, e.to.name, e.access.mark())
		writeStack(&b.Builder, e.stack, "       ", 8)
		b.f("       [first seen in %s, holding %s]\n", e.by, e.from.name)
	}
	b.f("\n-> #0 (%s)%s:\n", n.name, a.mark())
	writeStack(&b.Builder, captureStack(), "       ", 8)

	b.f("\nother info that might help us debug this:\n\n")
	if len(path) > 1 {
		names := []string{n.name}
		for _, e := range path {
			names = append(names, e.to.name)
		}
		b.f("Chain exists of:\n  %s --> %s\n\n", strings.Join(names, " --> "), n.name)
	}
	// CPU1 holds the lock just before the held one in the chain and wants
	// the held one; CPU0 (this holder) holds that one and wants the new one.
	parent := path[len(path)-1].from
	parentAccess := Write
	if len(path) > 1 {
		parentAccess = path[len(path)-2].access
	}
	lastAccess := path[len(path)-1].access
	b.f(" Possible unsafe locking scenario:\n\n")
	b.f("       CPU0                    CPU1\n")
	b.f("       ----                    ----\n")
	b.f("  %s(%s);\n", lockVerb(held.access), held.node.name)
	b.f("                               %s(%s);\n", lockVerb(parentAccess), parent.name)
	b.f("                               %s(%s);\n", lockVerb(lastAccess), held.node.name)
	b.f("  %s(%s);\n", lockVerb(a), n.name)
	b.f("\n *** DEADLOCK ***\n\n")
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(CircularDependency, &b), "circular:"+held.node.name+">"+n.name)
}

func (h *Holder) reportDeclared(held *heldLock, m *Map, n *node, a Access, decl []*Class) {
	var b rb
	b.header("WARNING: lock acquired against the declared lock order")
	b.acquiringWhileHolding(h, held, m, n, a)
	b.f(", at: %s\n\n", formatSite(&held.site))
	b.f("and the declared order is:\n  %s\n", classPath(decl))
	b.f("\nother info that might help us debug this:\n\n")
	b.f(" Possible unsafe locking scenario:\n\n")
	b.f("       CPU0                    CPU1\n")
	b.f("       ----                    ----\n")
	b.f("  %s(%s);\n", lockVerb(held.access), held.node.name)
	b.f("                               lock(%s);\n", n.name)
	b.f("                               lock(%s);\n", held.node.name)
	b.f("  %s(%s);\n", lockVerb(a), n.name)
	b.f("\n *** DEADLOCK ***\n\n")
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(DeclaredOrderViolation, &b), "declared:"+held.node.name+">"+n.name)
}

func (h *Holder) reportRecursive(held *heldLock, m *Map, n *node, a Access) {
	var b rb
	b.header("WARNING: possible recursive locking detected")
	b.acquiringWhileHolding(h, held, m, n, a)
	b.f(", at: %s\n", formatSite(&held.site))
	if m != nil && held.m == m {
		b.f("\n(the same lock instance")
		if a&Read != 0 && held.access&Read != 0 {
			b.f("; readers are not recursive: a waiting writer blocks the second read")
		}
		b.f(")\n")
	}
	b.f("\nother info that might help us debug this:\n")
	b.f(" Possible unsafe locking scenario:\n\n")
	b.f("       CPU0\n")
	b.f("       ----\n")
	b.f("  %s(%s);\n", lockVerb(held.access), held.node.name)
	b.f("  %s(%s);\n", lockVerb(a), n.name)
	b.f("\n *** DEADLOCK ***\n\n")
	if m == nil || held.m != m {
		b.f(" May be due to missing lock nesting notation (subclass)\n\n")
	}
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(RecursiveLocking, &b), "recursive:"+held.node.name+">"+n.name)
}

func (h *Holder) reportBadUnlock(m *Map, a Access, e *heldLock) {
	var b rb
	b.header("WARNING: bad unlock balance detected!")
	name := "?"
	if m.class != nil {
		name = m.class.name
	}
	b.f("%s is trying to release lock (%s)%s at:\n", h, name, a.mark())
	b.f("%s\n", firstFrame(captureStack()))
	if e == nil {
		b.f("but there are no more locks to release!\n")
	} else {
		b.f("but it holds that lock %s, not %s!\n", e.access.mark(), a.mark())
	}
	b.f("\nother info that might help us debug this:\n")
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(BadUnlockBalance, &b), "unlock:"+name+":"+h.String())
}

func (h *Holder) reportForeign(m *Map, a Access, owner string) {
	var b rb
	b.header("WARNING: releasing a lock held by another task!")
	b.f("%s is trying to release lock %p (%s)%s at:\n", h, m, m.class.name, a.mark())
	b.f("%s\n", firstFrame(captureStack()))
	b.f("but the lock is held by %s, not by %s.\n", owner, h)
	b.f("\nother info that might help us debug this:\n")
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(ForeignUnlock, &b), "foreign:"+m.class.name+":"+h.String())
}

func (h *Holder) reportHeldAtReturn(where string) {
	var b rb
	b.header("WARNING: lock held when returning to user space!")
	b.f("%s is returning to its tracee (%s) with locks still held:\n", h, where)
	b.heldList(h)
	b.backtrace()
	key := "return:" + where
	for _, e := range h.held {
		key += ":" + e.node.name
	}
	emit(h.newReport(HeldAtReturn, &b), key)
}

func (h *Holder) reportAssert(m *Map, expect, got string) {
	var b rb
	b.header("WARNING: lock assertion failed!")
	b.f("%s expected %s lock %p (%s) at:\n", h, expect, m, m.class.name)
	b.f("%s\n", firstFrame(captureStack()))
	b.f("%s.\n\n", got)
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(AssertionFailed, &b), "assert:"+expect+":"+m.class.name+":"+firstFrame(captureStack()))
}

func (h *Holder) reportPinned(e *heldLock) {
	var b rb
	b.header("WARNING: releasing a pinned lock!")
	b.f("%s is trying to release lock ", h)
	b.lock(e.m, e.node, e.access)
	b.f(" at:\n%s\n", firstFrame(captureStack()))
	b.f("but it is pinned (%d pin(s)): the caller that pinned it expects it held.\n\n", len(e.pins))
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(PinnedRelease, &b), "pinned:"+e.node.name+":"+firstFrame(captureStack()))
}

func (h *Holder) reportBadPin(m *Map, op, why string) {
	var b rb
	b.header("WARNING: bad lock pin detected!")
	b.f("%s is trying to %s lock %p (%s) at:\n", h, op, m, m.class.name)
	b.f("%s\n", firstFrame(captureStack()))
	b.f("but %s.\n\n", why)
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(BadPin, &b), "pin:"+op+":"+m.class.name+":"+firstFrame(captureStack()))
}

func (h *Holder) reportBadDowngrade(m *Map, i int) {
	var b rb
	b.header("WARNING: bad downgrade detected!")
	b.f("%s is trying to downgrade lock %p (%s) at:\n", h, m, m.class.name)
	b.f("%s\n", firstFrame(captureStack()))
	if i < 0 {
		b.f("but it does not hold it.\n\n")
	} else {
		b.f("but it holds it {R}, not {W}.\n\n")
	}
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(BadDowngrade, &b), "downgrade:"+m.class.name+":"+firstFrame(captureStack()))
}

func (h *Holder) reportBadNesting(outer, inner *heldLock) {
	var b rb
	b.header("WARNING: bad scope nesting detected!")
	b.f("%s is trying to end scope ", h)
	b.lock(outer.m, outer.node, outer.access)
	b.f(" at:\n%s\n", firstFrame(captureStack()))
	b.f("but scope ")
	b.lock(inner.m, inner.node, inner.access)
	b.f(", entered at: %s\nafter it, is still open: scopes must end in reverse order.\n\n", formatSite(&inner.site))
	b.heldList(h)
	b.backtrace()
	emit(h.newReport(BadNesting, &b), "nesting:"+outer.node.name+":"+inner.node.name)
}
