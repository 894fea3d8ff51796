package lockdep

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"off", Off, false},
		{"warn", Warn, false},
		{"PANIC", Panic, false},
		{" warn ", Warn, false},
		{"on", Off, true},
		{"", Off, true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.wantErr {
			assert.Error(t, err, "ParseMode(%q)", tt.in)
			continue
		}
		require.NoError(t, err, "ParseMode(%q)", tt.in)
		assert.Equal(t, tt.want, got, "ParseMode(%q)", tt.in)
		assert.Equal(t, strings.ToLower(strings.TrimSpace(tt.in)), got.String())
	}
	var m Mode
	require.NoError(t, m.Set("panic"))
	assert.Equal(t, Panic, m)
}

// ABBA seen once on each side, by two holders, at different times, with no
// deadlock actually happening.
func TestCircularABBA(t *testing.T) {
	out := fresh(t, Warn)
	a, b := NewMutex(cls(t, "A")), NewMutex(cls(t, "B"))
	h1, h2 := NewHolder("fault", 1), NewHolder("madvise", 2)

	requireNoReport(t, func() {
		a.Lock(h1)
		b.Lock(h1)
		b.Unlock(h1)
		a.Unlock(h1)
	})

	b.Lock(h2)
	a.Lock(h2) // reported, then goes on: nobody holds a
	a.Unlock(h2)
	b.Unlock(h2)

	got := out.String()
	an, bn := a.dep.class.name, b.dep.class.name
	assertHeadings(t, got,
		"======================================================\n"+
			"WARNING: possible circular locking dependency detected\n",
		"------------------------------------------------------\n",
		"madvise/2 is trying to acquire lock:\n", "("+an+"){W}, at: ", "TestCircularABBA",
		"but task is already holding lock:\n", "("+bn+"){W}, at: ", "TestCircularABBA",
		"the existing dependency chain (in reverse order) is:",
		"-> #1 ("+bn+"){W}:", "TestCircularABBA", "first seen in fault/1, holding "+an,
		"-> #0 ("+an+"){W}:",
		"Possible unsafe locking scenario:",
		"CPU0                    CPU1",
		"  lock("+bn+");",
		"                               lock("+an+");",
		"                               lock("+bn+");",
		"  lock("+an+");",
		"*** DEADLOCK ***",
		"1 lock held by madvise/2:\n #0: ",
		"("+bn+"){W}",
		"stack backtrace:",
	)
}

func TestCircularPanicBeforeBlocking(t *testing.T) {
	fresh(t, Panic)
	a, b := NewRWSem(cls(t, "A")), NewRWSem(cls(t, "B"))
	h1, h2 := NewHolder("t", 1), NewHolder("t", 2)
	a.RLock(h1)
	b.Lock(h1)
	b.Unlock(h1)
	a.RUnlock(h1)

	b.RLock(h2)
	r := catch(func() { a.Lock(h2) })
	require.NotNil(t, r, "want a panic")
	assert.Equal(t, CircularDependency, r.Kind)
	assert.Equal(t, "t/2", r.Holder)
	assert.Contains(t, r.Text, "WARNING: possible circular locking dependency detected")
	// The panic came before the acquisition: a is free and not on the stack.
	assert.Equal(t, 1, h2.Depth())
	assert.True(t, a.TryLock(h1), "a must still be free")
	a.Unlock(h1)
	b.RUnlock(h2)
}

func TestCircularLongChain(t *testing.T) {
	out := fresh(t, Warn)
	a, b, c := NewMutex(cls(t, "A")), NewMutex(cls(t, "B")), NewMutex(cls(t, "C"))
	h := NewHolder("t", 1)
	lockPair := func(x, y *Mutex) {
		x.Lock(h)
		y.Lock(h)
		y.Unlock(h)
		x.Unlock(h)
	}
	requireNoReport(t, func() {
		lockPair(a, b)
		lockPair(b, c)
	})
	lockPair(c, a)
	an, bn, cn := a.dep.class.name, b.dep.class.name, c.dep.class.name
	assertHeadings(t, out.String(),
		"WARNING: possible circular locking dependency detected",
		"the existing dependency chain (in reverse order) is:",
		"-> #2 ("+cn+"){W}:", "-> #1 ("+bn+"){W}:", "-> #0 ("+an+"){W}:",
		"Chain exists of:\n  "+an+" --> "+bn+" --> "+cn+" --> "+an,
		"  lock("+cn+");",
		"                               lock("+bn+");",
		"                               lock("+cn+");",
		"  lock("+an+");",
		"*** DEADLOCK ***",
	)
}

