package lockdep

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitSignal is a Waiter that tells the test when its holder blocks.
type waitSignal struct {
	blocked chan *Map
	ended   chan *Map
}

func newWaitSignal() *waitSignal {
	return &waitSignal{blocked: make(chan *Map, 4), ended: make(chan *Map, 4)}
}

func (w *waitSignal) WaitBegin(_ *Holder, l *Map) { w.blocked <- l }
func (w *waitSignal) WaitEnd(_ *Holder, l *Map)   { w.ended <- l }

func (w *waitSignal) waitBlocked(t *testing.T) {
	t.Helper()
	select {
	case <-w.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("holder did not block")
	}
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not end")
		return nil
	}
}

func TestKillableWriteInterrupted(t *testing.T) {
	for _, m := range []Mode{Off, Panic} {
		t.Run(m.String(), func(t *testing.T) {
			fresh(t, m)
			mmap := NewRWSem(cls(t, "mmap_lock"))
			writer, victim := NewHolder("writer", 1), NewHolder("victim", 2)
			ws := newWaitSignal()
			victim.SetWaiter(ws)

			mmap.Lock(writer)
			done := make(chan error)
			go func() { done <- mmap.LockKillable(victim) }()
			ws.waitBlocked(t)
			victim.SignalFatal()
			err := recvErr(t, done)
			assert.ErrorIs(t, err, ErrKilled)
			assert.Zero(t, victim.Depth(), "the killed holder holds nothing")
			<-ws.ended

			// The writer still holds it; nobody else got in.
			requireNoReport(t, func() {
				writer.AssertHeldW(mmap)
				assert.False(t, mmap.TryRLock(NewHolder("probe", 3)))
				mmap.Unlock(writer)
			})
			probe := NewHolder("probe", 4)
			require.True(t, mmap.TryLock(probe), "the semaphore is free again")
			mmap.Unlock(probe)

			// With the signal still pending: contended -> ErrKilled at
			// once; uncontended -> acquired (like the kernel's fast path).
			mmap.Lock(writer)
			assert.ErrorIs(t, mmap.LockKillable(victim), ErrKilled)
			mmap.Unlock(writer)
			require.NoError(t, mmap.LockKillable(victim))
			mmap.Unlock(victim)
			victim.ClearFatalSignal()
			assert.False(t, victim.FatalSignalPending())
		})
	}
}

// A writer that gives up lets the readers queued behind it in, when only
// readers hold the semaphore.
func TestKilledWriterUnblocksReaders(t *testing.T) {
	fresh(t, Panic)
	rw := NewRWSem(cls(t, "sem"))
	r1, w, r2 := NewHolder("r", 1), NewHolder("w", 2), NewHolder("r", 3)
	wsW, wsR := newWaitSignal(), newWaitSignal()
	w.SetWaiter(wsW)
	r2.SetWaiter(wsR)

	rw.RLock(r1)
	wDone := make(chan error)
	go func() { wDone <- rw.LockKillable(w) }()
	wsW.waitBlocked(t)
	rDone := make(chan error)
	go func() {
		rw.RLock(r2) // queued behind the writer: readers do not jump it
		rDone <- nil
	}()
	wsR.waitBlocked(t)
	w.SignalFatal()
	assert.ErrorIs(t, recvErr(t, wDone), ErrKilled)
	require.NoError(t, recvErr(t, rDone))
	rw.RUnlock(r1)
	rw.RUnlock(r2)
	p := NewHolder("p", 4)
	require.True(t, rw.TryLock(p))
	rw.Unlock(p)
}

func TestKillableReadInterrupted(t *testing.T) {
	fresh(t, Panic)
	rw := NewRWSem(cls(t, "sem"))
	w, r := NewHolder("w", 1), NewHolder("r", 2)
	ws := newWaitSignal()
	r.SetWaiter(ws)
	rw.Lock(w)
	done := make(chan error)
	go func() { done <- rw.RLockKillable(r) }()
	ws.waitBlocked(t)
	r.SignalFatal()
	assert.ErrorIs(t, recvErr(t, done), ErrKilled)
	rw.Unlock(w)
}

// Hand-off order: a waiting writer goes before readers that came after it,
// and readers queued together get in together.
func TestRWSemFIFO(t *testing.T) {
	fresh(t, Off)
	rw := NewRWSem(cls(t, "sem"))
	owner := NewHolder("o", 0)
	rw.Lock(owner)

	var mu sync.Mutex
	var order []string
	ws := newWaitSignal()
	start := func(name string, write bool) *sync.WaitGroup {
		h := NewHolder(name, 1)
		h.SetWaiter(ws)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if write {
				rw.Lock(h)
			} else {
				rw.RLock(h)
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			if write {
				rw.Unlock(h)
			} else {
				rw.RUnlock(h)
			}
		}()
		ws.waitBlocked(t)
		return &wg
	}
	wgs := []*sync.WaitGroup{start("w1", true), start("r1", false), start("r2", false), start("w2", true)}
	rw.Unlock(owner)
	for _, wg := range wgs {
		wg.Wait()
	}
	require.Len(t, order, 4)
	assert.Equal(t, "w1", order[0])
	assert.ElementsMatch(t, []string{"r1", "r2"}, order[1:3])
	assert.Equal(t, "w2", order[3])
}

func TestMutexContendedCallsWaiter(t *testing.T) {
	fresh(t, Panic)
	m := NewMutex(cls(t, "m"))
	a, b := NewHolder("a", 1), NewHolder("b", 2)
	ws := newWaitSignal()
	b.SetWaiter(ws)
	m.Lock(a)
	done := make(chan error)
	go func() {
		m.Lock(b)
		m.Unlock(b)
		done <- nil
	}()
	ws.waitBlocked(t)
	m.Unlock(a)
	require.NoError(t, recvErr(t, done))
	<-ws.ended
}
