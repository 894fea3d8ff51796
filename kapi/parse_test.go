package kapi

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const seed = "testdata/sys_madvise.txt"

func parseSeed(t *testing.T) *Spec {
	t.Helper()
	specs, err := ParseFile(seed)
	require.NoError(t, err)
	require.Len(t, specs, 1)
	return specs[0]
}

func TestParseSeed(t *testing.T) {
	s := parseSeed(t)
	assert.Equal(t, "sys_madvise", s.Name)
	assert.Equal(t, "Give advice about use of memory", s.Summary)
	assert.Equal(t, seed, s.File)
	assert.Equal(t, 58, s.Line, "the line of the /**")
	assert.Equal(t, []string{"start", "len_in", "behavior"}, []string{s.Args[0].Name, s.Args[1].Name, s.Args[2].Name})
	assert.Equal(t, []string{"process", "sleepable"}, s.Contexts)

	assert.Len(t, s.Params, 3)
	assert.Len(t, s.Errors, 11)
	assert.Len(t, s.Locks, 5)
	assert.Len(t, s.Signals, 1)
	assert.Len(t, s.SideEffects, 10)
	assert.Len(t, s.Capabilities, 1)
	assert.Len(t, s.Constraints, 8)
	assert.Empty(t, s.Other)

	start, lenIn, behavior := s.Params[0], s.Params[1], s.Params[2]
	assert.Equal(t, "start", start.Name)
	assert.Equal(t, "uint", start.Type)
	assert.Equal(t, []string{"input"}, start.Flags)
	assert.Equal(t, "page_aligned", start.ConstraintType)
	assert.Nil(t, start.Range)
	assert.True(t, strings.HasPrefix(start.Desc, "Starting virtual address of the range. Must be aligned to PAGE_SIZE. An unaligned"), start.Desc)
	assert.True(t, strings.HasSuffix(start.Desc, "because they bypass the VMA walk."), start.Desc)
	assert.Equal(t, "range", lenIn.ConstraintType)
	assert.Equal(t, &Range{Min: "0", Max: "SIZE_MAX"}, lenIn.Range)
	assert.Equal(t, "int", behavior.Type)
	assert.Empty(t, behavior.ConstraintType)
	assert.Equal(t, []int{185, 195, 204}, []int{start.Line, lenIn.Line, behavior.Line})

	require.NotNil(t, s.Return)
	assert.Equal(t, "int", s.Return.Type)
	assert.Equal(t, "exact", s.Return.CheckType)
	assert.Equal(t, "0", s.Return.Success)
	assert.True(t, strings.HasPrefix(s.Return.Desc, "On success, returns 0. On error, returns a negative error code. There is no"))

	var errnos []string
	var lines []int
	for _, e := range s.Errors {
		errnos = append(errnos, e.Errno)
		lines = append(lines, e.Line)
	}
	assert.Equal(t, []string{"EINVAL", "ENOMEM", "EAGAIN", "EIO", "EBADF", "EACCES", "EPERM", "EINTR", "EHWPOISON", "EFAULT", "EBUSY"}, errnos)
	assert.Equal(t, []int{222, 232, 242, 251, 259, 264, 270, 279, 289, 294, 299}, lines)
	assert.Equal(t, "Invalid argument", s.Errors[0].Name)
	assert.Equal(t, -22, s.Errors[0].Code)
	assert.Equal(t, -133, s.ErrorFor("EHWPOISON").Code)
	assert.Equal(t, "Memory page has hardware error", s.ErrorFor("EHWPOISON").Name)
	assert.Contains(t, s.Errors[0].Desc, "The constraint: blocks cover FREE", "a colon inside a continuation line is text")

	assert.Equal(t, "mm->mmap_lock (read mode)", s.Locks[0].Name)
	assert.Equal(t, "mm->mmap_lock (write mode; killable)", s.Locks[1].Name)
	assert.Equal(t, "per-VMA read lock (vma->vm_lock)", s.Locks[2].Name)
	assert.Equal(t, "mmu_gather TLB batch", s.Locks[3].Name)
	assert.Equal(t, "mmu_notifier invalidate range", s.Locks[4].Name)
	for _, l := range s.Locks {
		assert.True(t, l.Acquired && l.Released, l.Name)
	}
	assert.Equal(t, "rwlock", s.Locks[0].Type)
	assert.Equal(t, "custom", s.Locks[2].Type)

	sig := s.Signals[0]
	assert.Equal(t, Signal{
		Name:      "Any fatal signal",
		Direction: "receive",
		Action:    "return",
		Condition: "Acquiring the mmap write lock or faulting in pages for MADV_POPULATE_*",
		Desc:      sig.Desc,
		Errno:     "-EINTR",
		Timing:    "during",
		Line:      367,
	}, sig)

	first, last := s.SideEffects[1], s.SideEffects[9]
	assert.Equal(t, []string{"free_memory", "modify_state", "irreversible"}, first.Kinds)
	assert.Equal(t, "page tables and resident pages within the range", first.Target)
	assert.Equal(t, "MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE", first.Condition)
	assert.False(t, first.Reversible)
	assert.True(t, s.SideEffects[0].Reversible)
	assert.Equal(t, "MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_REMOVE on a userfaultfd-armed VMA", last.Condition)

	assert.Equal(t, Capability{
		Name:      "CAP_SYS_ADMIN",
		Type:      "perform_operation",
		Allows:    "Inject memory errors via MADV_HWPOISON or MADV_SOFT_OFFLINE",
		Without:   "Both behaviors return -EPERM",
		Condition: "Checked at entry to madvise_inject_error() before any pages are looked up",
		Line:      494,
	}, s.Capabilities[0])

	exprs := map[string]string{
		"Page-aligned start":                                  "(start & (PAGE_SIZE - 1)) == 0",
		"Length rounded up to PAGE_SIZE":                      "end = start + PAGE_ALIGN(len_in); end >= start",
		"Behavior must be supported":                          "",
		"mseal-protected discards":                            "!is_discard(behavior) || !vma_is_sealed(vma) || !vma_is_anonymous(vma) || ((vma->vm_flags & VM_WRITE) && arch_vma_access_permitted(vma, true, false, false))",
		"MADV_FREE requires anonymous mappings":               "vma_is_anonymous(vma)",
		"MADV_WIPEONFORK requires private anonymous mappings": "!vma->vm_file && !(vma->vm_flags & VM_SHARED)",
		"MADV_REMOVE requires a writable shared file mapping": "!(vma->vm_flags & VM_LOCKED) && vma->vm_file && vma->vm_file->f_mapping && vma->vm_file->f_mapping->host && vma_is_shared_maywrite(vma)",
		"MADV_COLD / MADV_PAGEOUT VMA filter":                 "!(vma->vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB))",
	}
	for _, c := range s.Constraints {
		want, ok := exprs[c.Name]
		if assert.True(t, ok, "constraint %q", c.Name) {
			assert.Equal(t, want, c.Expr, c.Name)
		}
		assert.NotEmpty(t, c.Desc, c.Name)
	}
	assert.Equal(t, "start must lie on a page boundary; otherwise the call returns -EINVAL before any VMA is consulted.", s.Constraints[0].Desc)

	assert.Equal(t, strings.Join([]string{
		"madvise(p, len, MADV_SEQUENTIAL);  // set VM_SEQ_READ on the VMA",
		"madvise(p, len, MADV_POPULATE_WRITE);  // prefault writable PTEs",
		"madvise(p, len, MADV_DONTNEED);        // discard anonymous pages",
		"madvise(p, len, MADV_GUARD_INSTALL);   // install SIGSEGV guard pages",
	}, "\n"), s.Examples)

	paras := strings.Split(s.Notes, "\n\n")
	require.Len(t, paras, 7)
	assert.True(t, strings.HasPrefix(paras[1], "Behavior introduction history (mainline): MADV_FREE in 4.5,"), paras[1])
	assert.Equal(t, "Architecture note: alpha defines MADV_DONTNEED as 6 (not 4) and reserves MADV_SPACEAVAIL=5; portable code must use the symbolic names from <sys/mman.h>.", paras[6])
	for _, p := range paras {
		assert.NotContains(t, p, "\n")
		assert.NotContains(t, p, "  ")
	}
	long := strings.Split(s.LongDesc, "\n\n")
	assert.Len(t, long, 11)
	assert.True(t, strings.HasPrefix(long[3], "- Hint behaviors update VMA flags. The flags fall into five sub-classes"), long[3])
}