func TestWarnPrintsOnce(t *testing.T) {
	out := fresh(t, Warn)
	a, b := NewMutex(cls(t, "A")), NewMutex(cls(t, "B"))
	h := NewHolder("t", 1)
	a.Lock(h)
	b.Lock(h)
	b.Unlock(h)
	a.Unlock(h)
	before := ReportCount()
	for i := 0; i < 3; i++ {
		b.Lock(h)
		a.Lock(h)
		a.Unlock(h)
		b.Unlock(h)
	}
	assert.Equal(t, before+3, ReportCount())
	assert.Equal(t, 1, strings.Count(out.String(), "WARNING: possible circular"))
}

func TestRecursiveRead(t *testing.T) {
	out := fresh(t, Warn)
	rw := NewRWSem(cls(t, "sem"))
	h := NewHolder("reader", 3)
	rw.RLock(h)
	rw.RLock(h) // no writer waits, so it does not deadlock here
	rw.RUnlock(h)
	rw.RUnlock(h)
	n := rw.dep.class.name
	assertHeadings(t, out.String(),
		"============================================\n"+
			"WARNING: possible recursive locking detected\n",
		"--------------------------------------------\n",
		"reader/3 is trying to acquire lock:\n", "("+n+"){R}",
		"but task is already holding lock:\n", "("+n+"){R}",
		"readers are not recursive",
		"Possible unsafe locking scenario:",
		"       CPU0\n       ----\n  rlock("+n+");\n  rlock("+n+");",
		"*** DEADLOCK ***",
		"1 lock held by reader/3:",
		"stack backtrace:",
	)
}

func TestRecursiveSameClass(t *testing.T) {
	out := fresh(t, Warn)
	c := cls(t, "mm")
	x, y := NewMutex(c), NewMutex(c)
	h := NewHolder("t", 1)
	x.Lock(h)
	y.Lock(h)
	y.Unlock(h)
	x.Unlock(h)
	assertHeadings(t, out.String(),
		"WARNING: possible recursive locking detected",
		"May be due to missing lock nesting notation",
		"1 lock held by t/1:",
	)
}

func TestRecursiveWritePanics(t *testing.T) {
	fresh(t, Panic)
	m := NewMutex(cls(t, "m"))
	h := NewHolder("t", 1)
	m.Lock(h)
	r := catch(func() { m.Lock(h) })
	require.NotNil(t, r)
	assert.Equal(t, RecursiveLocking, r.Kind)
	m.Unlock(h)
}

func TestBadUnlockBalance(t *testing.T) {
	out := fresh(t, Warn)
	m := NewMutex(cls(t, "m"))
	h := NewHolder("t", 4)
	m.Unlock(h) // reported and not performed (sync.Mutex would die)
	n := m.dep.class.name
	assertHeadings(t, out.String(),
		"=====================================\n"+
			"WARNING: bad unlock balance detected!\n",
		"-------------------------------------\n",
		"t/4 is trying to release lock ("+n+"){W} at:\n", "TestBadUnlockBalance",
		"but there are no more locks to release!",
		"other info that might help us debug this:",
		"no locks held by t/4.",
		"stack backtrace:",
	)
}

func TestBadUnlockWrongMode(t *testing.T) {
	out := fresh(t, Warn)
	rw := NewRWSem(cls(t, "sem"))
	h := NewHolder("t", 1)
	rw.Lock(h)
	rw.RUnlock(h) // rejected: held {W}
	rw.Unlock(h)
	assertHeadings(t, out.String(),
		"WARNING: bad unlock balance detected!",
		"but it holds that lock {W}, not {R}!",
		"1 lock held by t/1:",
	)
	assert.Zero(t, h.Depth())
}

