package tests

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/kapi"
	"madvisor/kapi/cexpr"
)

// Tests generated from the sys_madvise KAPI specification (issue 14, "the
// KAPI spec as data"): every error, constraint, parameter and capability
// of kapi/testdata/sys_madvise.txt maps to cases of testdata/kapi_cases.c,
// or to a written reason why this host cannot trigger it. The parameters'
// edge values are generated from the spec's param sections (constraint-type
// page_aligned, range(MIN, MAX), the MADV_* names of the text), so a
// changed parameter changes the cases. The program runs natively and under
// madvisor; the kernel is the oracle, except for the rows of the facts
// page's spec-vs-host table (kapiSpecRows).

// kapiSpecFile is the specification the test is generated from.
const kapiSpecFile = "../kapi/testdata/sys_madvise.txt"

// kapiProg is the program of the cases, in testdata/.
const kapiProg = "kapi_cases"

// kapiSpecRows are the cases of kapi_cases where the 6.18 host and the spec
// differ (facts page, "Known differences"): madvisor must print the spec's
// line.
var kapiSpecRows = []specRow{
	// DOFORK on VM_SPECIAL without VM_IO: 6.18 refuses only VM_IO.
	{kapiProg, "einval/DOFORK_vdso", "einval/DOFORK_vdso: ret=0 errno=0 flags_before=de",
		"einval/DOFORK_vdso: ret=-1 errno=EINVAL flags_before=de"},
}

// A kapiCase is a case of kapi_cases and the result the spec gives it:
// an errno name, or "0".
type kapiCase struct {
	Name, Want string
	// Note says why Want is what it is, where the spec alone does not
	// (a generated case outside the mapping, a host without a feature).
	Note string
}

// A kapiCover is how one spec item is covered.
type kapiCover struct {
	// Prefix adds every fixed case whose name starts with it.
	Prefix string
	Cases  []kapiCase
	// Params adds the cases generated from these parameters.
	Params []string
	// Untriggerable says why this host (or any program) cannot trigger
	// the item; Cases then go down the item's path and show what the host
	// does instead.
	Untriggerable string
}

// kapiHost are the facts of the host that decide what a case can show.
type kapiHost struct {
	memoryFailure bool // CONFIG_MEMORY_FAILURE: MADV_HWPOISON and MADV_SOFT_OFFLINE exist
	swap          bool // CONFIG_SWAP: /proc/swaps exists
}

func probeKAPIHost() kapiHost {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	return kapiHost{memoryFailure: exists("/proc/sys/vm/memory_failure_recovery"), swap: exists("/proc/swaps")}
}

func kapiOK(name string) kapiCase       { return kapiCase{Name: name, Want: "0"} }
func kapiFails(name, e string) kapiCase { return kapiCase{Name: name, Want: e} }
func kapiEinval(names ...string) []kapiCase {
	var cs []kapiCase
	for _, n := range names {
		cs = append(cs, kapiFails(n, "EINVAL"))
	}
	return cs
}

