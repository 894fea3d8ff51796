package lockdep

import (
	"sync"

	"go.uber.org/atomic"
)

// RWSem state bits. The reader count lives above the two flag bits.
const (
	rwWriter  int64 = 1 << 0 // a writer holds the semaphore
	rwWaiters int64 = 1 << 1 // the wait queue is not empty
	rwReader  int64 = 1 << 2 // one reader
)

// rwWaiter is one blocked acquisition. The releaser hands the semaphore to
// it directly (sets granted and closes ch), so a woken waiter owns the lock.
type rwWaiter struct {
	write bool
	ch    chan struct{}
	// granted is protected by RWSem.mu.
	granted bool
}

// RWSem is a reader/writer semaphore validated by lockdep, with the kernel
// rwsem's behaviour: FIFO hand-off, a waiting writer blocks new readers (so
// readers are not recursive), killable waits, trylocks and downgrade. The
// uncontended paths are a single compare-and-swap; waiting uses one channel
// per waiter, and a killable wait also selects on the holder's Dying
// channel, so a fatal signal wakes it without polling. Call Init (or use
// NewRWSem) before use.
type RWSem struct {
	dep Map
	// state holds rwWriter, rwWaiters and the reader count. It changes by
	// compare-and-swap on the fast paths; rwWaiters and hand-offs change
	// only under mu.
	state atomic.Int64
	mu    sync.Mutex
	// queue is protected by mu. It is non-empty iff rwWaiters is set.
	queue []*rwWaiter
}

// NewRWSem returns a semaphore of class c.
func NewRWSem(c *Class) *RWSem {
	rw := &RWSem{}
	rw.dep.Init(c)
	return rw
}

// Init sets the semaphore's class.
func (rw *RWSem) Init(c *Class) { rw.dep.Init(c) }

// LockMap returns the semaphore's lockdep map.
func (rw *RWSem) LockMap() *Map { return &rw.dep }

func (rw *RWSem) tryWrite() bool { return rw.state.CompareAndSwap(0, rwWriter) }

func (rw *RWSem) tryRead() bool {
	for {
		s := rw.state.Load()
		if s&(rwWriter|rwWaiters) != 0 {
			return false
		}
		if rw.state.CompareAndSwap(s, s+rwReader) {
			return true
		}
	}
}

// Lock acquires the semaphore for writing.
func (rw *RWSem) Lock(h *Holder) { _ = rw.lock(h, 0, Write) }

// LockNested acquires the semaphore for writing as subclass sub.
func (rw *RWSem) LockNested(h *Holder, sub int) { _ = rw.lock(h, sub, Write) }

// LockKillable acquires the semaphore for writing, unless a fatal signal is
// pending for h before it gets it: then it returns ErrKilled and does not
// hold the semaphore.
func (rw *RWSem) LockKillable(h *Holder) error { return rw.lock(h, 0, Write|Killable) }

// LockKillableNested is LockKillable as subclass sub.
func (rw *RWSem) LockKillableNested(h *Holder, sub int) error {
	return rw.lock(h, sub, Write|Killable)
}

// RLock acquires the semaphore for reading.
func (rw *RWSem) RLock(h *Holder) { _ = rw.lock(h, 0, Read) }

// RLockNested acquires the semaphore for reading as subclass sub.
func (rw *RWSem) RLockNested(h *Holder, sub int) { _ = rw.lock(h, sub, Read) }

// RLockKillable acquires the semaphore for reading, or returns ErrKilled
// (not holding it) if a fatal signal is pending for h while it waits.
func (rw *RWSem) RLockKillable(h *Holder) error { return rw.lock(h, 0, Read|Killable) }

func (rw *RWSem) lock(h *Holder, sub int, a Access) error {
	write := a&Read == 0
	if curMode.Load() == int32(Off) {
		if write && rw.tryWrite() || !write && rw.tryRead() {
			return nil
		}
		if !rw.lockSlow(h, write, a&Killable != 0) {
			return ErrKilled
		}
		return nil
	}
	n := rw.dep.node(sub)
	h.check(&rw.dep, n, a)
	if !(write && rw.tryWrite() || !write && rw.tryRead()) {
		if !rw.lockSlow(h, write, a&Killable != 0) {
			h.record(OpKilled, &rw.dep, n, a)
			return ErrKilled
		}
	}
	h.commit(&rw.dep, n, a)
	return nil
}