func TestForeignUnlock(t *testing.T) {
	out := fresh(t, Warn)
	m := NewMutex(cls(t, "m"))
	owner, other := NewHolder("owner", 1), NewHolder("other", 2)
	m.Lock(owner)
	m.Unlock(other) // rejected
	m.Unlock(owner)
	assertHeadings(t, out.String(),
		"WARNING: releasing a lock held by another task!",
		"other/2 is trying to release lock",
		"but the lock is held by owner/1, not by other/2.",
		"no locks held by other/2.",
	)

	rw := NewRWSem(cls(t, "sem"))
	rw.RLock(owner)
	rw.RUnlock(other)
	rw.RUnlock(owner)
	assert.Contains(t, out.String(), "but the lock is held by 1 reader(s), not by other/2.")
}

func TestHeldAtReturn(t *testing.T) {
	out := fresh(t, Warn)
	mmap := NewRWSem(cls(t, "mmap_lock"))
	vma := NewRWSem(cls(t, "vma"))
	h := NewHolder("task", 42)
	requireNoReport(t, func() { h.CheckNoneHeld("madvise") })
	mmap.RLock(h)
	vma.Lock(h)
	h.CheckNoneHeld("madvise")
	vma.Unlock(h)
	mmap.RUnlock(h)
	assertHeadings(t, out.String(),
		"================================================\n"+
			"WARNING: lock held when returning to user space!\n",
		"------------------------------------------------\n",
		"task/42 is returning to its tracee (madvise) with locks still held:",
		"2 locks held by task/42:",
		" #0: ", "("+mmap.dep.class.name+"){R}, at: ", "TestHeldAtReturn",
		" #1: ", "("+vma.dep.class.name+"){W}, at: ", "TestHeldAtReturn",
	)
}

func TestAssertions(t *testing.T) {
	fresh(t, Panic)
	rw := NewRWSem(cls(t, "sem"))
	h := NewHolder("t", 1)

	requireNoReport(t, func() { h.AssertNotHeld(rw) })
	r := catch(func() { h.AssertHeld(rw) })
	require.NotNil(t, r)
	assert.Equal(t, AssertionFailed, r.Kind)
	assert.Contains(t, r.Text, "WARNING: lock assertion failed!")
	assert.Contains(t, r.Text, "but it does not hold it")

	rw.RLock(h)
	requireNoReport(t, func() {
		h.AssertHeld(rw)
		h.AssertHeldR(rw)
	})
	r = catch(func() { h.AssertHeldW(rw) })
	require.NotNil(t, r)
	assert.Contains(t, r.Text, "but it holds it {R}")
	r = catch(func() { h.AssertNotHeld(rw) })
	require.NotNil(t, r)
	assert.Contains(t, r.Text, "expected not to hold")
	rw.RUnlock(h)

	rw.Lock(h)
	requireNoReport(t, func() { h.AssertHeldW(rw) })
	r = catch(func() { h.AssertHeldR(rw) })
	require.NotNil(t, r)
	assert.Contains(t, r.Text, "but it holds it {W}")
	rw.Unlock(h)
}

func TestMayAcquire(t *testing.T) {
	out := fresh(t, Warn)
	a := NewMutex(cls(t, "A"))
	bc := cls(t, "B")
	b := NewMutex(bc)
	h1, h2 := NewHolder("t", 1), NewHolder("t", 2)
	requireNoReport(t, func() {
		a.Lock(h1)
		h1.MayAcquire(bc, 0) // a rare path might take b under a
		a.Unlock(h1)
	})
	b.Lock(h2)
	a.Lock(h2)
	a.Unlock(h2)
	b.Unlock(h2)
	assert.Contains(t, out.String(), "WARNING: possible circular locking dependency detected")

	// MayAcquire of a class already held is recursive.
	out.Reset()
	b.Lock(h1)
	h1.MayAcquire(bc, 0)
	b.Unlock(h1)
	assert.Contains(t, out.String(), "WARNING: possible recursive locking detected")
}