// kapiCoverage maps each spec item ("error:EINVAL", "constraint:NAME",
// "param:NAME", "capability:CAP") to its cases. The errno-named prefixes
// ("einval/", ...) of kapi_cases collect the cases of an error.
func kapiCoverage(h kapiHost) map[string]kapiCover {
	gated := "EINVAL" // HWPOISON, SOFT_OFFLINE: compiled out here
	noCap := "EINVAL"
	if h.memoryFailure {
		gated = "skipped" // kapi_cases does not poison host pages
		noCap = "EPERM"
	}
	willneed, noSwap := "EBADF", ""
	if h.swap {
		willneed, noSwap = "0", "the kernel has CONFIG_SWAP (/proc/swaps exists): WILLNEED on anonymous memory reads ahead from swap and returns 0"
	}
	capReason := ""
	if !h.memoryFailure {
		capReason = "CONFIG_MEMORY_FAILURE is off: both advices are EINVAL before the capability check"
	}
	c := map[string]kapiCover{
		"param:start":    {Params: []string{"start"}},
		"param:len_in":   {Params: []string{"len_in"}},
		"param:behavior": {Params: []string{"behavior"}},

		// The inline filters' cases that just pass: KEEPONFORK off
		// VM_DROPPABLE, GUARD_REMOVE (not INSTALL) on VM_LOCKED.
		"error:EINVAL": {Prefix: "einval/", Params: []string{"start", "len_in", "behavior"},
			Cases: []kapiCase{kapiOK("ok/KEEPONFORK_anon"), kapiOK("ok/GUARD_REMOVE_mlocked")}},
		"error:ENOMEM": {Prefix: "enomem/", Params: []string{"len_in"}},
		"error:EAGAIN": {Prefix: "eagain/"},
		"error:EACCES": {Prefix: "eacces/"},
		"error:EPERM": {Prefix: "eperm/sealed_", Cases: []kapiCase{
			kapiFails("eperm/no_cap_sys_admin/HWPOISON", noCap), kapiFails("eperm/no_cap_sys_admin/SOFT_OFFLINE", noCap)}},
		"error:EFAULT": {Prefix: "efault/"},
		"error:EBUSY":  {Prefix: "ebusy/"},
		"error:EIO": {Cases: []kapiCase{kapiOK("ok/REMOVE_file_shared"), kapiOK("ok/REMOVE_memfd")},
			Untriggerable: "needs a filesystem whose hole punch (MADV_REMOVE's fallocate) fails with EIO, i.e. a failing device; the path itself succeeds here"},
		"error:EBADF": {Cases: []kapiCase{kapiFails("ebadf_path/WILLNEED_anon", willneed)}, Untriggerable: noSwap},
		"error:EINTR": {Untriggerable: "only a fatal signal interrupts the write-lock wait or POPULATE's faults " +
			"(faultin_page_range does not use FOLL_INTERRUPTIBLE), and the caller dies of it: no program sees this errno"},
		"error:EHWPOISON": {Untriggerable: "needs a hardware-poisoned page: MADV_HWPOISON needs CONFIG_MEMORY_FAILURE " +
			"(off on the 6.18 test host), and the suite never poisons host pages (lost until reboot)"},

		"capability:CAP_SYS_ADMIN": {Cases: []kapiCase{
			kapiFails("eperm/no_cap_sys_admin/HWPOISON", noCap), kapiFails("eperm/no_cap_sys_admin/SOFT_OFFLINE", noCap)},
			Untriggerable: capReason},

		"constraint:Page-aligned start": {Params: []string{"start"},
			Cases: kapiEinval("einval/unaligned_start", "einval/unaligned_start_len0")},
		"constraint:Length rounded up to PAGE_SIZE": {Params: []string{"len_in"},
			Cases: append(kapiEinval("einval/len_rounds_to_zero", "einval/end_wraps_to_zero", "einval/end_wraps_after_rounding"),
				kapiOK("ok/len0"), kapiFails("enomem/above_task_size", "ENOMEM"))},
		"constraint:Behavior must be supported": {Params: []string{"behavior"},
			Cases: []kapiCase{kapiFails("einval/unknown_advice", "EINVAL"),
				kapiFails("einval/kconfig_HWPOISON", gated), kapiFails("einval/kconfig_SOFT_OFFLINE", gated)}},
		"constraint:mseal-protected discards": {Prefix: "eperm/sealed_",
			Cases: []kapiCase{kapiOK("ok/sealed_rw_anon/DONTNEED"), kapiOK("ok/sealed_ro_file/DONTNEED"),
				kapiOK("ok/sealed_ro_anon/GUARD_REMOVE"), kapiOK("ok/sealed_ro_anon/DOFORK")}},
		"constraint:MADV_FREE requires anonymous mappings": {Cases: append([]kapiCase{kapiOK("ok/FREE_anon_private")},
			kapiEinval("einval/FREE_anon_shared", "einval/FREE_file_private")...)},
		"constraint:MADV_WIPEONFORK requires private anonymous mappings": {Cases: append([]kapiCase{kapiOK("ok/WIPEONFORK_anon_private")},
			kapiEinval("einval/WIPEONFORK_anon_shared", "einval/WIPEONFORK_file_private", "einval/WIPEONFORK_file_shared")...)},
		"constraint:MADV_REMOVE requires a writable shared file mapping": {Cases: append([]kapiCase{
			kapiOK("ok/REMOVE_file_shared"), kapiOK("ok/REMOVE_file_shared_prot_read_maywrite"), kapiOK("ok/REMOVE_memfd"),
			kapiFails("eacces/REMOVE_file_private", "EACCES"), kapiFails("eacces/REMOVE_file_shared_readonly", "EACCES")},
			kapiEinval("einval/REMOVE_file_shared_mlocked", "einval/REMOVE_anon_private")...)},
		"constraint:MADV_COLD / MADV_PAGEOUT VMA filter": {Cases: append([]kapiCase{kapiOK("ok/COLD_anon"), kapiOK("ok/PAGEOUT_anon")},
			kapiEinval("einval/COLD_mlocked", "einval/PAGEOUT_mlocked", "einval/COLD_mlocked_onfault",
				"einval/COLD_vvar_pfnmap", "einval/PAGEOUT_vvar_pfnmap", "einval/COLD_hugetlb")...)},
	}
	return c
}

