// Package verify checks intercepted madvise calls against a KAPI
// specification (`madvisor run --kapi-verify`): the kernel's CONFIG_KAPI
// runtime checks, outside the kernel and beyond argument checks.
//
// New compiles a kapi.Spec into rules once: the parameter constraints, the
// constraint: expressions (evaluated with package cexpr over the call's
// arguments and the model's VMAs), which errnos the spec lists, which
// locks it prescribes for which advice, the signal and capability
// sections, and the side effects the program can observe cheaply. Check
// then judges one call, as the model ran it, and returns what the call
// did that the spec does not allow.
//
// What is read from the spec and what is written here: every advice set
// (which advice a lock, constraint or side effect covers) is read from
// the MADV_* names in the spec's text; the conditions the spec states
// only in prose (an error's desc, VM_SPECIAL filters) are Go predicates
// in conditions.go, each citing the sentence it encodes.
package verify

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/kapi"
	"madvisor/lockdep"
	"madvisor/mm"
	"madvisor/syscalls"
)

// A Call is one madvise, or one iovec of process_madvise, as the model ran
// it.
type Call struct {
	Start, Len uint64
	Advice     int
	// Errno is the call's result: 0, the errno the program sees, or
	// mm.ERESTARTNOINTR for a transparent restart.
	Errno unix.Errno
	// Before are the model's VMAs that overlap [Start, Start+PAGE_ALIGN(Len))
	// when the call began, in address order; After the same range's VMAs
	// when it ended (needed only where ChecksAfter says so).
	Before, After []mm.VMA
	// Kconfig is the (emulated) kernel's configuration; SysAdmin the
	// caller's CAP_SYS_ADMIN; FatalSignal whether a fatal signal was
	// pending for the caller.
	Kconfig     mm.MadviseKconfig
	SysAdmin    bool
	FatalSignal bool
	// Remote is set for an iovec of process_madvise on another process's
	// address space.
	Remote bool
	// Locks are the lock operations of the model's step, in order; nil
	// when they were not recorded (the lock rules are then not checked).
	Locks []lockdep.Event
	// ReadWord, if set, reads the 8 bytes at addr of the program's memory
	// now (the discard side effect is checked with it).
	ReadWord func(addr uint64) (uint64, error)
}

// A Violation is one thing a call did that the spec does not allow.
type Violation struct {
	// Section is the spec section, as the spec titles it ("error:
	// EINVAL", "constraint: Page-aligned start", "lock: mm->mmap_lock
	// (read mode)"); Field the part of it ("condition", "expr",
	// "acquired").
	Section, Field string
	Expected, Got  string
	// Line is the section's line in the spec's source, 0 if unknown.
	Line int
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): expected %s, got %s", v.Section, v.Field, v.Expected, v.Got)
}

// FormatCall renders c as strace would: "madvise(0x7f0000000000, 4096,
// MADV_DONTNEED) = -1 EINVAL".
func FormatCall(c *Call) string {
	adv, ok := syscalls.AdviceName(int64(c.Advice))
	if !ok {
		adv = fmt.Sprint(c.Advice)
	}
	ret := "0"
	if c.Errno != 0 {
		ret = "-1 " + errnoName(c.Errno)
	}
	name := "madvise"
	if c.Remote {
		name = "process_madvise[remote iovec]"
	}
	return fmt.Sprintf("%s(%#x, %d, %s) = %s", name, c.Start, c.Len, adv, ret)
}

