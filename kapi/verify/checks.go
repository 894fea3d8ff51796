package verify

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/kapi"
	"madvisor/lockdep"
	"madvisor/mm"
	"madvisor/syscalls"
)

// The kernel-internal restart codes a signal path may return (a
// restartable path would use one of them).
const (
	errRestartSys      = unix.Errno(512)
	errRestartNoHand   = unix.Errno(514)
	errRestartRestartB = unix.Errno(516)
)

// checkParams: a parameter outside its constraint-type must fail, with
// the errno its cdesc names.
func (ck *checker) checkParams() {
	c := ck.c
	for _, p := range ck.r.params {
		var val uint64
		switch p.p.Name {
		case "start":
			val = c.Start
		case "len_in":
			val = c.Len
		case "behavior":
			val = uint64(c.Advice)
		default:
			continue
		}
		section := p.section
		if p.aligned && val&(pageSize-1) != 0 {
			ck.mustFail(section, "constraint-type: page_aligned", p.errnos)
		}
		if p.ranged && (val < p.min || val > p.max) {
			ck.mustFail(section, "constraint-type: range", p.errnos)
		}
	}
}

// checkConstraints evaluates each constraint that covers the advice: one
// about the arguments once, one about a VMA for each VMA of the range
// (the walk runs only when the arguments pass). A false constraint means
// the call must fail, with the errno the spec names for it; all are
// evaluated before any is judged, since another's errno may be the one
// the call gave (ck.broken, read by violated).
func (ck *checker) checkConstraints() {
	c := ck.c
	if s := ck.r.supported; s != nil && !ck.r.supports(c.Advice, c.Kconfig) {
		ck.mustFail("constraint: "+s.Name, "desc", errnosIn(s.Desc))
	}
	type failed struct {
		cr    *constraintRule
		field string
	}
	var fails []failed
	for i := range ck.r.constraints {
		cr := &ck.r.constraints[i]
		if cr.advices != nil && !cr.advices[c.Advice] {
			continue
		}
		if !cr.vma {
			ok, err := cr.prog.True(ck.env(nil))
			if err != nil {
				ck.report(cr.section, "expr", "an expression the verifier can evaluate", err.Error())
			} else if !ok {
				fails = append(fails, failed{cr, "expr"})
			}
			continue
		}
		if !ck.argsOK || c.Len == 0 || ck.holdsForAdvice(cr) {
			continue
		}
		for j := range ck.before {
			ok, err := cr.prog.True(ck.env(&ck.before[j]))
			if err != nil {
				ck.report(cr.section, "expr", "an expression the verifier can evaluate", err.Error())
				break
			}
			if !ok {
				fails = append(fails, failed{cr, "expr (VMA " + vmaString(&ck.before[j]) + ")"})
				break
			}
		}
	}
	for _, f := range fails {
		ck.broken = append(ck.broken, f.cr)
	}
	for _, f := range fails {
		ck.mustFail(f.cr.section, f.field, f.cr.errnos)
	}
}

// env returns the checker's binding of the call's names, with vma (nil:
// none) as the VMA.
func (ck *checker) env(vma *mm.VMA) *env {
	if ck.e == nil {
		ck.e = &env{r: ck.r, c: ck.c}
	}
	ck.e.vma = vma
	return ck.e
}

// holdsForAdvice reports whether cr's per-VMA expression is true for the
// call's advice whatever the VMA and the range: evaluated once per advice
// with only behavior bound.
func (ck *checker) holdsForAdvice(cr *constraintRule) bool {
	a := ck.c.Advice
	if a < 0 || a >= len(cr.holds) {
		return false
	}
	if cr.holds[a] == 0 {
		cr.holds[a] = -1
		if ok, err := cr.prog.True(&env{r: ck.r, c: &Call{Advice: a}, adviceOnly: true}); err == nil && ok {
			cr.holds[a] = 1
		}
	}
	return cr.holds[a] == 1
}

// violated reports whether a constraint that names errno is false for
// this call (checkConstraints found it so).
func (ck *checker) violated(errno string) bool {
	for _, cr := range ck.broken {
		if contains(cr.errnos, errno) {
			return true
		}
	}
	return false
}

