package lockdep

import "sync"

// Mutex is a mutual-exclusion lock validated by lockdep. Call Init (or use
// NewMutex) before use. Every operation names the holder.
type Mutex struct {
	mu  sync.Mutex
	dep Map
}

// NewMutex returns a mutex of class c.
func NewMutex(c *Class) *Mutex {
	m := &Mutex{}
	m.dep.Init(c)
	return m
}

// Init sets the mutex's class.
func (m *Mutex) Init(c *Class) { m.dep.Init(c) }

// LockMap returns the mutex's lockdep map.
func (m *Mutex) LockMap() *Map { return &m.dep }

// Lock acquires the mutex.
func (m *Mutex) Lock(h *Holder) { m.lock(h, 0) }

// LockNested acquires the mutex as subclass sub (see Class).
func (m *Mutex) LockNested(h *Holder, sub int) { m.lock(h, sub) }

func (m *Mutex) lock(h *Holder, sub int) {
	if curMode.Load() == int32(Off) {
		if !m.mu.TryLock() {
			m.lockSlow(h)
		}
		return
	}
	n := m.dep.node(sub)
	h.check(&m.dep, n, Write)
	if !m.mu.TryLock() {
		m.lockSlow(h)
	}
	h.commit(&m.dep, n, Write)
}

func (m *Mutex) lockSlow(h *Holder) {
	h.waitBegin(&m.dep)
	m.mu.Lock()
	h.waitEnd(&m.dep)
}

// TryLock acquires the mutex if it is free and reports whether it did.
func (m *Mutex) TryLock(h *Holder) bool { return m.tryLock(h) }

func (m *Mutex) tryLock(h *Holder) bool {
	ok := m.mu.TryLock()
	if curMode.Load() == int32(Off) {
		return ok
	}
	n := m.dep.node(0)
	if !ok {
		h.record(OpTryFailed, &m.dep, n, Write|Try)
		return false
	}
	h.commit(&m.dep, n, Write|Try)
	return true
}

// Unlock releases the mutex. With validation on, a release by a holder that
// does not hold the mutex is reported and (in Warn mode) not performed.
func (m *Mutex) Unlock(h *Holder) {
	if curMode.Load() != int32(Off) && !h.release(&m.dep, Write) {
		return
	}
	m.mu.Unlock()
}
