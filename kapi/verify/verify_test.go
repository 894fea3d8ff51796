package verify

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/kapi"
	"madvisor/lockdep"
	"madvisor/mm"
)

const (
	base = 0x7f0000000000
	pg   = pageSize
)

func seed(t *testing.T) *kapi.Spec {
	t.Helper()
	specs, err := kapi.ParseFile("../testdata/sys_madvise.txt")
	require.NoError(t, err)
	s := kapi.Find(specs, "sys_madvise")
	require.NotNil(t, s)
	return s
}

func newVerifier(t *testing.T, s *kapi.Spec) *Verifier {
	t.Helper()
	v, err := New(s)
	require.NoError(t, err)
	return v
}

func anon(start, pages uint64, flags mm.VMFlags) mm.VMA {
	return mm.VMA{Start: start, End: start + pages*pg, Flags: mm.VMRead | mm.VMWrite | mm.VMMayRead | mm.VMMayWrite | flags}
}

func file(start, pages uint64, flags mm.VMFlags) mm.VMA {
	v := anon(start, pages, flags)
	v.Backing = mm.Backing{Kind: mm.BackingFile, Path: "/tmp/f", Inode: 7}
	return v
}

var (
	mmapLock = lockdep.NewClass("mmap_lock")
	vmaLock  = lockdep.NewClass("vma_lock")
)

func ev(op lockdep.Op, c *lockdep.Class, a lockdep.Access) lockdep.Event {
	return lockdep.Event{Op: op, Class: c, Access: a}
}

func sections(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Section+" ("+v.Field+")")
	}
	return out
}

func call(advice int, start, length uint64, errno unix.Errno, before ...mm.VMA) *Call {
	c := &Call{Start: start, Len: length, Advice: advice, Errno: errno, Before: before, After: before,
		Kconfig: mm.MadviseKconfig{KSM: true, THP: true, Swap: true}}
	return c
}

func TestCheckAgrees(t *testing.T) {
	v := newVerifier(t, seed(t))
	locked := anon(base, 4, mm.VMLocked)
	sealedRO := anon(base, 4, mm.VMSealed)
	sealedRO.Flags &^= mm.VMWrite
	wiped := anon(base, 4, mm.VMWipeOnFork)
	for name, c := range map[string]*Call{
		"dontneed":            call(unix.MADV_DONTNEED, base, pg, 0, anon(base, 4, 0)),
		"unaligned":           call(unix.MADV_DONTNEED, base+1, pg, unix.EINVAL, anon(base, 4, 0)),
		"unknown advice":      call(999, base, pg, unix.EINVAL, anon(base, 4, 0)),
		"wrap":                call(unix.MADV_DONTNEED, base, ^uint64(0)-pg+1, unix.EINVAL),
		"zero length":         call(unix.MADV_DONTNEED, base, 0, 0),
		"gap":                 call(unix.MADV_WILLNEED, base, 8*pg, unix.ENOMEM, anon(base, 4, 0)),
		"free on file":        call(unix.MADV_FREE, base, pg, unix.EINVAL, file(base, 4, 0)),
		"remove private file": call(unix.MADV_REMOVE, base, pg, unix.EACCES, file(base, 4, 0)),
		"cold on locked":      call(unix.MADV_COLD, base, pg, unix.EINVAL, locked),
		"sealed discard":      call(unix.MADV_DONTNEED, base, pg, unix.EPERM, sealedRO),
		"wipeonfork":          call(unix.MADV_WIPEONFORK, base, 4*pg, 0, anon(base, 4, 0)),
		"guard restart":       call(unix.MADV_GUARD_INSTALL, base, pg, mm.ERESTARTNOINTR, anon(base, 4, 0)),
		"hwpoison no cap":     call(unix.MADV_HWPOISON, base, pg, unix.EPERM, anon(base, 4, 0)),
		"dontneed on locked":  call(unix.MADV_DONTNEED, base, pg, unix.EINVAL, locked),
		"populate einval":     call(unix.MADV_POPULATE_READ, base, pg, unix.EINVAL, anon(base, 4, 0)),
		"vsyscall is a gap": call(unix.MADV_WILLNEED, 0xffffffffff600000, pg, unix.ENOMEM,
			mm.VMA{Start: 0xffffffffff600000, End: 0xffffffffff601000, Backing: mm.Backing{Kind: mm.BackingVsyscall}}),
	} {
		if name == "wipeonfork" {
			c.After = []mm.VMA{wiped}
		}
		if name == "hwpoison no cap" {
			c.Kconfig.MemoryFailure = true
		}
		assert.Empty(t, sections(v.Check(c)), name)
	}
}