// kapiFixedWants are the wants of the fixed cases that no item lists with
// its own want: the errno of their prefix, or "0" for "ok/".
func kapiFixedWant(name string) string {
	prefix, _, _ := strings.Cut(name, "/")
	if prefix == "ok" {
		return "0"
	}
	return strings.ToUpper(prefix)
}

// madvNames are the advice values of x86-64 by name (facts "Values").
var madvNames = map[string]int{
	"MADV_NORMAL": unix.MADV_NORMAL, "MADV_RANDOM": unix.MADV_RANDOM, "MADV_SEQUENTIAL": unix.MADV_SEQUENTIAL,
	"MADV_WILLNEED": unix.MADV_WILLNEED, "MADV_DONTNEED": unix.MADV_DONTNEED, "MADV_FREE": unix.MADV_FREE,
	"MADV_REMOVE": unix.MADV_REMOVE, "MADV_DONTFORK": unix.MADV_DONTFORK, "MADV_DOFORK": unix.MADV_DOFORK,
	"MADV_MERGEABLE": unix.MADV_MERGEABLE, "MADV_UNMERGEABLE": unix.MADV_UNMERGEABLE,
	"MADV_HUGEPAGE": unix.MADV_HUGEPAGE, "MADV_NOHUGEPAGE": unix.MADV_NOHUGEPAGE,
	"MADV_DONTDUMP": unix.MADV_DONTDUMP, "MADV_DODUMP": unix.MADV_DODUMP,
	"MADV_WIPEONFORK": unix.MADV_WIPEONFORK, "MADV_KEEPONFORK": unix.MADV_KEEPONFORK,
	"MADV_COLD": unix.MADV_COLD, "MADV_PAGEOUT": unix.MADV_PAGEOUT,
	"MADV_POPULATE_READ": unix.MADV_POPULATE_READ, "MADV_POPULATE_WRITE": unix.MADV_POPULATE_WRITE,
	"MADV_DONTNEED_LOCKED": unix.MADV_DONTNEED_LOCKED, "MADV_COLLAPSE": unix.MADV_COLLAPSE,
	"MADV_HWPOISON": unix.MADV_HWPOISON, "MADV_SOFT_OFFLINE": abi.MADV_SOFT_OFFLINE,
	"MADV_GUARD_INSTALL": unix.MADV_GUARD_INSTALL, "MADV_GUARD_REMOVE": unix.MADV_GUARD_REMOVE,
}

// A kapiEdge is a case generated from a param section: madvise(base+Off,
// Len, Adv) on a fresh 4-page anonymous mapping at base.
type kapiEdge struct {
	Param string
	kapiCase
	Off int64
	Len string // decimal, or "top-N": start + len == 2^64 - N
	Adv int
}

func (e kapiEdge) arg() string { return fmt.Sprintf("%s@%d@%s@%d", e.Name, e.Off, e.Len, e.Adv) }

// kapiEdgeMapping is the mapping the generated cases run on, in pages.
const kapiEdgeMapping = 4

// kapiParamRules are the spec's parameter-level constraints: those whose
// expr reads only the parameters, PAGE_SIZE and PAGE_ALIGN. A generated
// case violating one of them must fail with EINVAL.
type kapiParamRule struct {
	name string
	prog *cexpr.Program
}

func kapiParamRules(t *testing.T, spec *kapi.Spec) []kapiParamRule {
	params := map[string]bool{"PAGE_SIZE": true}
	for _, p := range spec.Params {
		params[p.Name] = true
	}
	var rules []kapiParamRule
	for _, c := range spec.Constraints {
		if c.Expr == "" {
			continue
		}
		prog, err := cexpr.Parse(c.Expr)
		require.NoError(t, err, "constraint %q", c.Name)
		idents, funcs := prog.Names()
		if !slices.ContainsFunc(idents, func(n string) bool { return !params[n] }) &&
			!slices.ContainsFunc(funcs, func(f string) bool { return f != "PAGE_ALIGN" }) {
			rules = append(rules, kapiParamRule{c.Name, prog})
		}
	}
	return rules
}