// checkErrno: a failing call's errno must be one the spec lists, and the
// condition the spec gives for it must hold.
func (ck *checker) checkErrno() {
	c := ck.c
	switch c.Errno {
	case 0:
		return
	case mm.ERESTARTNOINTR:
		// notes: the GUARD_INSTALL retry "returns -ERESTARTNOINTR via
		// restart_syscall()"; the program never sees it.
		if !ck.r.restart[c.Advice] {
			ck.report("notes", "ERESTARTNOINTR", "a transparent restart only for "+ck.r.restart.String(), adviceString(c.Advice))
		}
		return
	case errRestartSys, errRestartNoHand, errRestartRestartB:
		for _, s := range ck.r.signals {
			if !s.s.Restartable {
				ck.report("signal: "+s.s.Name, "restartable", "no (the call returns "+s.errno+")", errnoName(c.Errno))
			}
		}
		return
	}
	name := errnoName(c.Errno)
	if ck.r.spec.ErrorFor(name) == nil {
		ck.report("error", "errno", "one of "+ck.r.errnoNames(), name)
		return
	}
	if !ck.r.errnoExplained(ck, c.Errno) {
		e := ck.r.spec.ErrorFor(name)
		ck.report("error: "+name, "desc", "its condition to hold ("+firstSentence(e.Desc)+")",
			"no condition holds for "+adviceString(c.Advice)+" on "+ck.rangeString())
	}
}

// errnoExplained reports whether errno's condition holds for the call:
// a constraint that names it is violated, a capability or signal section
// names it for this call, or its desc's condition holds (the predicates
// below, each citing the sentence of the spec it encodes).
func (r *rules) errnoExplained(ck *checker, errno unix.Errno) bool {
	c := ck.c
	name := errnoName(errno)
	e := r.spec.ErrorFor(name)
	if e == nil {
		return false
	}
	if ck.violated(name) {
		return true
	}
	for _, cr := range r.caps {
		if contains(cr.errnos, name) && cr.advices[c.Advice] && !c.SysAdmin {
			return true
		}
	}
	for _, s := range r.signals {
		if s.errno == name && s.advices[c.Advice] && c.FatalSignal {
			return true
		}
	}
	switch name {
	case "EINVAL":
		// "Returned for invalid input (unrecognised MADV_*,
		// Kconfig-gated behavior, unaligned start, range wrap, non-zero
		// len_in rounding to zero) and for per-behavior VMA-filter
		// violations": the constraints (above), and the inline filters
		// on the VM_* flags the desc names ("DOFORK on VM_SPECIAL ...
		// GUARD_INSTALL on VM_LOCKED"; the kernel's DONTNEED and FREE
		// filters on VM_LOCKED, VM_PFNMAP and hugetlb alignment use the
		// same flags). "Also returned by faultin_page_range() and
		// madvise_collapse_errno()": POPULATE_* and COLLAPSE.
		// process_madvise refuses a remote advice outside its subset
		// (notes) before any iovec.
		if !ck.argsOK || c.Remote || r.filterAdvice[c.Advice] {
			return true
		}
		for i := range ck.before {
			if ck.before[i].Flags&r.filterFlags != 0 {
				return true
			}
		}
		return false
	case "ENOMEM":
		// "Some part of the requested range falls in a gap between
		// mapped VMAs"; the other cases name their advice (POPULATE_*,
		// COLLAPSE) and the notes name GUARD_INSTALL's anon_vma_prepare
		// failure.
		return ck.hasGap() || r.advicesOfError(e)[c.Advice] || r.noteAdvices("-ENOMEM")[c.Advice]
	case "EINTR":
		// Only the signal section explains it (above).
		return false
	case "EBADF":
		// "MADV_WILLNEED when applied to a non-file-backed VMA and the
		// kernel was built without CONFIG_SWAP".
		if c.Kconfig.Swap || !r.advicesOfError(e)[c.Advice] {
			return false
		}
		for i := range ck.before {
			if !ck.before[i].Backing.HasVMFile() {
				return true
			}
		}
		return false
	case "EACCES":
		// "MADV_REMOVE when the target VMA is not a writable shared
		// mapping".
		if !r.advicesOfError(e)[c.Advice] {
			return false
		}
		for i := range ck.before {
			if f := ck.before[i].Flags; f&(mm.VMShared|mm.VMMayWrite) != mm.VMShared|mm.VMMayWrite {
				return true
			}
		}
		return false
	}
	adv := r.advicesOfError(e)
	if strings.Contains(e.Desc, "flag-mutating") {
		// EAGAIN: "For the VMA-flag-mutating behaviors" (those the
		// write-mode lock section lists).
		merge(adv, r.lockAdvices("mmap_lock", lockdep.Write))
	}
	return adv[c.Advice]
}

