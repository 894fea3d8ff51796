package verify

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/kapi"
	"madvisor/kapi/cexpr"
	"madvisor/lockdep"
	"madvisor/mm"
	"madvisor/syscalls"
)

const pageSize = 4096

func pageAlign(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// adviceSet is a set of advice values.
type adviceSet map[int]bool

// rules is a spec compiled for checking.
type rules struct {
	spec *kapi.Spec
	// behaviors are the advice the spec names (the behavior parameter's
	// MADV_* constants, listed in the long description).
	behaviors adviceSet
	// params are the parameter sections with a constraint the verifier
	// checks (page_aligned, range).
	params []paramRule
	// constraints are the constraint: sections with an expr:, and
	// supported the one without an expr that names the behavior
	// parameter ("Behavior must be supported"), if any.
	constraints []constraintRule
	supported   *kapi.Constraint
	locks       []lockRule
	signals     []signalRule
	caps        []capRule
	// filterFlags are the VM_* flags the EINVAL error's desc names as
	// filtered by some advice; filterAdvice the advice whose helpers it
	// names as returning EINVAL (faultin_page_range: POPULATE_*,
	// madvise_collapse_errno: COLLAPSE).
	filterFlags  mm.VMFlags
	filterAdvice adviceSet
	// discard is the discard subset the notes list (is_discard).
	discard adviceSet
	// restart are the advice the notes allow to return -ERESTARTNOINTR.
	restart adviceSet
	// flagAdvice, zeroAdvice and guardAdvice are the advice of the side
	// effects checked after a successful call: VMA flags, discarded
	// private anonymous pages reading zero, guard markers.
	flagAdvice, zeroAdvice, guardAdvice adviceSet
}

type paramRule struct {
	p        *kapi.Param
	section  string
	aligned  bool
	min, max uint64
	ranged   bool
	errnos   []string
}

type constraintRule struct {
	c       *kapi.Constraint
	section string
	prog    *cexpr.Program
	// advices is the advice the constraint is about (the MADV_* names of
	// its title); nil: every advice.
	advices adviceSet
	// vma: the expression is about one VMA (it names vma), checked for
	// each VMA of the range; otherwise about the arguments.
	vma bool
	// errnos are the errnos a violation must give, as the spec names
	// them.
	errnos []string
	// holds caches, by advice, whether a per-VMA expression is true
	// whatever the VMA and the range (it short-circuits on behavior, as
	// the mseal one does for advice that do not discard): 0 unknown, 1
	// yes, -1 no.
	holds [256]int8
}

type lockRule struct {
	l *kapi.Lock
	// class is the model's lockdep class name the section stands for.
	class string
	// access is the mode the section names (lockdep.Read or
	// lockdep.Write) unless anyMode: a bracket with no mode.
	access   lockdep.Access
	anyMode  bool
	killable bool
	advices  adviceSet
}

type signalRule struct {
	s       *kapi.Signal
	errno   string
	advices adviceSet
}

type capRule struct {
	c       *kapi.Capability
	advices adviceSet
	errnos  []string
}

var (
	madvRe   = regexp.MustCompile(`MADV_[A-Z_]+\*?`)
	errnoRe  = regexp.MustCompile(`-E[A-Z0-9]+\b`)
	vmFlagRe = regexp.MustCompile(`VM_[A-Z_]+`)
)

// adviceByName maps MADV_* names to values (the strace table's names).
var adviceByName = func() map[string]int {
	m := map[string]int{}
	for a := 0; a < 256; a++ {
		if n, ok := syscalls.AdviceName(int64(a)); ok {
			m[n] = a
		}
	}
	return m
}()

// advicesIn returns the advice named in text: MADV_X, and every MADV_X...
// for a wildcard "MADV_X*".
func advicesIn(text string) adviceSet { return advicesNamed(text, false) }

// advicesDoing is advicesIn for a text that says what the advice do:
// sentences that say an advice does not or never do it ("MADV_GUARD_REMOVE
// never zaps and never gathers") name no advice.
func advicesDoing(text string) adviceSet { return advicesNamed(text, true) }

func advicesNamed(text string, affirmative bool) adviceSet {
	set := adviceSet{}
	for _, sentence := range sentences(text) {
		if affirmative && negative(sentence) {
			continue
		}
		for _, tok := range madvRe.FindAllString(sentence, -1) {
			if prefix, ok := strings.CutSuffix(tok, "*"); ok {
				for n, a := range adviceByName {
					if strings.HasPrefix(n, prefix) {
						set[a] = true
					}
				}
				continue
			}
			if a, ok := adviceByName[strings.TrimRight(tok, "_")]; ok {
				set[a] = true
			}
		}
	}
	return set
}

func sentences(text string) []string {
	return strings.SplitAfter(text, ". ")
}

func negative(sentence string) bool {
	return strings.Contains(sentence, " never ") || strings.Contains(sentence, " do not ") ||
		strings.Contains(sentence, " does not ")
}

// errnosIn returns the errnos text names as "-EXXX", in order.
func errnosIn(text string) []string {
	var out []string
	for _, tok := range errnoRe.FindAllString(text, -1) {
		e := tok[1:]
		if !contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func compile(spec *kapi.Spec) (rules, error) {
	r := rules{spec: spec}
	r.behaviors = advicesIn(spec.LongDesc)
	for _, p := range spec.Params {
		if pr, ok := compileParam(p); ok {
			r.params = append(r.params, pr)
		}
	}
	r.discard = r.noteAdvices("discard subset")
	r.filterAdvice = adviceSet{}
	if e := spec.ErrorFor("EINVAL"); e != nil {
		for _, tok := range vmFlagRe.FindAllString(e.Desc, -1) {
			r.filterFlags |= vmFlagNames[tok]
		}
		// The helpers the desc names, and the advice that reach them
		// (the POPULATE_* and COLLAPSE paths of the other errors'
		// descs).
		for helper, prefix := range map[string]string{"faultin_page_range": "MADV_POPULATE_", "madvise_collapse_errno": "MADV_COLLAPSE"} {
			if strings.Contains(e.Desc, helper) {
				merge(r.filterAdvice, advicesIn(prefix+"*"))
			}
		}
	}
	r.restart = r.noteAdvices("ERESTARTNOINTR")
	for i := range spec.Locks {
		if lr, ok := compileLock(&spec.Locks[i]); ok {
			r.locks = append(r.locks, lr)
		}
	}
	r.addFallbacks()
	for i := range spec.Constraints {
		c := &spec.Constraints[i]
		if c.Expr == "" {
			if strings.Contains(strings.ToLower(c.Name), "behavior") {
				r.supported = c
			}
			continue
		}
		cr, err := r.compileConstraint(c)
		if err != nil {
			return r, err
		}
		r.constraints = append(r.constraints, cr)
	}
	for i := range spec.Signals {
		s := &spec.Signals[i]
		sr := signalRule{s: s, errno: strings.TrimPrefix(s.Errno, "-"), advices: advicesIn(s.Condition)}
		if strings.Contains(s.Condition, "write lock") {
			for a := range r.lockAdvices("mmap_lock", lockdep.Write) {
				sr.advices[a] = true
			}
		}
		r.signals = append(r.signals, sr)
	}
	for i := range spec.Capabilities {
		c := &spec.Capabilities[i]
		r.caps = append(r.caps, capRule{c: c, advices: advicesIn(c.Allows), errnos: errnosIn(c.Without)})
	}
	r.flagAdvice, r.zeroAdvice, r.guardAdvice = adviceSet{}, adviceSet{}, adviceSet{}
	for _, se := range spec.SideEffects {
		switch {
		case strings.Contains(se.Target, "vm_flags"):
			merge(r.flagAdvice, advicesIn(se.Condition))
		case strings.Contains(se.Target, "resident pages"):
			// The discards whose pages read zero afterwards: not the
			// lazy ones (MADV_FREE: "lazy-freeable ... may be
			// reclaimed").
			zero := advicesIn(se.Condition)
			for _, s := range sentences(se.Desc) {
				if strings.Contains(s, "lazy") {
					for a := range advicesIn(s) {
						delete(zero, a)
					}
				}
			}
			merge(r.zeroAdvice, zero)
		case strings.Contains(se.Target, "GUARD"):
			merge(r.guardAdvice, advicesIn(se.Condition))
		}
	}
	return r, nil
}

func merge(dst, src adviceSet) {
	for a := range src {
		dst[a] = true
	}
}

// noteAdvices returns the advice named by the notes' paragraph that
// mentions key.
func (r *rules) noteAdvices(key string) adviceSet {
	set := adviceSet{}
	for _, para := range strings.Split(r.spec.Notes, "\n\n") {
		if strings.Contains(para, key) {
			merge(set, advicesIn(para))
		}
	}
	return set
}

func compileParam(p kapi.Param) (paramRule, bool) {
	pr := paramRule{p: &p, section: "param: " + p.Name, errnos: errnosIn(p.Desc)}
	switch {
	case p.ConstraintType == "page_aligned":
		pr.aligned = true
	case p.Range != nil:
		lo, err1 := parseBound(p.Range.Min)
		hi, err2 := parseBound(p.Range.Max)
		if err1 != nil || err2 != nil {
			return pr, false
		}
		pr.ranged, pr.min, pr.max = true, lo, hi
	default:
		return pr, false
	}
	return pr, true
}

// parseBound reads a range bound: a number or a limits.h name.
func parseBound(s string) (uint64, error) {
	switch strings.TrimSpace(s) {
	case "SIZE_MAX", "ULONG_MAX", "U64_MAX":
		return ^uint64(0), nil
	case "LONG_MAX", "SSIZE_MAX", "S64_MAX":
		return 1<<63 - 1, nil
	case "INT_MAX":
		return 1<<31 - 1, nil
	case "UINT_MAX":
		return 1<<32 - 1, nil
	}
	return strconv.ParseUint(strings.TrimSpace(s), 0, 64)
}

// compileLock maps a lock: section to the model's lockdep class by its
// name; a lock the model has no class for is not checked.
func compileLock(l *kapi.Lock) (lockRule, bool) {
	lr := lockRule{l: l, advices: advicesDoing(l.Desc), killable: strings.Contains(l.Name, "killable")}
	switch n := l.Name; {
	case strings.Contains(n, "mmap_lock"):
		lr.class = "mmap_lock"
	case strings.Contains(n, "vm_lock") || strings.Contains(n, "per-VMA"):
		lr.class = "vma_lock"
	case strings.Contains(n, "mmu_gather"):
		lr.class = "mmu_gather"
	case strings.Contains(n, "mmu_notifier"):
		lr.class = "mmu_notifier"
	default:
		return lr, false
	}
	switch {
	case strings.Contains(l.Name, "read mode") || strings.Contains(l.Name, "read lock"):
		lr.access = lockdep.Read
	case strings.Contains(l.Name, "write mode") || strings.Contains(l.Name, "write lock"):
		lr.access = lockdep.Write
	default:
		lr.anyMode = true
	}
	return lr, true
}

// addFallbacks gives the lock a section describes as the fallback ("as
// the fallback when the per-VMA fast path declines") the advice of the
// sections that fall back to it ("Otherwise the code falls back to the
// mmap read lock").
func (r *rules) addFallbacks() {
	for i := range r.locks {
		if !strings.Contains(r.locks[i].l.Desc, "fallback") {
			continue
		}
		for j := range r.locks {
			if j != i && strings.Contains(r.locks[j].l.Desc, "falls back") {
				merge(r.locks[i].advices, r.locks[j].advices)
			}
		}
	}
}

// lockAdvices returns the advice of the lock sections of class in mode
// access.
func (r *rules) lockAdvices(class string, access lockdep.Access) adviceSet {
	set := adviceSet{}
	for _, lr := range r.locks {
		if lr.class == class && !lr.anyMode && lr.access == access {
			merge(set, lr.advices)
		}
	}
	return set
}

func (r *rules) compileConstraint(c *kapi.Constraint) (constraintRule, error) {
	prog, err := cexpr.Parse(c.Expr)
	if err != nil {
		return constraintRule{}, fmt.Errorf("constraint %q: expr: %w", c.Name, err)
	}
	cr := constraintRule{c: c, section: "constraint: " + c.Name, prog: prog}
	if a := advicesIn(c.Name); len(a) > 0 {
		cr.advices = a
	}
	idents, funcs := prog.Names()
	for _, id := range idents {
		if id == "vma" {
			cr.vma = true
		} else if _, ok := identValue(id); !ok && !isArg(id) {
			return cr, fmt.Errorf("constraint %q: expr names %s, which the verifier cannot bind", c.Name, id)
		}
	}
	for _, f := range funcs {
		if !knownFunc(f) {
			return cr, fmt.Errorf("constraint %q: expr calls %s(), which the verifier does not know", c.Name, f)
		}
		if f == "is_discard" && len(r.discard) == 0 {
			return cr, fmt.Errorf("constraint %q: expr calls is_discard(), but the notes list no discard subset", c.Name)
		}
	}
	cr.errnos = errnosIn(c.Desc)
	if len(cr.errnos) == 0 {
		cr.errnos = r.errnosOfConstraint(c.Name, cr.advices)
	}
	return cr, nil
}

// errnosOfConstraint finds the errno of a constraint that names none, in
// the error sections: one whose sentence about constraints names the
// constraint's advice ("The constraint: blocks cover FREE, WIPEONFORK,
// REMOVE, COLD and PAGEOUT"), else one that mentions the first word of
// the constraint's title ("mseal-protected discards" -> the error that
// speaks of mseal).
func (r *rules) errnosOfConstraint(title string, advices adviceSet) []string {
	var out []string
	for _, e := range r.spec.Errors {
		for _, s := range sentences(e.Desc) {
			if !strings.Contains(s, "constraint") {
				continue
			}
			for a := range advices {
				if bare := strings.TrimPrefix(adviceString(a), "MADV_"); wordIn(s, bare) && !contains(out, e.Errno) {
					out = append(out, e.Errno)
				}
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	word := strings.ToLower(strings.FieldsFunc(title, func(c rune) bool { return c == ' ' || c == '-' || c == '/' })[0])
	for _, e := range r.spec.Errors {
		if strings.Contains(strings.ToLower(e.Desc), word) {
			out = append(out, e.Errno)
		}
	}
	return out
}

// wordIn reports whether w appears in s as a whole word.
func wordIn(s, w string) bool {
	for _, f := range strings.FieldsFunc(s, func(c rune) bool { return c != '_' && !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
		if f == w {
			return true
		}
	}
	return false
}

// supports reports whether advice is one the spec names, and exists in
// kernel configuration k: the behavior parameter's cdesc, "Behaviors gated
// by Kconfig (KSM, transparent hugepage, memory failure) return -EINVAL
// when the underlying support is disabled". It restates mm's
// adviceValid on purpose: the verifier judges the model, so it does not
// ask the model.
func (r *rules) supports(advice int, k mm.MadviseKconfig) bool {
	if !r.behaviors[advice] {
		return false
	}
	switch advice {
	case unix.MADV_MERGEABLE, unix.MADV_UNMERGEABLE:
		return k.KSM
	case unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_COLLAPSE:
		return k.THP
	case unix.MADV_HWPOISON, abi.MADV_SOFT_OFFLINE:
		return k.MemoryFailure
	}
	return true
}