// kapiRangeWant is the result the spec gives madvise(start, len, NORMAL)
// on the generated mapping at base: EINVAL when a parameter-level
// constraint fails (or when len_in is non-zero and rounds up to zero, which
// the length constraint's and len_in's desc say and its expr misses: then
// exprGap is set), 0 for a range inside the mapping or its fences, ENOMEM
// for one that reaches past the top of the address space (no VMA there).
func kapiRangeWant(t *testing.T, rules []kapiParamRule, base, start, length uint64) (want string, exprGap bool) {
	pg := uint64(os.Getpagesize())
	align := func(n uint64) uint64 { return (n + pg - 1) &^ (pg - 1) }
	env := cexpr.MapEnv{
		Vars: map[string]cexpr.Value{"start": cexpr.Int(start), "len_in": cexpr.Int(length), "PAGE_SIZE": cexpr.Int(pg)},
		Funcs: map[string]func([]cexpr.Value) (cexpr.Value, error){"PAGE_ALIGN": func(a []cexpr.Value) (cexpr.Value, error) {
			n, _ := a[0].Uint64()
			return cexpr.Int(align(n)), nil
		}},
	}
	for _, r := range rules {
		holds, err := r.prog.True(env)
		require.NoError(t, err, "constraint %q", r.name)
		if !holds {
			return "EINVAL", false
		}
	}
	end := start + align(length)
	switch {
	case length != 0 && align(length) == 0:
		return "EINVAL", true
	case length == 0:
		return "0", false
	case end <= base+(kapiEdgeMapping+1)*pg: // the mapping and its upper fence
		return "0", false
	case end > 1<<47 || end == 0:
		return "ENOMEM", false
	}
	t.Fatalf("no expectation for madvise(%#x, %#x) on the mapping at %#x", start, length, base)
	return "", false
}

// kapiBound evaluates a range bound as the spec writes it.
func kapiBound(t *testing.T, s string) uint64 {
	switch s {
	case "SIZE_MAX", "ULONG_MAX":
		return ^uint64(0)
	case "PAGE_SIZE":
		return uint64(os.Getpagesize())
	}
	n, err := strconv.ParseUint(s, 0, 64)
	require.NoError(t, err, "range bound %q: not a number or a known constant", s)
	return n
}

// kapiEdges generates the parameter cases from the spec's param sections.
// The address and the length are tried on a hint (MADV_NORMAL: it takes
// the walk and changes nothing on a fresh mapping); each behavior on a
// fresh page. The base address is not known here: the wants are those
// for any page-aligned base of the user address space, checked at both
// ends of it.
func kapiEdges(t *testing.T, spec *kapi.Spec, h kapiHost) []kapiEdge {
	pg := int64(os.Getpagesize())
	rules := kapiParamRules(t, spec)
	require.NotEmpty(t, rules, "the spec has no parameter-level constraint expression")
	bases := []uint64{1 << 20, 1<<47 - 64*uint64(pg)}
	want := func(off int64, length string) (string, string) {
		var w, note string
		for i, base := range bases {
			start := base + uint64(off)
			var n uint64
			if rest, ok := strings.CutPrefix(length, "top-"); ok {
				k, _ := strconv.ParseUint(rest, 10, 64)
				n = -start - k
			} else {
				n, _ = strconv.ParseUint(length, 10, 64)
			}
			got, gap := kapiRangeWant(t, rules, base, start, n)
			if gap {
				note = "the constraint's expr holds: only its desc says EINVAL"
			}
			if i > 0 {
				require.Equal(t, w, got, "the want of off=%d len=%s depends on the base address", off, length)
			}
			w = got
		}
		return w, note
	}
	var edges []kapiEdge
	add := func(param, name string, off int64, length string, adv int, w, note string) {
		edges = append(edges, kapiEdge{param, kapiCase{param + "/" + name, w, note}, off, length, adv})
	}
	var alignedLen bool // the length constraint rounds len_in up to pages
	for _, c := range spec.Constraints {
		alignedLen = alignedLen || strings.Contains(c.Expr, "PAGE_ALIGN(len_in)")
	}
	for _, p := range spec.Params {
		switch {
		case p.ConstraintType == "page_aligned":
			// aligned, aligned+1, the next boundary - 1, the next boundary;
			// with a page and with nothing.
			for _, off := range []int64{0, 1, pg - 1, pg} {
				for _, l := range []int64{pg, 0} {
					w, note := want(off, strconv.FormatInt(l, 10))
					add(p.Name, fmt.Sprintf("off=%d/len=%d", off, l), off, strconv.FormatInt(l, 10), unix.MADV_NORMAL, w, note)
				}
			}
		case p.ConstraintType == "range" && p.Range != nil:
			lo, hi := kapiBound(t, p.Range.Min), kapiBound(t, p.Range.Max)
			upg := uint64(pg)
			vals := []struct {
				name string
				v    uint64
			}{
				{p.Range.Min, lo}, {p.Range.Min + "+1", lo + 1}, {p.Range.Min + "+PAGE_SIZE-1", lo + upg - 1},
				{p.Range.Min + "+PAGE_SIZE", lo + upg}, {p.Range.Min + "+PAGE_SIZE+1", lo + upg + 1},
				{p.Range.Max, hi}, {p.Range.Max + "-1", hi - 1}, {p.Range.Max + "-PAGE_SIZE+2", hi - upg + 2}, {p.Range.Max + "-PAGE_SIZE+1", hi - upg + 1},
				{p.Range.Max + "-PAGE_SIZE", hi - upg},
			}
			seen := map[uint64]bool{}
			for _, v := range vals {
				if seen[v.v] {
					continue
				}
				seen[v.v] = true
				l := strconv.FormatUint(v.v, 10)
				w, note := want(0, l)
				add(p.Name, v.name, 0, l, unix.MADV_NORMAL, w, note)
			}
			if alignedLen && p.Name == "len_in" {
				// The largest length whose rounded end does not wrap, and
				// the next one, which wraps only once rounded up.
				for _, e := range []struct {
					name string
					top  int64
				}{{"largest_not_wrapping", pg}, {"wraps_after_rounding", pg - 1}} {
					l := "top-" + strconv.FormatInt(e.top, 10)
					w, note := want(0, l)
					add(p.Name, e.name, 0, l, unix.MADV_NORMAL, w, note)
				}
			}
		case p.ConstraintType == "" && strings.Contains(p.Desc, "MADV_*"):
			edges = append(edges, kapiBehaviorEdges(t, spec, p, h)...)
		default:
			t.Fatalf("param %s: no generator for constraint-type %q (range %v)", p.Name, p.ConstraintType, p.Range)
		}
	}
	return edges
}