// advicesOfError returns the advice an error's desc names as returning
// it.
func (r *rules) advicesOfError(e *kapi.Error) adviceSet { return advicesDoing(e.Desc) }

func (r *rules) errnoNames() string {
	var names []string
	for _, e := range r.spec.Errors {
		names = append(names, e.Errno)
	}
	return strings.Join(names, " ")
}

// hasGap reports whether [Start, end) is not covered by the VMAs found at
// entry.
func (ck *checker) hasGap() bool {
	addr := ck.c.Start
	for i := range ck.before {
		v := &ck.before[i]
		if v.Start > addr {
			return true
		}
		addr = max(addr, v.End)
	}
	return addr < ck.end
}

// checkCapabilities: an advice a capability allows fails without it, with
// the errno the section's "without" names.
func (ck *checker) checkCapabilities() {
	c := ck.c
	if !ck.argsOK || c.SysAdmin {
		return
	}
	for _, cr := range ck.r.caps {
		if cr.c.Name == "CAP_SYS_ADMIN" && cr.advices[c.Advice] {
			ck.mustFail("capability: "+cr.c.Name, "without", cr.errnos)
		}
	}
}

// held is a lock a call holds, while checkLocks replays its operations.
type held struct {
	class  string
	access lockdep.Access
}

// checkLocks: every lock the model took is one a lock: section lists for
// the advice, in that mode (killable where the section says so); every
// lock taken is released, innermost first; and an advice the mmap_lock
// or per-VMA sections list took one of them.
func (ck *checker) checkLocks() {
	c := ck.c
	if c.Locks == nil {
		return
	}
	var stack []held
	walked := false
	for _, e := range c.Locks {
		if e.Class == nil {
			continue
		}
		class := e.Class.Name()
		switch e.Op {
		case lockdep.OpAcquire, lockdep.OpKilled, lockdep.OpTryFailed:
			if class == "mmap_lock" || class == "vma_lock" {
				walked = true
			}
			if e.Op != lockdep.OpAcquire {
				continue
			}
			if class == "vma_lock" && e.Access&lockdep.Read == 0 && mmapWriteHeld(stack) {
				// vma_start_write: a VMA being changed is write-locked
				// under mmap_lock held for writing, the kernel's rule
				// for per-VMA locks (the spec's lock sections describe
				// the readers).
			} else {
				ck.checkAcquire(class, e.Access)
			}
			stack = append(stack, held{class, e.Access})
		case lockdep.OpRelease:
			if n := len(stack); n == 0 || stack[n-1].class != class {
				want := "nothing"
				if n > 0 {
					want = stack[n-1].class
				}
				ck.report(ck.r.lockSection(class), "released", want+" released first (innermost first)", class)
				for i := n - 1; i >= 0; i-- {
					if stack[i].class == class {
						stack = append(stack[:i], stack[i+1:]...)
						break
					}
				}
				continue
			}
			stack = stack[:len(stack)-1]
		}
	}
	for _, h := range stack {
		ck.report(ck.r.lockSection(h.class), "released", "yes", "still held when the call ended")
	}
	if !walked && ck.argsOK && c.Len > 0 {
		if ck.r.listsAdvice("mmap_lock", c.Advice) || ck.r.listsAdvice("vma_lock", c.Advice) {
			ck.report("lock: "+ck.r.lockSectionsFor(c.Advice), "acquired", "yes", "no mmap_lock or per-VMA lock taken")
		}
	}
}