// src is a C file with KAPI comments in the kernel's other spellings, and
// comments that are not specifications.
const src = `// SPDX-License-Identifier: GPL-2.0
/* not kerneldoc: param: x */

/**
 * plain_helper() - A plain kerneldoc comment
 * @x: the thing
 *
 * Return: 0, always.
 */
int plain_helper(int x);

/**
 * sys_frob - Frob a file
 * @fd: The descriptor
 * @flags: Frob flags
 *
 * Some kerneldoc prose with a code line:
 *   foo: bar
 *
 * context-flags: KAPI_CTX_PROCESS | KAPI_CTX_SLEEPABLE
 * param: fd
 *   type: KAPI_TYPE_FD
 *   flags: KAPI_PARAM_IN
 *   constraint-type: mask(FROB_A | FROB_B)
 *   constraint: Must be open
 *     for writing
 *   desc: The file.
 * param-type: flags, uint
 * param-constraint: flags, Only FROB_* bits
 * return-type: int
 * return-success: 0
 * lock: files->file_lock, spinlock
 *   acquired: true
 *   released: no
 * lock-desc: Taken around the fd lookup.
 * signal: SIGKILL
 *   priority: 1
 *   state-required: KAPI_SIGNAL_STATE_RUNNING
 *   restartable: yes
 * side-effect: modify_state, alloc_memory
 * capability: CAP_SYS_ADMIN, bypass_check
 * constraint: flags valid
 *   desc: Only known bits.
 * constraint-expr: flags valid, (flags & ~FROB_ALL) == 0
 * state-trans: file, closed, frobbed, frobbing an open file
 * state-trans: inode
 *   from: clean
 *   to: dirty
 *   condition: writable file
 *   desc: The inode is
 *     dirtied.
 * struct-param: frob_args
 *   size: 16
 * struct-field: frob_args.mode, __u32, The mode
 * since-version: 6.20
 * api-type: syscall
 * examples:
 *   if (frob(fd, 0) < 0)
 *           perror("frob");
 *
 *   frob(fd, FROB_A);
 * Context: Process context.
 *   (kerneldoc prose, skipped)
 */
SYSCALL_DEFINE2(frob, int, fd, unsigned int, flags)
{
	return 0;
}

/**
 * contexts: process
 * error: ENOENT, No such file or directory
 */
SYSCALL_DEFINE1(unfrob, int, fd)
`

