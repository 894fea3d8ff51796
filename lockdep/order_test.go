package lockdep

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubclassNesting(t *testing.T) {
	out := fresh(t, Warn)
	c := cls(t, "mmap_lock")
	parent, child := NewRWSem(c), NewRWSem(c)
	h1, h2 := NewHolder("fork", 1), NewHolder("fork", 2)

	requireNoReport(t, func() {
		parent.LockNested(h1, 0)
		child.LockNested(h1, 1)
		h1.AssertHeldW(child)
		child.Unlock(h1)
		parent.Unlock(h1)
	})

	// The reverse nesting, after the forward one was learned.
	child.LockNested(h2, 1)
	parent.LockNested(h2, 0)
	parent.Unlock(h2)
	child.Unlock(h2)
	n := c.name
	assertHeadings(t, out.String(),
		"WARNING: possible circular locking dependency detected",
		"fork/2 is trying to acquire lock:", "("+n+"){W}",
		"but task is already holding lock:", "("+n+"/1){W}",
		"-> #1 ("+n+"/1){W}:",
		"*** DEADLOCK ***",
	)
}

func TestSameSubclassIsRecursive(t *testing.T) {
	fresh(t, Panic)
	c := cls(t, "mm")
	x, y := NewRWSem(c), NewRWSem(c)
	h := NewHolder("t", 1)
	x.LockNested(h, 1)
	r := catch(func() { y.LockNested(h, 1) })
	require.NotNil(t, r)
	assert.Equal(t, RecursiveLocking, r.Kind)
	x.Unlock(h)
}

// A trylock cannot deadlock, so it is not checked and adds no edge into the
// lock it takes; but locks taken while it is held depend on it.
func TestTrylockEdges(t *testing.T) {
	fresh(t, Panic)
	a, b, c := NewMutex(cls(t, "A")), NewMutex(cls(t, "B")), NewMutex(cls(t, "C"))
	h1, h2 := NewHolder("t", 1), NewHolder("t", 2)
	requireNoReport(t, func() {
		a.Lock(h1)
		require.True(t, b.TryLock(h1))
		c.Lock(h1) // learns a -> c and b -> c
		c.Unlock(h1)
		b.Unlock(h1)
		a.Unlock(h1)

		b.Lock(h2)
		a.Lock(h2) // fine: a -> b was never learned
		a.Unlock(h2)
		b.Unlock(h2)
	})
	// Both trylock forms fail on a held lock, without a report.
	rw := NewRWSem(cls(t, "rw"))
	rw.Lock(h1)
	requireNoReport(t, func() {
		assert.False(t, rw.TryLock(h2))
		assert.False(t, rw.TryRLock(h2))
	})
	rw.Unlock(h1)
	c.Lock(h2)
	r := catch(func() { b.Lock(h2) })
	require.NotNil(t, r)
	assert.Equal(t, CircularDependency, r.Kind)
	c.Unlock(h2)
}

func TestDeclaredOrder(t *testing.T) {
	out := fresh(t, Warn)
	mmapC, vmaC, ptlC := cls(t, "mmap_lock"), cls(t, "vma_lock"), cls(t, "ptl")
	notC, tlbC := cls(t, "mmu_notifier"), cls(t, "mmu_gather")
	DeclareOrder(mmapC, vmaC, ptlC)
	DeclareOrder(mmapC, notC, tlbC)
	mmap, vma, ptl := NewRWSem(mmapC), NewRWSem(vmaC), NewMutex(ptlC)
	not, tlb := NewScope(notC), NewScope(tlbC)
	h := NewHolder("t", 1)

	// Against the declaration, the first time it is seen (nothing learned yet).
	ptl.Lock(h)
	mmap.RLock(h)
	mmap.RUnlock(h)
	ptl.Unlock(h)
	assertHeadings(t, out.String(),
		"WARNING: lock acquired against the declared lock order",
		"is trying to acquire lock:", "("+mmapC.name+"){R}",
		"but task is already holding lock:", "("+ptlC.name+"){W}",
		"and the declared order is:\n  "+mmapC.name+" --> "+vmaC.name+" --> "+ptlC.name,
		"*** DEADLOCK ***",
	)
	err := CheckOrder()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "learned "+ptlC.name+" -> "+mmapC.name)
	assert.Contains(t, err.Error(), "contradicts the declared order")

	// The declared order, learned: the two agree.
	ResetGraph()
	requireNoReport(t, func() {
		mmap.RLock(h)
		vma.Lock(h)
		ptl.Lock(h)
		ptl.Unlock(h)
		vma.Unlock(h)
		not.Enter(h)
		tlb.Enter(h)
		tlb.Exit(h)
		not.Exit(h)
		mmap.RUnlock(h)
	})
	require.NoError(t, CheckOrder())
}