func mmapWriteHeld(stack []held) bool {
	for _, h := range stack {
		if h.class == "mmap_lock" && h.access&lockdep.Read == 0 {
			return true
		}
	}
	return false
}

func (ck *checker) checkAcquire(class string, a lockdep.Access) {
	advice := ck.c.Advice
	var listed []string
	for _, lr := range ck.r.locks {
		if lr.class != class || !lr.advices[advice] {
			continue
		}
		listed = append(listed, lr.l.Name)
		if !lr.anyMode && lr.access != a&lockdep.Read {
			continue
		}
		if lr.killable && a&lockdep.Killable == 0 {
			ck.report("lock: "+lr.l.Name, "killable", "a killable acquisition", accessString(a))
		}
		return
	}
	section := ck.r.lockSection(class)
	if len(listed) > 0 {
		var modes []string
		for _, lr := range ck.r.locks {
			if lr.class == class && lr.advices[advice] && !lr.anyMode {
				modes = append(modes, class+" "+accessString(lr.access))
			}
		}
		section = "lock: " + strings.Join(listed, ", ")
		ck.report(section, "acquired", strings.Join(modes, " or ")+" for "+adviceString(advice), class+" "+accessString(a))
		return
	}
	ck.report(section, "acquired", "not taken for "+adviceString(advice)+" (the section does not list it)", class+" "+accessString(a))
}

// listsAdvice reports whether a lock section of class lists advice.
func (r *rules) listsAdvice(class string, advice int) bool {
	for _, lr := range r.locks {
		if lr.class == class && lr.advices[advice] {
			return true
		}
	}
	return false
}

// lockSection names the lock sections of class.
func (r *rules) lockSection(class string) string {
	var names []string
	for _, lr := range r.locks {
		if lr.class == class {
			names = append(names, lr.l.Name)
		}
	}
	if len(names) == 0 {
		return "lock (" + class + ": no section)"
	}
	return "lock: " + strings.Join(names, ", ")
}

func (r *rules) lockSectionsFor(advice int) string {
	var names []string
	for _, lr := range r.locks {
		if lr.advices[advice] && (lr.class == "mmap_lock" || lr.class == "vma_lock") {
			names = append(names, lr.l.Name)
		}
	}
	return strings.Join(names, ", ")
}

func accessString(a lockdep.Access) string {
	s := "W"
	if a&lockdep.Read != 0 {
		s = "R"
	}
	if a&lockdep.Killable != 0 {
		s += " killable"
	}
	return s
}

// checkSideEffects checks what a successful call must have left behind:
// the hint flags on every VMA of the range, guard markers installed or
// removed, and discarded private anonymous memory reading zero.
func (ck *checker) checkSideEffects() {
	c := ck.c
	if !ck.argsOK || c.Len == 0 {
		return
	}
	if ck.r.flagAdvice[c.Advice] {
		set, clear := hintFlags(c.Advice)
		for i := range c.After {
			v := &c.After[i]
			if c.Advice == adviceByName["MADV_MERGEABLE"] && !ksmCompatible(v) {
				continue
			}
			if v.Flags&set != set || v.Flags&clear != 0 {
				ck.report("side-effect: "+sideEffectTarget(ck, "vm_flags"), "desc",
					fmt.Sprintf("%s set and %s clear on %s", set, clear, vmaString(v)), v.Flags.String())
				break
			}
		}
	}
	if ck.r.guardAdvice[c.Advice] {
		install := strings.HasSuffix(adviceString(c.Advice), "_INSTALL")
		for i := range c.After {
			v := &c.After[i]
			s, e := max(v.Start, c.Start), min(v.End, ck.end)
			if s >= e {
				continue
			}
			guards := v.Guards.Slice((s-v.Start)/pageSize, (e-v.Start)/pageSize).Pages()
			want := uint64(0)
			if install {
				want = (e - s) / pageSize
			}
			if guards != want {
				ck.report("side-effect: "+sideEffectTarget(ck, "GUARD"), "desc",
					fmt.Sprintf("%d of %d pages of %#x-%#x guards", want, (e-s)/pageSize, s, e), fmt.Sprintf("%d", guards))
				break
			}
		}
	}
	if ck.r.zeroAdvice[c.Advice] && c.ReadWord != nil {
		for i := range c.After {
			v := &c.After[i]
			addr := max(v.Start, c.Start)
			if !v.IsAnonymous() || v.Flags&(mm.VMShared|mm.VMRead) != mm.VMRead || v.IsGuard(addr) || addr >= ck.end {
				continue
			}
			// "the next access faults in zero-filled anonymous pages".
			w, err := c.ReadWord(addr)
			if err == nil && w != 0 {
				ck.report("side-effect: "+sideEffectTarget(ck, "resident pages"), "desc",
					fmt.Sprintf("the page at %#x reads zero", addr), fmt.Sprintf("%#x", w))
			}
			break
		}
	}
}