func TestPin(t *testing.T) {
	out := fresh(t, Warn)
	m := NewMutex(cls(t, "m"))
	h := NewHolder("t", 1)

	requireNoReport(t, func() {
		m.Lock(h)
		c := h.Pin(m)
		h.Unpin(m, c)
		m.Unlock(h)
	})

	m.Lock(h)
	c := h.Pin(m)
	m.Unlock(h) // the callee dropped a pinned lock
	assertHeadings(t, out.String(),
		"WARNING: releasing a pinned lock!",
		"but it is pinned (1 pin(s))",
		"1 lock held by t/1:", "[pinned]",
	)
	assert.Zero(t, h.Depth(), "Warn goes on with the release")

	out.Reset()
	h.Unpin(m, c)
	assertHeadings(t, out.String(), "WARNING: bad lock pin detected!", "but it does not hold the lock.")

	out.Reset()
	m.Lock(h)
	c = h.Pin(m)
	h.Unpin(m, c+1000)
	assertHeadings(t, out.String(), "WARNING: bad lock pin detected!", "does not pin it.")
	h.Unpin(m, c)
	m.Unlock(h)
}

func TestDowngrade(t *testing.T) {
	out := fresh(t, Warn)
	rw := NewRWSem(cls(t, "sem"))
	h, r := NewHolder("t", 1), NewHolder("t", 2)
	requireNoReport(t, func() {
		rw.Lock(h)
		rw.Downgrade(h)
		h.AssertHeldR(rw)
		assert.True(t, rw.TryRLock(r), "a reader gets in after the downgrade")
		assert.False(t, rw.TryLock(r), "a writer does not")
		rw.RUnlock(r)
		rw.RUnlock(h)
	})
	rw.RLock(h)
	rw.Downgrade(h)
	rw.RUnlock(h)
	assertHeadings(t, out.String(), "WARNING: bad downgrade detected!", "but it holds it {R}, not {W}.")
}

func TestScope(t *testing.T) {
	out := fresh(t, Warn)
	tlb := NewScope(cls(t, "mmu_gather"))
	notifier := NewScope(cls(t, "mmu_notifier"))
	ptl := NewMutex(cls(t, "ptl"))
	h := NewHolder("t", 1)

	requireNoReport(t, func() {
		notifier.Enter(h)
		tlb.Enter(h)
		ptl.Lock(h)
		ptl.Unlock(h)
		tlb.Exit(h)
		notifier.Exit(h)
	})

	tlb.Exit(h) // not entered
	assertHeadings(t, out.String(), "WARNING: bad unlock balance detected!", "but there are no more locks to release!")

	out.Reset()
	notifier.Enter(h)
	tlb.Enter(h)
	notifier.Exit(h) // tlb still open
	tlb.Exit(h)
	assertHeadings(t, out.String(), "WARNING: bad scope nesting detected!",
		"is trying to end scope", "("+notifier.dep.class.name+")",
		"scopes must end in reverse order")

	// Scopes are part of the graph: the ptl was taken inside the gather,
	// so opening a gather under the ptl is an inversion.
	out.Reset()
	ptl.Lock(h)
	tlb.Enter(h)
	tlb.Exit(h)
	ptl.Unlock(h)
	assert.Contains(t, out.String(), "WARNING: possible circular locking dependency detected")
}

func TestScopeManyHolders(t *testing.T) {
	fresh(t, Panic)
	s := NewScope(cls(t, "s"))
	h1, h2 := NewHolder("t", 1), NewHolder("t", 2)
	requireNoReport(t, func() {
		s.Enter(h1)
		s.Enter(h2)
		s.Exit(h1)
		s.Exit(h2)
	})
}

func TestSiteNamesCaller(t *testing.T) {
	fresh(t, Warn)
	m, rw, s := NewMutex(cls(t, "m")), NewRWSem(cls(t, "rw")), NewScope(cls(t, "s"))
	tr := NewRWSem(cls(t, "try"))
	raw := &Map{}
	raw.Init(cls(t, "raw"))
	h := NewHolder("t", 1)
	m.Lock(h)
	rw.RLock(h)
	s.Enter(h)
	require.True(t, tr.TryLock(h))
	h.Acquire(raw, 0, Read)
	for _, e := range h.held {
		assert.Contains(t, formatSite(&e.site), "lockdep.TestSiteNamesCaller", "site of %s", e.node.name)
	}
	require.True(t, h.Release(raw, Read))
	tr.Unlock(h)
	s.Exit(h)
	rw.RUnlock(h)
	m.Unlock(h)
}