func errnoName(e unix.Errno) string {
	if e == mm.ERESTARTNOINTR {
		return "ERESTARTNOINTR"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// A Verifier holds a spec compiled into rules. It is not safe for
// concurrent use (the sentry's engine thread is its only user).
type Verifier struct {
	spec  *kapi.Spec
	rules rules
}

// New compiles spec. It fails when the spec cannot be checked against:
// an expr: that does not parse, or one that uses a name the verifier does
// not know how to bind.
func New(spec *kapi.Spec) (*Verifier, error) {
	r, err := compile(spec)
	if err != nil {
		return nil, fmt.Errorf("kapi: %s: %w", spec.Name, err)
	}
	return &Verifier{spec: spec, rules: r}, nil
}

// Spec returns the specification v checks against.
func (v *Verifier) Spec() *kapi.Spec { return v.spec }

// ChecksMemory reports whether a successful call of advice has a side
// effect Check reads from the program's memory (Call.ReadWord): the caller
// then checks it after the host's call.
func (v *Verifier) ChecksMemory(advice int) bool { return v.rules.zeroAdvice[advice] }

// ChecksAfter reports whether a successful call of advice is checked
// against the VMAs it leaves (Call.After): the caller may skip them
// otherwise.
func (v *Verifier) ChecksAfter(advice int) bool {
	return v.rules.flagAdvice[advice] || v.rules.guardAdvice[advice] || v.rules.zeroAdvice[advice]
}

// Check returns c's violations of the spec (none: nil).
func (v *Verifier) Check(c *Call) []Violation {
	ck := checker{r: &v.rules, c: c}
	ck.run()
	for i := range ck.out {
		ck.out[i].Line = v.sectionLine(ck.out[i].Section)
	}
	return ck.out
}

// sectionLine finds the line of a section named as Violation.Section
// names it ("lock: A, B" gives A's).
func (v *Verifier) sectionLine(section string) int {
	kind, title, _ := strings.Cut(section, ": ")
	title, _, _ = strings.Cut(title, ", ")
	s := v.spec
	switch kind {
	case "error":
		return lineOf(s.Errors, title, func(e *kapi.Error) (string, int) { return e.Errno, e.Line })
	case "constraint":
		return lineOf(s.Constraints, title, func(c *kapi.Constraint) (string, int) { return c.Name, c.Line })
	case "lock":
		return lineOf(s.Locks, title, func(l *kapi.Lock) (string, int) { return l.Name, l.Line })
	case "param":
		return lineOf(s.Params, title, func(p *kapi.Param) (string, int) { return p.Name, p.Line })
	case "signal":
		return lineOf(s.Signals, title, func(x *kapi.Signal) (string, int) { return x.Name, x.Line })
	case "capability":
		return lineOf(s.Capabilities, title, func(x *kapi.Capability) (string, int) { return x.Name, x.Line })
	case "side-effect":
		return lineOf(s.SideEffects, title, func(x *kapi.SideEffect) (string, int) { return x.Target, x.Line })
	}
	return 0
}

// lineOf returns the line of the item of items whose title (by key) is
// title, or 0.
func lineOf[T any](items []T, title string, key func(*T) (string, int)) int {
	for i := range items {
		if t, line := key(&items[i]); t == title {
			return line
		}
	}
	return 0
}

// checker is one Check in progress.
type checker struct {
	r   *rules
	c   *Call
	out []Violation
	// end is Start + PAGE_ALIGN(Len) (wrapped as the kernel computes it).
	end uint64
	// before is Call.Before without the [vsyscall] gate area.
	before []mm.VMA
	// broken are the constraints found false (checkConstraints).
	broken []*constraintRule
	// e is the names' binding, made once per check.
	e *env
	// argsOK: the argument checks pass (advice supported, start aligned,
	// no wrap, no non-zero length rounding to zero).
	argsOK bool
}

func (ck *checker) report(section, field, expected, got string) {
	ck.out = append(ck.out, Violation{Section: section, Field: field, Expected: expected, Got: got})
}

func (ck *checker) run() {
	c := ck.c
	ck.before = c.Before
	for i := range c.Before {
		if c.Before[i].Backing.Kind == mm.BackingVsyscall {
			// A gate area, not a VMA of the mm: madvise never
			// finds it.
			ck.before = slices.DeleteFunc(slices.Clone(c.Before), func(v mm.VMA) bool { return v.Backing.Kind == mm.BackingVsyscall })
			break
		}
	}
	ck.end = c.Start + pageAlign(c.Len)
	ck.argsOK = ck.r.supports(c.Advice, c.Kconfig) && c.Start&(pageSize-1) == 0 &&
		ck.end >= c.Start && !(c.Len != 0 && pageAlign(c.Len) == 0)
	ck.checkParams()
	ck.checkConstraints()
	ck.checkErrno()
	ck.checkCapabilities()
	ck.checkLocks()
	if c.Errno == 0 {
		ck.checkSideEffects()
	}
}

// got renders the call's result.
func (ck *checker) got() string {
	if ck.c.Errno == 0 {
		return "0"
	}
	return errnoName(ck.c.Errno)
}

// mustFail reports a violation unless the call failed with one of errnos
// (any errno when errnos is empty).
func (ck *checker) mustFail(section, field string, errnos []string) {
	if ck.c.Errno == 0 {
		ck.report(section, field, "the call fails"+errnoList(errnos), "0")
		return
	}
	if len(errnos) == 0 {
		return
	}
	for _, e := range errnos {
		if errnoName(ck.c.Errno) == e {
			return
		}
	}
	// Another error may legitimately come first (the walk stops at the
	// first failure); that error's own condition is checked by
	// checkErrno.
	if !ck.r.errnoExplained(ck, ck.c.Errno) {
		ck.report(section, field, "the call fails"+errnoList(errnos), ck.got())
	}
}

func errnoList(errnos []string) string {
	if len(errnos) == 0 {
		return ""
	}
	return " with " + strings.Join(errnos, " or ")
}