func TestParseKinds(t *testing.T) {
	specs, err := Parse(strings.NewReader(src), "frob.c")
	require.NoError(t, err)
	require.Len(t, specs, 2, "the plain kerneldoc comment is no spec")
	s, u := specs[0], specs[1]
	assert.Equal(t, "sys_frob", s.Name)
	assert.Equal(t, 12, s.Line)
	assert.Equal(t, []Arg{{Name: "fd", Desc: "The descriptor"}, {Name: "flags", Desc: "Frob flags"}}, s.Args)
	assert.Equal(t, []string{"KAPI_CTX_PROCESS", "KAPI_CTX_SLEEPABLE"}, s.Contexts)

	require.Len(t, s.Params, 2)
	assert.Equal(t, Param{Name: "fd", Type: "KAPI_TYPE_FD", Flags: []string{"KAPI_PARAM_IN"},
		ConstraintType: "mask", ConstraintArgs: "FROB_A | FROB_B", Constraint: "Must be open for writing",
		Desc: "The file.", Line: 21}, s.Params[0])
	assert.Equal(t, Param{Name: "flags", Type: "uint", Constraint: "Only FROB_* bits", Line: 28}, s.Params[1])

	assert.Equal(t, &Return{Type: "int", Success: "0", Line: 30}, s.Return)
	require.Len(t, s.Locks, 1)
	assert.Equal(t, Lock{Name: "files->file_lock", Type: "spinlock", Acquired: true, Desc: "Taken around the fd lookup.", Line: 32}, s.Locks[0])
	require.Len(t, s.Signals, 1)
	assert.True(t, s.Signals[0].Restartable)
	assert.Equal(t, []Field{{Key: "priority", Value: "1", Line: 37}, {Key: "state-required", Value: "KAPI_SIGNAL_STATE_RUNNING", Line: 38}}, s.Signals[0].Other)
	assert.Equal(t, []string{"modify_state", "alloc_memory"}, s.SideEffects[0].Kinds)
	assert.Equal(t, Capability{Name: "CAP_SYS_ADMIN", Type: "bypass_check", Line: 41}, s.Capabilities[0])
	assert.Equal(t, Constraint{Name: "flags valid", Desc: "Only known bits.", Expr: "(flags & ~FROB_ALL) == 0", Line: 42}, s.Constraints[0])
	assert.Equal(t, []StateTrans{
		{Object: "file", From: "closed", To: "frobbed", Desc: "frobbing an open file", Line: 45},
		{Object: "inode", From: "clean", To: "dirty", Condition: "writable file", Desc: "The inode is dirtied.", Line: 46},
	}, s.StateTrans)
	assert.Equal(t, []Section{
		{Kind: "struct-param", Title: "frob_args", Fields: []Field{{Key: "size", Value: "16", Line: 53}}, Line: 52},
		{Kind: "struct-field", Title: "frob_args.mode, __u32, The mode", Line: 54},
	}, s.StructParams)
	assert.Equal(t, "6.20", s.Since)
	assert.Equal(t, []Section{{Kind: "api-type", Title: "syscall", Line: 56}}, s.Other)
	assert.Equal(t, "if (frob(fd, 0) < 0)\n        perror(\"frob\");\n\nfrob(fd, FROB_A);", s.Examples)

	assert.Equal(t, "sys_unfrob", u.Name, "named by the SYSCALL_DEFINE after it")
	assert.Equal(t, "ENOENT", u.Errors[0].Errno)
	assert.Equal(t, -2, u.Errors[0].Code)

	assert.Same(t, s, Find(specs, "frob"))
	assert.Same(t, s, Find(specs, "sys_frob"))
	assert.Same(t, u, Find(specs, "unfrob"))
	assert.Nil(t, Find(specs, "plain_helper"))
	assert.Nil(t, Find(specs, "open"))
}