// kapiBehaviorEdges: each MADV_* name of the long description and the
// parameter's text on a fresh page, and the unknown values next to the
// known ones.
func kapiBehaviorEdges(t *testing.T, spec *kapi.Spec, p kapi.Param, h kapiHost) []kapiEdge {
	var names []string
	for _, m := range regexp.MustCompile(`MADV_[A-Z_]+`).FindAllString(spec.LongDesc+" "+p.Desc, -1) {
		if !strings.HasSuffix(m, "_") && !slices.Contains(names, m) { // MADV_POPULATE_*: a family
			names = append(names, m)
		}
	}
	require.NotEmpty(t, names, "param %s: no MADV_* names in the spec", p.Name)
	known := map[int]bool{}
	var edges []kapiEdge
	for _, n := range names {
		v, ok := madvNames[n]
		require.True(t, ok, "the spec names %s, which has no x86-64 value here (madvNames)", n)
		known[v] = true
		c := kapiCase{Name: p.Name + "/" + n, Want: "0"}
		switch v {
		case unix.MADV_HWPOISON, abi.MADV_SOFT_OFFLINE:
			c.Want, c.Note = "EINVAL", "CONFIG_MEMORY_FAILURE is off here (Kconfig-gated)"
			if h.memoryFailure {
				c.Want, c.Note = "skipped", "not run as root: it would poison a host page"
			}
		case unix.MADV_COLLAPSE:
			c.Want, c.Note = "EINVAL", "a 4-page VMA has room for no huge page"
		case unix.MADV_REMOVE:
			c.Want, c.Note = "EINVAL", "private anonymous memory has no file (constraint: MADV_REMOVE requires a writable shared file mapping)"
		}
		edges = append(edges, kapiEdge{p.Name, c, 0, strconv.Itoa(os.Getpagesize()), v})
	}
	var unknown []int
	for v := range known {
		for _, u := range []int{v - 1, v + 1} {
			if !known[u] && !slices.Contains(unknown, u) {
				unknown = append(unknown, u)
			}
		}
	}
	sort.Ints(unknown)
	for _, u := range unknown {
		edges = append(edges, kapiEdge{p.Name, kapiCase{Name: fmt.Sprintf("%s/unknown=%d", p.Name, u), Want: "EINVAL"},
			0, strconv.Itoa(os.Getpagesize()), u})
	}
	return edges
}