func TestCheckOrderUndeclared(t *testing.T) {
	fresh(t, Panic)
	a, b, c := cls(t, "A"), cls(t, "B"), cls(t, "C")
	DeclareOrder(a, b)
	DeclareOrder(a, c)
	h := NewHolder("t", 1)
	mb, mc := NewMutex(b), NewMutex(c)
	mb.Lock(h)
	mc.Lock(h) // b and c are siblings: the declaration does not order them
	mc.Unlock(h)
	mb.Unlock(h)
	err := CheckOrder()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "learned "+b.name+" -> "+c.name)
	assert.Contains(t, err.Error(), "is not in the declared order")
}

func TestDeclareCyclePanics(t *testing.T) {
	a, b, c := cls(t, "A"), cls(t, "B"), cls(t, "C")
	DeclareOrder(a, b, c)
	assert.PanicsWithValue(t,
		"lockdep: DeclareOrder("+c.name+" -> "+a.name+") contradicts the declared order "+
			a.name+" --> "+b.name+" --> "+c.name,
		func() { DeclareOrder(c, a) })
}

func TestEdges(t *testing.T) {
	fresh(t, Panic)
	a, b := NewMutex(cls(t, "A")), NewMutex(cls(t, "B"))
	h := NewHolder("t", 7)
	a.Lock(h)
	b.Lock(h)
	b.Unlock(h)
	a.Unlock(h)
	var got []Edge
	for _, e := range Edges() {
		if e.From == a.dep.class.name {
			got = append(got, e)
		}
	}
	require.Len(t, got, 1)
	assert.Equal(t, b.dep.class.name, got[0].To)
	assert.Equal(t, "t/7", got[0].By)
	assert.Contains(t, got[0].Stack, "TestEdges")
}

func TestRecorder(t *testing.T) {
	fresh(t, Panic)
	mmap := NewRWSem(cls(t, "mmap"))
	h, other := NewHolder("t", 1), NewHolder("t", 2)
	var got []string
	h.SetRecorder(func(e Event) { got = append(got, e.String()) })
	mmap.Lock(h)
	mmap.Downgrade(h)
	mmap.RUnlock(h)
	mmap.Lock(other)
	assert.False(t, mmap.TryRLock(h))
	mmap.Unlock(other)
	n := mmap.dep.class.name
	assert.Equal(t, []string{
		"acquire " + n + " W",
		"downgrade " + n + " R",
		"release " + n + " R",
		"try-failed " + n + " R|try",
	}, got)
}

func TestOffChecksNothing(t *testing.T) {
	fresh(t, Off)
	a, b := NewMutex(cls(t, "A")), NewRWSem(cls(t, "B"))
	h := NewHolder("t", 1)
	requireNoReport(t, func() {
		a.Lock(h)
		b.Lock(h)
		b.Unlock(h)
		a.Unlock(h)
		b.RLock(h)
		a.Lock(h)
		assert.Zero(t, h.Pin(a))
		h.AssertNotHeld(a)
		h.CheckNoneHeld("off")
		a.Unlock(h)
		b.RUnlock(h)
		assert.Zero(t, h.Depth())
	})
	assert.Empty(t, Edges())
}

// Record keeps the held stacks and the recorder going, and learns no
// dependency: an inversion goes unreported.
func TestRecordRecordsOnly(t *testing.T) {
	fresh(t, Record)
	a, b := NewMutex(cls(t, "A")), NewRWSem(cls(t, "B"))
	h := NewHolder("t", 1)
	var got []string
	h.SetRecorder(func(e Event) { got = append(got, e.String()) })
	requireNoReport(t, func() {
		a.Lock(h)
		b.RLock(h)
		assert.Equal(t, 2, h.Depth())
		b.RUnlock(h)
		a.Unlock(h)
		b.Lock(h)
		a.Lock(h) // B -> A after A -> B: not checked
		a.Unlock(h)
		b.Unlock(h)
	})
	assert.Empty(t, Edges())
	assert.Len(t, got, 8)
	assert.Equal(t, "acquire "+a.dep.class.name+" W", got[0])
}

func TestUninitializedLockPanics(t *testing.T) {
	fresh(t, Warn)
	var m Mutex
	h := NewHolder("t", 1)
	assert.PanicsWithValue(t, "lockdep: lock used before Init (it has no class)", func() { m.Lock(h) })
}