// hintFlags is what each hint advice sets and clears: the side effect
// "Sets or clears VM_RAND_READ, VM_SEQ_READ, VM_DONTCOPY, VM_DONTDUMP,
// VM_WIPEONFORK, VM_MERGEABLE or VM_HUGEPAGE".
func hintFlags(advice int) (set, clear mm.VMFlags) {
	switch advice {
	case unix.MADV_NORMAL:
		return 0, mm.VMSeqRead | mm.VMRandRead
	case unix.MADV_RANDOM:
		return mm.VMRandRead, mm.VMSeqRead
	case unix.MADV_SEQUENTIAL:
		return mm.VMSeqRead, mm.VMRandRead
	case unix.MADV_DONTFORK:
		return mm.VMDontCopy, 0
	case unix.MADV_DOFORK:
		return 0, mm.VMDontCopy
	case unix.MADV_DONTDUMP:
		return mm.VMDontDump, 0
	case unix.MADV_DODUMP:
		return 0, mm.VMDontDump
	case unix.MADV_WIPEONFORK:
		return mm.VMWipeOnFork, 0
	case unix.MADV_KEEPONFORK:
		return 0, mm.VMWipeOnFork
	case unix.MADV_MERGEABLE:
		return mm.VMMergeable, 0
	case unix.MADV_UNMERGEABLE:
		return 0, mm.VMMergeable
	case unix.MADV_HUGEPAGE:
		return mm.VMHugePage, mm.VMNoHugePage
	case unix.MADV_NOHUGEPAGE:
		return mm.VMNoHugePage, mm.VMHugePage
	}
	return 0, 0
}

// ksmCompatible: MADV_MERGEABLE leaves VM_MERGEABLE clear, and succeeds,
// on a VMA KSM cannot scan (shared, special, hugetlb, droppable): the
// kernel's ksm_madvise returns 0 for them. The spec's "the requested
// flag bits on the VMA are set" does not say so (facts page).
func ksmCompatible(v *mm.VMA) bool {
	return v.Flags&(mm.VMShared|mm.VMMayShare|mm.VMSpecial|mm.VMHugeTLB|mm.VMDroppable) == 0 &&
		v.Backing.Kind <= mm.BackingFile
}

func sideEffectTarget(ck *checker, key string) string {
	for _, se := range ck.r.spec.SideEffects {
		if strings.Contains(se.Target, key) {
			return se.Target
		}
	}
	return key
}

func vmaString(v *mm.VMA) string {
	return fmt.Sprintf("%#x-%#x [%s]", v.Start, v.End, v.Flags)
}

func (ck *checker) rangeString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%#x-%#x (", ck.c.Start, ck.end)
	for i := range ck.before {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(vmaString(&ck.before[i]))
	}
	if len(ck.before) == 0 {
		b.WriteString("no VMA")
	}
	b.WriteString(")")
	return b.String()
}

func adviceString(advice int) string {
	if n, ok := syscalls.AdviceName(int64(advice)); ok {
		return n
	}
	return fmt.Sprint(advice)
}

// String lists the set's advice names, sorted.
func (s adviceSet) String() string {
	var names []string
	for a := range s {
		names = append(names, adviceString(a))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i]
	}
	return strings.TrimSuffix(s, ".")
}