// kapiResult is what a line says: the errno name, "0", or "-" for a
// case that did not run (a note).
func kapiResult(line string) string {
	_, rest, _ := strings.Cut(line, ": ")
	if !strings.HasPrefix(rest, "ret=") {
		return "-"
	}
	for _, w := range strings.Fields(rest) {
		if e, ok := strings.CutPrefix(w, "errno="); ok {
			return e
		}
	}
	return "?"
}

// A kapiConfig is one way of running the program.
type kapiConfig struct {
	label string
	flags []string // madvisor run's flags
	// quick skips the slow case: --check-maps reads the whole maps file
	// after each of its 32,000 mprotect calls.
	quick bool
	// kapi: stderr ends with the verifier's summary, which must report no
	// violation.
	kapi bool
}

// kapiOutcome is one case's line in each run.
type kapiOutcome struct {
	native string
	lines  map[string]string // by config label
	agreed map[string]bool
}

// TestKAPISpecCoverage generates the cases of the sys_madvise spec, runs
// them natively and under madvisor, and prints the coverage table kept in
// README.md ("Spec coverage"). It fails when a spec item has no case and no
// reason, when a case does not show what the spec says (the spec-vs-host
// rows excepted), and when madvisor's line differs from the kernel's.
func TestKAPISpecCoverage(t *testing.T) {
	specs, err := kapi.ParseFile(kapiSpecFile)
	require.NoError(t, err)
	spec := kapi.Find(specs, "sys_madvise")
	require.NotNil(t, spec, "%s has no sys_madvise", kapiSpecFile)
	h := probeKAPIHost()
	coverage := kapiCoverage(h)
	edges := kapiEdges(t, spec, h)

	// The spec's items, in its order; each must be covered.
	var items []string
	for _, p := range spec.Params {
		items = append(items, "param:"+p.Name)
	}
	for _, e := range spec.Errors {
		items = append(items, "error:"+e.Errno)
	}
	for _, c := range spec.Capabilities {
		items = append(items, "capability:"+c.Name)
	}
	for _, c := range spec.Constraints {
		items = append(items, "constraint:"+c.Name)
	}
	for item := range coverage {
		require.True(t, slices.Contains(items, item), "kapiCoverage covers %q, which the spec no longer has", item)
	}

	// Run everything.
	bin := cProgram(t, kapiProg, false)
	var args []string
	for _, e := range edges {
		args = append(args, e.arg())
	}
	configs := []kapiConfig{
		{label: "plain", flags: []string{}},
		{label: "emulated", flags: []string{"--emulate=all"}},
		{label: "check-maps", flags: []string{"--check-maps", "--emulate=all"}, quick: true},
	}
	// The runtime verifier: every call checked against the same spec file.
	configs = append(configs, kapiConfig{label: "kapi-verify",
		flags: []string{"--kapi-verify=panic", "--kapi-spec", kapiSpecFile}, kapi: true})
	outcomes, order := runKAPICases(t, bin, args, configs)

	// Which cases each item has, with their wants.
	wantOf := map[string]kapiCase{}
	for _, e := range edges {
		wantOf[e.Name] = e.kapiCase
	}
	explicit := map[string]string{}
	for _, cov := range coverage {
		for _, c := range cov.Cases {
			explicit[c.Name] = c.Want
		}
	}
	itemCases := map[string][]kapiCase{}
	for _, item := range items {
		cov, ok := coverage[item]
		if !ok {
			t.Errorf("spec item %s has no case and no reason (add it to kapiCoverage)", item)
			continue
		}
		cs := slices.Clone(cov.Cases)
		if cov.Prefix != "" {
			for _, name := range order {
				if strings.HasPrefix(name, cov.Prefix) && !slices.ContainsFunc(cs, func(c kapiCase) bool { return c.Name == name }) {
					w, ok := explicit[name]
					if !ok {
						w = kapiFixedWant(name)
					}
					cs = append(cs, kapiCase{Name: name, Want: w})
				}
			}
		}
		for _, e := range edges {
			if slices.Contains(cov.Params, e.Param) && (!strings.HasPrefix(item, "error:") || e.Want == strings.TrimPrefix(item, "error:")) {
				cs = append(cs, e.kapiCase)
			}
		}
		if len(cs) == 0 && cov.Untriggerable == "" {
			t.Errorf("spec item %s has no case and no reason", item)
		}
		itemCases[item] = cs
		for _, c := range cs {
			if prev, ok := wantOf[c.Name]; ok && prev.Want != c.Want {
				t.Errorf("case %s: item %s wants %s, another item %s", c.Name, item, c.Want, prev.Want)
			}
			wantOf[c.Name] = c
		}
	}
	for _, name := range order {
		if _, ok := wantOf[name]; !ok {
			t.Errorf("case %s of %s is not mapped to any spec item", name, kapiProg)
		}
	}

	// Per case: did it show the spec's result natively, under every
	// madvisor run, and did every run agree with the kernel?
	type verdict struct{ native, madvisor, agreed, ran bool }
	verdicts := map[string]verdict{}
	for name, c := range wantOf {
		o, ok := outcomes[name]
		if !ok {
			t.Errorf("case %s is not printed by %s", name, kapiProg)
			continue
		}
		v := verdict{native: kapiResult(o.native) == c.Want, madvisor: true, agreed: true, ran: kapiResult(o.native) != "-"}
		for _, cfg := range configs {
			if l, ok := o.lines[cfg.label]; ok {
				v.madvisor = v.madvisor && kapiResult(l) == c.Want
				v.agreed = v.agreed && o.agreed[cfg.label]
			}
		}
		verdicts[name] = v
		_, specRow := kapiRow(name)
		switch {
		case !v.ran && c.Want != "skipped":
			t.Logf("case %s did not run here: %s", name, o.native)
		case !v.native && !specRow:
			t.Errorf("case %s: the kernel says %s, the spec %s (%s)", name, kapiResult(o.native), c.Want, o.native)
		case !v.madvisor && v.agreed:
			t.Errorf("case %s: madvisor says what the host says, not the spec's %s", name, c.Want)
		}
	}

	// The coverage table.
	var tb strings.Builder
	tb.WriteString("| spec item | cases | triggered natively | under madvisor | agreed |\n| --- | --- | --- | --- | --- |\n")
	for _, item := range items {
		cov := coverage[item]
		cs := itemCases[item]
		var nat, mad, agr, ran, rows int
		// For an error: the cases meant to show it, and how many did.
		var errCases, natErr, madErr int
		errno, isErr := strings.CutPrefix(item, "error:")
		for _, c := range cs {
			v := verdicts[c.Name]
			ran += b2i(v.ran)
			nat += b2i(v.native)
			mad += b2i(v.madvisor)
			agr += b2i(v.agreed)
			if _, ok := kapiRow(c.Name); ok {
				rows++
			}
			if isErr && c.Want == errno {
				errCases++
				natErr += b2i(v.native)
				madErr += b2i(v.madvisor)
			}
		}
		cell := func(n int) string { return fmt.Sprintf("%d/%d", n, len(cs)) }
		nCell, mCell, aCell := cell(nat), cell(mad), cell(agr)
		switch {
		case isErr && natErr+madErr == 0:
			if cov.Untriggerable == "" {
				t.Errorf("%s: no case triggers %s here, and there is no reason why", item, errno)
			}
			nCell, mCell = "no: "+cov.Untriggerable, "no"
		case isErr:
			// An error is triggered when one of its cases shows it.
			if cov.Untriggerable != "" {
				t.Errorf("%s is triggered here but has a reason for being untriggerable", item)
			}
			nCell = fmt.Sprintf("yes (%d/%d cases)", natErr, errCases)
			mCell = fmt.Sprintf("yes (%d/%d cases)", madErr, errCases)
		case cov.Untriggerable != "":
			nCell += " (" + cov.Untriggerable + ")"
		}
		if ran < len(cs) {
			nCell += fmt.Sprintf(", %d not run here", len(cs)-ran)
		}
		if rows > 0 {
			aCell += fmt.Sprintf(" (%d spec-vs-host)", rows)
		}
		fmt.Fprintf(&tb, "| %s | %d | %s | %s | %s |\n", item, len(cs), nCell, mCell, aCell)
	}
	t.Logf("coverage of %s by %s (natively and under madvisor %s):\n%s", kapiSpecFile, kapiProg,
		strings.Join(configLabels(configs), ", "), tb.String())

	var cb strings.Builder
	cb.WriteString("| case | spec | native | madvisor | agreed | note |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, name := range order {
		c := wantOf[name]
		o := outcomes[name]
		var mad []string
		for _, cfg := range configs {
			if l, ok := o.lines[cfg.label]; ok && kapiResult(l) != kapiResult(o.native) {
				mad = append(mad, cfg.label+"="+kapiResult(l))
			}
		}
		m := "same"
		if len(mad) > 0 {
			m = strings.Join(mad, " ")
		}
		fmt.Fprintf(&cb, "| %s | %s | %s | %s | %v | %s |\n", name, c.Want, kapiResult(o.native), m, verdicts[name].agreed, c.Note)
	}
	t.Logf("cases:\n%s", cb.String())
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func configLabels(cs []kapiConfig) []string {
	var l []string
	for _, c := range cs {
		l = append(l, c.label)
	}
	return l
}

// kapiRow returns the spec-vs-host row of a case, if it has one.
func kapiRow(name string) (specRow, bool) {
	for _, r := range slices.Concat(specRows, kapiSpecRows) {
		if r.Program == kapiProg && r.Case == name {
			return r, true
		}
	}
	return specRow{}, false
}

// runKAPICases runs bin with args natively and in each config, and
// compares each run's lines with the native ones as compareMadvise does:
// the same line, or the spec's where the host has a spec-vs-host
// difference. It returns the outcome of every case and the cases in the
// order printed.
func runKAPICases(t *testing.T, bin string, args []string, configs []kapiConfig) (map[string]*kapiOutcome, []string) {
	natives := map[bool][]string{}
	nativeStderr := map[bool]string{}
	for _, quick := range []bool{false, true} {
		argv := []string{bin}
		if quick {
			argv = append(argv, "-quick")
		}
		r := runProgram(t, runOpts{}, append(argv, args...)...)
		require.Equal(t, 0, r.Status, "native run of %s: exit status\n%s", kapiProg, r)
		lines := splitLines(r.Stdout)
		require.NotEmpty(t, lines)
		require.Equal(t, "done", lines[len(lines)-1], "native run of %s did not finish\n%s", kapiProg, r)
		natives[quick] = lines[:len(lines)-1]
		nativeStderr[quick] = r.Stderr
	}
	outcomes := map[string]*kapiOutcome{}
	var order []string
	for _, l := range natives[false] {
		name := caseName(l)
		require.NotContains(t, outcomes, name, "%s prints case %q twice", kapiProg, name)
		outcomes[name] = &kapiOutcome{native: l, lines: map[string]string{}, agreed: map[string]bool{}}
		order = append(order, name)
	}
	for _, cfg := range configs {
		argv := []string{bin}
		if cfg.quick {
			argv = append(argv, "-quick")
		}
		r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: cfg.flags, Timeout: 2 * defaultTimeout}, append(argv, args...)...)
		for _, p := range statusProblems(result{Status: 0}, r) {
			t.Errorf("%s: %s\n%s", cfg.label, p, r)
		}
		stderr := r.Stderr
		if cfg.kapi {
			lines := splitLines(stderr)
			require.NotEmpty(t, lines, "%s: no verifier summary on stderr", cfg.label)
			summary := lines[len(lines)-1]
			require.Regexp(t, `^madvisor: kapi: \d+ call\(s\) checked .*, 0 violation\(s\)$`, summary, "%s: verifier summary", cfg.label)
			stderr = strings.Join(lines[:len(lines)-1], "\n")
		}
		if stderr != nativeStderr[cfg.quick] {
			t.Errorf("%s: stderr differs (- native, + madvisor):\n%s", cfg.label, lineDiff(nativeStderr[cfg.quick], stderr))
		}
		got := splitLines(r.Stdout)
		want := natives[cfg.quick]
		if len(got) != len(want)+1 {
			t.Errorf("%s: %d lines under madvisor, %d natively (- native, + madvisor):\n%s", cfg.label, len(got), len(want)+1,
				lineDiff(strings.Join(want, "\n")+"\ndone\n", r.Stdout))
			continue
		}
		var problems []string
		for i, w := range want {
			name := caseName(w)
			o := outcomes[name]
			if o == nil || strings.HasSuffix(w, ": skipped (-quick)") {
				continue
			}
			g := got[i]
			o.lines[cfg.label] = g
			expect := w
			if row, ok := kapiRow(name); ok && w == row.Host {
				expect = row.Spec
			}
			agreed := g == expect
			if !agreed {
				if why := knownGap(kapiProg, w, g, cfg.flags); why != "" {
					t.Logf("%s: known emulation gap, %s:\n- %s\n+ %s", cfg.label, why, w, g)
					agreed = true
				} else {
					problems = append(problems, fmt.Sprintf("- %s\n+ %s", expect, g))
				}
			}
			o.agreed[cfg.label] = agreed
		}
		if len(problems) > 0 {
			t.Errorf("%s: %d of %d cases differ from the kernel (or, for spec-vs-host rows, from the spec) (- expected, + madvisor):\n%s",
				cfg.label, len(problems), len(want), strings.Join(problems, "\n"))
		}
	}
	return outcomes, order
}