func TestParsePatch(t *testing.T) {
	// A patch changing a spec: "-" lines are gone, context lines stay.
	patch := `diff --git a/mm/x.c b/mm/x.c
--- a/mm/x.c
+++ b/mm/x.c
@@ -10,8 +10,9 @@ int x;
 /**
  * sys_x - Do x
- * error: EPERM, Operation not permitted
+ * error: EINVAL, Invalid argument
+ *   desc: Bad
  * lock: big
  *   acquired: yes
  */
 SYSCALL_DEFINE0(x)
-- 
2.53.0
`
	specs, err := Parse(strings.NewReader(patch), "x.patch")
	require.NoError(t, err)
	require.Len(t, specs, 1)
	s := specs[0]
	assert.Equal(t, "sys_x", s.Name)
	assert.Equal(t, []Error{{Errno: "EINVAL", Code: -22, Name: "Invalid argument", Desc: "Bad", Line: 8}}, s.Errors)
	assert.Equal(t, []Lock{{Name: "big", Acquired: true, Line: 10}}, s.Locks)

	// A "+" comment outside any hunk header: the "+" column is dropped.
	specs, err = Parse(strings.NewReader("+/**\n+ * sys_y - Y\n+ * contexts: atomic\n+ */\n"), "y.patch")
	require.NoError(t, err)
	require.Len(t, specs, 1)
	assert.Equal(t, []string{"atomic"}, specs[0].Contexts)
}

func TestParseSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		msg        string
	}{
		{"field outside any section", "/**\n * sys_a - A\n *   type: uint\n * param: a\n */\n", 3, `field "type: uint" outside any section`},
		{"error without errno", "/**\n * sys_a - A\n * error:\n *   desc: x\n */\n", 3, "error: needs an errno name"},
		{"error with text for errno", "/**\n * sys_a - A\n * error: Invalid argument\n */\n", 3, `"Invalid argument" is not an errno name`},
		{"acquired maybe", "/**\n * sys_a - A\n * lock: l\n *   type: mutex\n *   acquired: maybe\n */\n", 5, `acquired: "maybe": want yes or no`},
		{"restartable maybe", "/**\n * sys_a - A\n * signal: SIGINT\n *   restartable: sometimes\n */\n", 4, "want yes or no"},
		{"reversible maybe", "/**\n * sys_a - A\n * side-effect: modify_state\n *   reversible: partly\n */\n", 4, "want yes or no"},
		{"unterminated comment", "int x;\n/**\n * sys_a - A\n * contexts: process\n", 2, "unterminated comment"},
		{"hunk ends inside comment", "@@ -1,2 +1,3 @@\n+/**\n+ * sys_a - A\n+ * contexts: process\ndiff --git a/b b/b\n", 2, "unterminated comment"},
		{"param field before any param", "/**\n * sys_a - A\n * contexts: process\n *   type: uint, input\n * param: a\n */\n", 4, "field type: under contexts:, which has no fields"},
		{"flat param field before its param", "/**\n * sys_a - A\n * param-type: b, uint\n * param: b\n */\n", 3, `param-type: no parameter "b"`},
		{"continuation not indented", "/**\n * sys_a - A\n * param: a\n *   desc: one\n *   two\n */\n", 5, `"two" is not a "key: value" field of param:`},
		{"unindented text in a section", "/**\n * sys_a - A\n * long-desc: one\n * two\n */\n", 4, "must be indented under it"},
		{"second long-desc", "/**\n * sys_a - A\n * long-desc: one\n * long-desc: two\n */\n", 4, "second long-desc: section (the first is at line 3)"},
		{"second param of a name", "/**\n * sys_a - A\n * param: a\n * param: a\n */\n", 4, "second param: a (the first is at line 3)"},
		{"range without two bounds", "/**\n * sys_a - A\n * param: a\n *   constraint-type: range(0)\n */\n", 4, "want two bounds"},
		{"constraint-expr for no constraint", "/**\n * sys_a - A\n * constraint-expr: c, x > 0\n */\n", 3, "no constraint: c section"},
		{"lock without a name", "/**\n * sys_a - A\n * lock:\n *   type: mutex\n */\n", 3, "lock: needs a title"},
		{"no name", "/**\n * contexts: process\n */\nint;\n", 1, "names no function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.text), "a.c")
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "got %v", err)
			assert.Equal(t, "a.c", se.File)
			assert.Equal(t, tc.line, se.Line, se.Error())
			assert.Contains(t, se.Msg, tc.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "a.c:"+strconv.Itoa(tc.line)+": "), err.Error())
		})
	}
}

func TestParseKapiMadviseCopy(t *testing.T) {
	parsed := parseSeed(t)
	m := Madvise()
	assert.Equal(t, parsed, m, "the built-in table is the seed's spec (go generate ./kapi)")
	m.Params[1].Range.Max = "0"
	m.Errors[0].Other = append(m.Errors[0].Other, Field{Key: "x"})
	m.SideEffects[0].Kinds[0] = "changed"
	m.Contexts[0] = "changed"
	assert.Equal(t, parsed, Madvise(), "callers' changes stay in their copy")
}