func TestCheckFinds(t *testing.T) {
	v := newVerifier(t, seed(t))
	sealedRO := anon(base, 4, mm.VMSealed)
	sealedRO.Flags &^= mm.VMWrite
	for name, tc := range map[string]struct {
		c    *Call
		want string
	}{
		"unaligned accepted":   {call(unix.MADV_NORMAL, base+1, pg, 0, anon(base, 4, 0)), "param: start (constraint-type: page_aligned)"},
		"free on file allowed": {call(unix.MADV_FREE, base, pg, 0, file(base, 4, 0)), "constraint: MADV_FREE requires anonymous mappings"},
		"sealed discard wrong errno": {call(unix.MADV_DONTNEED, base, pg, unix.ENOMEM, sealedRO),
			"constraint: mseal-protected discards"},
		"errno not listed":     {call(unix.MADV_DONTNEED, base, pg, unix.EOPNOTSUPP, anon(base, 4, 0)), "error (errno)"},
		"einval without cause": {call(unix.MADV_DONTNEED, base, pg, unix.EINVAL, anon(base, 4, 0)), "error: EINVAL (desc)"},
		"enomem without gap":   {call(unix.MADV_WILLNEED, base, pg, unix.ENOMEM, anon(base, 4, 0)), "error: ENOMEM (desc)"},
		"eintr no signal":      {call(unix.MADV_RANDOM, base, pg, unix.EINTR, anon(base, 4, 0)), "error: EINTR (desc)"},
		"restart elsewhere":    {call(unix.MADV_DONTNEED, base, pg, mm.ERESTARTNOINTR, anon(base, 4, 0)), "notes (ERESTARTNOINTR)"},
		"flag not set":         {call(unix.MADV_RANDOM, base, pg, 0, anon(base, 4, 0)), "side-effect: vma->vm_flags (desc)"},
		"guard not installed": {call(unix.MADV_GUARD_INSTALL, base, pg, 0, anon(base, 4, 0)),
			"side-effect: PTE marker (PTE_MARKER_GUARD) (desc)"},
	} {
		got := sections(v.Check(tc.c))
		require.NotEmpty(t, got, name)
		assert.True(t, strings.HasPrefix(got[0], tc.want), "%s: %v", name, got)
	}
}

func TestCheckLocks(t *testing.T) {
	v := newVerifier(t, seed(t))
	flags := call(unix.MADV_RANDOM, base, pg, 0, anon(base, 4, mm.VMRandRead))
	flags.Locks = []lockdep.Event{
		ev(lockdep.OpAcquire, mmapLock, lockdep.Write|lockdep.Killable),
		ev(lockdep.OpAcquire, vmaLock, lockdep.Write),
		ev(lockdep.OpRelease, vmaLock, lockdep.Write),
		ev(lockdep.OpRelease, mmapLock, lockdep.Write),
	}
	assert.Empty(t, sections(v.Check(flags)))

	flags.Locks[0].Access = lockdep.Read
	assert.Contains(t, sections(v.Check(flags)), "lock: mm->mmap_lock (write mode; killable) (acquired)", "read mode for a flag advice")
	flags.Locks[0].Access = lockdep.Write
	assert.Contains(t, sections(v.Check(flags)), "lock: mm->mmap_lock (write mode; killable) (killable)")

	flags.Locks = flags.Locks[:2]
	got := sections(v.Check(flags))
	assert.Contains(t, got, "lock: mm->mmap_lock (read mode), mm->mmap_lock (write mode; killable) (released)")

	none := call(unix.MADV_RANDOM, base, pg, 0, anon(base, 4, mm.VMRandRead))
	none.Locks = []lockdep.Event{}
	assert.Equal(t, []string{"lock: mm->mmap_lock (write mode; killable) (acquired)"}, sections(v.Check(none)))
}

// A spec with an errno removed or a lock mode changed must make the
// verifier report calls it accepted before.
func TestMutatedSpec(t *testing.T) {
	s := seed(t)
	var errs []kapi.Error
	for _, e := range s.Errors {
		if e.Errno != "EINVAL" {
			errs = append(errs, e)
		}
	}
	s.Errors = errs
	v := newVerifier(t, s)
	assert.Equal(t, []string{"error (errno)"}, sections(v.Check(call(999, base, pg, unix.EINVAL, anon(base, 4, 0)))))

	s = seed(t)
	for i := range s.Locks {
		s.Locks[i].Name = strings.Replace(s.Locks[i].Name, "(write mode; killable)", "(read mode)", 1)
	}
	v = newVerifier(t, s)
	c := call(unix.MADV_RANDOM, base, pg, 0, anon(base, 4, mm.VMRandRead))
	c.Locks = []lockdep.Event{
		ev(lockdep.OpAcquire, mmapLock, lockdep.Write|lockdep.Killable),
		ev(lockdep.OpRelease, mmapLock, lockdep.Write),
	}
	assert.Contains(t, sections(v.Check(c)), "lock: mm->mmap_lock (read mode) (acquired)")
}

func TestNewRejects(t *testing.T) {
	s := seed(t)
	s.Constraints[0].Expr = "(start & "
	_, err := New(s)
	assert.ErrorContains(t, err, "Page-aligned start")
	s = seed(t)
	s.Constraints[0].Expr = "frobnicate(vma)"
	_, err = New(s)
	assert.ErrorContains(t, err, "frobnicate")
}

func BenchmarkCheck(b *testing.B) {
	specs, err := kapi.ParseFile("../testdata/sys_madvise.txt")
	require.NoError(b, err)
	v, err := New(kapi.Find(specs, "sys_madvise"))
	require.NoError(b, err)
	for _, advice := range []int{unix.MADV_NORMAL, unix.MADV_DONTNEED} {
		c := call(advice, base, pg, 0, anon(base, 4, 0))
		c.Locks = []lockdep.Event{
			ev(lockdep.OpAcquire, mmapLock, lockdep.Write|lockdep.Killable),
			ev(lockdep.OpRelease, mmapLock, lockdep.Write),
		}
		b.Run(adviceString(advice), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v.Check(c)
			}
		})
	}
}