// lockSlow queues and waits. It returns false if a killable wait was
// interrupted; the semaphore is then not held.
func (rw *RWSem) lockSlow(h *Holder, write, killable bool) bool {
	if killable && h.FatalSignalPending() {
		return false
	}
	rw.mu.Lock()
	for len(rw.queue) == 0 {
		s := rw.state.Load()
		if write && s == 0 {
			if rw.state.CompareAndSwap(0, rwWriter) {
				rw.mu.Unlock()
				return true
			}
			continue
		}
		if !write && s&rwWriter == 0 {
			if rw.state.CompareAndSwap(s, s+rwReader) {
				rw.mu.Unlock()
				return true
			}
			continue
		}
		// Busy: announce a waiter. The CAS fails if a release slipped in,
		// and then the loop looks again.
		if rw.state.CompareAndSwap(s, s|rwWaiters) {
			break
		}
	}
	w := &rwWaiter{write: write, ch: make(chan struct{})}
	rw.queue = append(rw.queue, w)
	rw.mu.Unlock()

	h.waitBegin(&rw.dep)
	defer h.waitEnd(&rw.dep)
	if !killable {
		<-w.ch
		return true
	}
	select {
	case <-w.ch:
		return true
	case <-h.Dying():
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if w.granted {
		// The hand-off won the race with the signal: keep the lock.
		return true
	}
	for i, q := range rw.queue {
		if q == w {
			rw.queue = append(rw.queue[:i], rw.queue[i+1:]...)
			break
		}
	}
	// Our leaving may let the waiters behind us in (readers behind a
	// writer that gave up), and may empty the queue.
	rw.grantLocked()
	return false
}

// grantLocked hands the semaphore to the waiters at the head of the queue
// that can have it now: one writer, or a run of readers. It clears
// rwWaiters when the queue empties.
//
// Preconditions: rw.mu is held.
func (rw *RWSem) grantLocked() {
	for len(rw.queue) > 0 {
		w := rw.queue[0]
		s := rw.state.Load()
		if w.write {
			if s&^rwWaiters != 0 {
				break
			}
			// Nobody holds it and rwWaiters keeps fast paths out, so
			// this cannot fail; retry if it somehow does.
			if !rw.state.CompareAndSwap(s, s|rwWriter) {
				continue
			}
		} else {
			if s&rwWriter != 0 {
				break
			}
			if !rw.state.CompareAndSwap(s, s+rwReader) {
				continue
			}
		}
		rw.queue[0] = nil
		rw.queue = rw.queue[1:]
		w.granted = true
		close(w.ch)
		if w.write {
			break
		}
	}
	if len(rw.queue) == 0 {
		rw.queue = nil
		for {
			s := rw.state.Load()
			if s&rwWaiters == 0 || rw.state.CompareAndSwap(s, s&^rwWaiters) {
				break
			}
		}
	}
}

func (rw *RWSem) wake() {
	rw.mu.Lock()
	rw.grantLocked()
	rw.mu.Unlock()
}

// Held reports whether the semaphore is held, in either mode, by anyone.
func (rw *RWSem) Held() bool { return rw.state.Load()&^rwWaiters != 0 }

// TryLock acquires the semaphore for writing if it is free.
func (rw *RWSem) TryLock(h *Holder) bool { return rw.try(h, Write|Try) }

// TryRLock acquires the semaphore for reading if no writer holds or waits
// for it.
func (rw *RWSem) TryRLock(h *Holder) bool { return rw.try(h, Read|Try) }

func (rw *RWSem) try(h *Holder, a Access) bool {
	var ok bool
	if a&Read != 0 {
		ok = rw.tryRead()
	} else {
		ok = rw.tryWrite()
	}
	if curMode.Load() == int32(Off) {
		return ok
	}
	n := rw.dep.node(0)
	if !ok {
		h.record(OpTryFailed, &rw.dep, n, a)
		return false
	}
	h.commit(&rw.dep, n, a)
	return true
}

// Unlock releases a write hold.
func (rw *RWSem) Unlock(h *Holder) {
	if curMode.Load() != int32(Off) && !h.release(&rw.dep, Write) {
		return
	}
	for {
		s := rw.state.Load()
		if s&rwWriter == 0 {
			panic("lockdep: RWSem.Unlock of a semaphore not write-locked")
		}
		if rw.state.CompareAndSwap(s, s&^rwWriter) {
			if s&rwWaiters != 0 {
				rw.wake()
			}
			return
		}
	}
}

// RUnlock releases a read hold.
func (rw *RWSem) RUnlock(h *Holder) {
	if curMode.Load() != int32(Off) && !h.release(&rw.dep, Read) {
		return
	}
	s := rw.state.Sub(rwReader)
	if s < 0 || s&rwWriter != 0 {
		panic("lockdep: RWSem.RUnlock of a semaphore not read-locked")
	}
	if s&^rwWaiters == 0 && s&rwWaiters != 0 {
		rw.wake()
	}
}

// Downgrade turns the holder's write hold into a read hold, atomically: no
// writer can get in between, and waiting readers are let in.
func (rw *RWSem) Downgrade(h *Holder) {
	if curMode.Load() != int32(Off) && !h.downgrade(&rw.dep) {
		return
	}
	for {
		s := rw.state.Load()
		if s&rwWriter == 0 {
			panic("lockdep: RWSem.Downgrade of a semaphore not write-locked")
		}
		if rw.state.CompareAndSwap(s, s-rwWriter+rwReader) {
			if s&rwWaiters != 0 {
				rw.wake()
			}
			return
		}
	}
}
