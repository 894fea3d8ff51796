package lockdep

import (
	"errors"
	"fmt"
	"sync"

	"go.uber.org/atomic"
)

// ErrKilled is returned by the killable acquisitions when the holder got a
// fatal signal (Holder.SignalFatal) while it waited. The lock is then not
// held. A client emulating the kernel returns EINTR for it.
var ErrKilled = errors.New("lockdep: wait interrupted by a fatal signal")

// Access says how a lock is (to be) acquired.
type Access uint8

const (
	// Write is an exclusive acquisition.
	Write Access = 0
	// Read is a shared acquisition. Readers are not recursive: a holder
	// that read-holds a lock and reads it again is reported.
	Read Access = 1 << 0
	// Try marks an acquisition that does not block (trylock). It is not
	// checked against the graph and adds no edge into the lock, but locks
	// taken while holding it depend on it as usual.
	Try Access = 1 << 1
	// Killable marks a wait that a fatal signal interrupts.
	Killable Access = 1 << 2
)

// String returns e.g. "W", "R", "W|try", "W|killable".
func (a Access) String() string {
	s := "W"
	if a&Read != 0 {
		s = "R"
	}
	if a&Try != 0 {
		s += "|try"
	}
	if a&Killable != 0 {
		s += "|killable"
	}
	return s
}

// mark is the mode shown in reports: {W} or {R}.
func (a Access) mark() string {
	if a&Read != 0 {
		return "{R}"
	}
	return "{W}"
}

// A Lock is anything that carries a lockdep Map: Mutex, RWSem, Scope, and
// Map itself (for clients that build their own lock types).
type Lock interface {
	LockMap() *Map
}

// Map is the validator's view of one lock instance: its class and who holds
// it. Every lock type embeds one; a client building its own lock type embeds
// a Map, calls Init, and brackets its primitive with Holder.Acquire and
// Holder.Release.
type Map struct {
	class *Class
	scope bool
	// owner is the holder that write-holds the lock (nil if none or if the
	// lock is a scope).
	owner atomic.Pointer[Holder]
	// readers counts the holders that read-hold the lock.
	readers atomic.Int32
}

// Init sets the lock's class. It must be called before the lock is used with
// validation on.
func (m *Map) Init(c *Class) {
	if c == nil {
		panic("lockdep: Map.Init with a nil class")
	}
	m.class = c
}

// Class returns the lock's class (nil before Init).
func (m *Map) Class() *Class { return m.class }

// LockMap returns m.
func (m *Map) LockMap() *Map { return m }

func (m *Map) node(sub int) *node {
	if m.class == nil {
		panic("lockdep: lock used before Init (it has no class)")
	}
	return m.class.node(sub)
}

// heldLock is one entry of a holder's held-lock stack.
type heldLock struct {
	m      *Map
	node   *node
	access Access
	site   site
	pins   []PinCookie
}

// Waiter is told when a holder is about to block on a lock and when the
// wait is over (acquired, or interrupted). It is the seam for a scheduler
// that must know which tasks are runnable; it is called only on the
// contended path, whatever the mode.
type Waiter interface {
	WaitBegin(h *Holder, l *Map)
	WaitEnd(h *Holder, l *Map)
}

// Op is the kind of an Event.
type Op uint8

const (
	// OpAcquire: the lock was acquired.
	OpAcquire Op = iota
	// OpRelease: the lock was released.
	OpRelease
	// OpDowngrade: a write hold became a read hold.
	OpDowngrade
	// OpTryFailed: a trylock did not get the lock.
	OpTryFailed
	// OpKilled: a killable wait was interrupted by a fatal signal.
	OpKilled
)

var opNames = [...]string{"acquire", "release", "downgrade", "try-failed", "killed"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Event is what a holder's recorder sees for each lock operation (only while
// validation is on).
type Event struct {
	Op       Op
	Class    *Class
	Subclass int
	Access   Access
	Lock     *Map
}

// String returns e.g. "acquire mmap_lock/1 R".
func (e Event) String() string {
	name := "?"
	if e.Class != nil {
		name = e.Class.node(e.Subclass).name
	}
	return fmt.Sprintf("%s %s %s", e.Op, name, e.Access)
}

// A Holder is whoever holds locks: madvisor's task embeds one and passes it
// to every lock operation. Its held-lock stack belongs to one goroutine at a
// time (the task's); SignalFatal, ClearFatalSignal, FatalSignalPending and
// Dying may be called from any goroutine. A Holder must not be copied.
type Holder struct {
	name string
	id   int

	// held is the held-lock stack, oldest first. It is used only by the
	// goroutine that owns the holder.
	held []heldLock
	buf  [8]heldLock

	// waiter and recorder are set before the holder is used.
	waiter   Waiter
	recorder func(Event)

	killMu sync.Mutex
	// killCh is closed when a fatal signal is pending; protected by killMu.
	killCh chan struct{}
	killed atomic.Bool
}

// NewHolder returns a holder named name/id in reports (like "madvise/1234").
func NewHolder(name string, id int) *Holder {
	h := &Holder{name: name, id: id, killCh: make(chan struct{})}
	h.held = h.buf[:0]
	return h
}

// Name returns the holder's name.
func (h *Holder) Name() string { return h.name }

// ID returns the holder's id.
func (h *Holder) ID() int { return h.id }

// String returns "name/id".
func (h *Holder) String() string { return fmt.Sprintf("%s/%d", h.name, h.id) }

// SetWaiter installs the scheduler hook (nil removes it). Call it before the
// holder takes locks.
func (h *Holder) SetWaiter(w Waiter) { h.waiter = w }

// SetRecorder installs a function called for every lock operation of this
// holder while validation is on (nil removes it). Call it from the holder's
// goroutine.
func (h *Holder) SetRecorder(r func(Event)) { h.recorder = r }

// SignalFatal marks a fatal signal pending for the holder: its killable
// waits (now and later) return ErrKilled, and a wait in progress is woken at
// once.
func (h *Holder) SignalFatal() {
	h.killMu.Lock()
	defer h.killMu.Unlock()
	if !h.killed.Load() {
		h.killed.Store(true)
		close(h.killCh)
	}
}

// ClearFatalSignal forgets a pending fatal signal (for holders that are
// reused, e.g. in tests).
func (h *Holder) ClearFatalSignal() {
	h.killMu.Lock()
	defer h.killMu.Unlock()
	if h.killed.Load() {
		h.killCh = make(chan struct{})
		h.killed.Store(false)
	}
}

// FatalSignalPending reports whether a fatal signal is pending.
func (h *Holder) FatalSignalPending() bool { return h.killed.Load() }

// Dying returns a channel that is closed when a fatal signal is pending.
func (h *Holder) Dying() <-chan struct{} {
	h.killMu.Lock()
	defer h.killMu.Unlock()
	return h.killCh
}

func (h *Holder) waitBegin(m *Map) {
	if h.waiter != nil {
		h.waiter.WaitBegin(h, m)
	}
}

func (h *Holder) waitEnd(m *Map) {
	if h.waiter != nil {
		h.waiter.WaitEnd(h, m)
	}
}

func (h *Holder) record(op Op, m *Map, n *node, a Access) {
	if h.recorder != nil {
		h.recorder(Event{Op: op, Class: n.class, Subclass: n.sub, Access: a, Lock: m})
	}
}

// HeldLock describes one entry of a holder's held-lock stack.
type HeldLock struct {
	Lock     *Map
	Class    *Class
	Subclass int
	Access   Access
	Pinned   bool
}

// HeldLocks returns the holder's held-lock stack, oldest first (empty while
// validation is off).
func (h *Holder) HeldLocks() []HeldLock {
	out := make([]HeldLock, len(h.held))
	for i, e := range h.held {
		out[i] = HeldLock{Lock: e.m, Class: e.node.class, Subclass: e.node.sub, Access: e.access, Pinned: len(e.pins) > 0}
	}
	return out
}

// Depth returns the number of locks on the held-lock stack.
func (h *Holder) Depth() int { return len(h.held) }

// find returns the index of the newest entry for m, or -1.
func (h *Holder) find(m *Map) int {
	for i := len(h.held) - 1; i >= 0; i-- {
		if h.held[i].m == m {
			return i
		}
	}
	return -1
}

// check validates an acquisition of m (nil for MayAcquire) as node n before
// the holder blocks on it, and learns the new dependencies.
func (h *Holder) check(m *Map, n *node, a Access) {
	if a&Try != 0 || curMode.Load() == int32(Record) {
		return
	}
	for i := range h.held {
		e := &h.held[i]
		if (m != nil && e.m == m) || e.node == n {
			h.reportRecursive(e, m, n, a)
			return
		}
	}
	for i := range h.held {
		e := &h.held[i]
		if e.node.edgeTo(n) == nil {
			h.addDependency(e, m, n, a)
		}
	}
}

// addDependency learns held -> n, after checking that it closes no cycle and
// agrees with the declared order.
func (h *Holder) addDependency(held *heldLock, m *Map, n *node, a Access) {
	graph.mu.Lock()
	if held.node.edgeTo(n) != nil {
		graph.mu.Unlock()
		return
	}
	if path := findPathLocked(n, held.node); path != nil {
		graph.mu.Unlock()
		h.reportCircular(held, m, n, a, path)
		return
	}
	var decl []*Class
	if held.node.class != n.class {
		decl = declaredPathLocked(n.class, held.node.class)
	}
	addEdgeLocked(&edge{from: held.node, to: n, access: a, by: h.String(), stack: captureStack()})
	graph.mu.Unlock()
	if decl != nil {
		h.reportDeclared(held, m, n, a, decl)
	}
}

// commit pushes an acquired lock on the held stack.
func (h *Holder) commit(m *Map, n *node, a Access) {
	h.held = append(h.held, heldLock{m: m, node: n, access: a &^ (Try | Killable)})
	captureSite(&h.held[len(h.held)-1].site)
	if !m.scope {
		if a&Read != 0 {
			m.readers.Inc()
		} else {
			m.owner.Store(h)
		}
	}
	if h.recorder != nil {
		h.record(OpAcquire, m, n, a)
	}
}

// release validates a release of m (as a reader if a has Read) and pops it.
// It returns false if the release was rejected (in Warn mode): the lock is
// not held by this holder in that mode, and the caller must leave the
// primitive alone.
func (h *Holder) release(m *Map, a Access) bool {
	i := h.find(m)
	if i < 0 {
		if o := m.owner.Load(); o != nil && o != h {
			h.reportForeign(m, a, o.String())
		} else if r := m.readers.Load(); r > 0 {
			h.reportForeign(m, a, fmt.Sprintf("%d reader(s)", r))
		} else {
			h.reportBadUnlock(m, a, nil)
		}
		return false
	}
	e := &h.held[i]
	if e.access&Read != a&Read {
		h.reportBadUnlock(m, a, e)
		return false
	}
	if m.scope {
		for j := i + 1; j < len(h.held); j++ {
			if h.held[j].m != nil && h.held[j].m.scope {
				h.reportBadNesting(e, &h.held[j])
				break
			}
		}
	}
	if len(e.pins) > 0 {
		h.reportPinned(e)
	}
	n := e.node
	copy(h.held[i:], h.held[i+1:])
	h.held[len(h.held)-1] = heldLock{}
	h.held = h.held[:len(h.held)-1]
	if !m.scope {
		if a&Read != 0 {
			m.readers.Dec()
		} else {
			m.owner.Store(nil)
		}
	}
	if h.recorder != nil {
		h.record(OpRelease, m, n, a)
	}
	return true
}

// downgrade turns the holder's write hold of m into a read hold. It returns
// false if it was rejected (m is not write-held by h).
func (h *Holder) downgrade(m *Map) bool {
	i := h.find(m)
	if i < 0 || h.held[i].access&Read != 0 {
		h.reportBadDowngrade(m, i)
		return false
	}
	e := &h.held[i]
	e.access = Read
	m.owner.Store(nil)
	m.readers.Inc()
	if h.recorder != nil {
		h.record(OpDowngrade, m, e.node, Read)
	}
	return true
}

// Acquire records that the holder acquires l as subclass sub with access a:
// it validates the acquisition against the held locks and the learned
// graph, then pushes l on the held stack. A client's own lock type calls it
// before blocking on its primitive (or, for a Try access, after the trylock
// succeeded), and calls Release if the wait is abandoned.
func (h *Holder) Acquire(l Lock, sub int, a Access) {
	if curMode.Load() == int32(Off) {
		return
	}
	h.acquire(l.LockMap(), sub, a)
}

func (h *Holder) acquire(m *Map, sub int, a Access) {
	n := m.node(sub)
	h.check(m, n, a)
	h.commit(m, n, a)
}

// Release records that the holder releases l (held with access a; only Read
// matters). It returns false if the release was reported as invalid and
// rejected: the client must then leave its primitive alone.
func (h *Holder) Release(l Lock, a Access) bool {
	if curMode.Load() == int32(Off) {
		return true
	}
	return h.release(l.LockMap(), a)
}

// MayAcquire checks an acquisition of class c (subclass sub) that a rare path
// might make, as if it were made here and released at once: recursion and
// ordering are checked, and the dependencies are learned, so an inversion is
// found even if the rare path never runs.
func (h *Holder) MayAcquire(c *Class, sub int) {
	if curMode.Load() == int32(Off) {
		return
	}
	h.check(nil, c.node(sub), Write)
}

// CheckNoneHeld reports every lock still held, as a lock held when returning
// to user space; where names the return point (e.g. "madvise"). Call it when
// the task hands control back to its tracee.
func (h *Holder) CheckNoneHeld(where string) {
	if curMode.Load() == int32(Off) || len(h.held) == 0 {
		return
	}
	h.reportHeldAtReturn(where)
}

// AssertHeld reports if the holder does not hold l (in any mode).
func (h *Holder) AssertHeld(l Lock) {
	if curMode.Load() == int32(Off) {
		return
	}
	m := l.LockMap()
	if h.find(m) < 0 {
		h.reportAssert(m, "to hold", "but it does not hold it")
	}
}

// AssertHeldW reports if the holder does not write-hold l.
func (h *Holder) AssertHeldW(l Lock) {
	if curMode.Load() == int32(Off) {
		return
	}
	m := l.LockMap()
	switch i := h.find(m); {
	case i < 0:
		h.reportAssert(m, "to hold {W}", "but it does not hold it")
	case h.held[i].access&Read != 0:
		h.reportAssert(m, "to hold {W}", "but it holds it {R}")
	}
}

// AssertHeldR reports if the holder does not read-hold l.
func (h *Holder) AssertHeldR(l Lock) {
	if curMode.Load() == int32(Off) {
		return
	}
	m := l.LockMap()
	switch i := h.find(m); {
	case i < 0:
		h.reportAssert(m, "to hold {R}", "but it does not hold it")
	case h.held[i].access&Read == 0:
		h.reportAssert(m, "to hold {R}", "but it holds it {W}")
	}
}

// AssertNotHeld reports if the holder holds l.
func (h *Holder) AssertNotHeld(l Lock) {
	if curMode.Load() == int32(Off) {
		return
	}
	m := l.LockMap()
	if i := h.find(m); i >= 0 {
		h.reportAssert(m, "not to hold", "but it holds it "+h.held[i].access.mark())
	}
}

// PinCookie identifies one Pin of a held lock.
type PinCookie uint64

var pinSeq atomic.Uint64

// Pin pins a lock the holder holds: until Unpin, releasing it is reported.
// A caller pins a lock around a call to say "the callee must not drop it".
// While validation is off it returns 0 and does nothing.
func (h *Holder) Pin(l Lock) PinCookie {
	if curMode.Load() == int32(Off) {
		return 0
	}
	m := l.LockMap()
	i := h.find(m)
	if i < 0 {
		h.reportBadPin(m, "pin", "it does not hold the lock")
		return 0
	}
	c := PinCookie(pinSeq.Inc())
	h.held[i].pins = append(h.held[i].pins, c)
	return c
}

// Unpin undoes the Pin that returned c.
func (h *Holder) Unpin(l Lock, c PinCookie) {
	if curMode.Load() == int32(Off) {
		return
	}
	m := l.LockMap()
	i := h.find(m)
	if i < 0 {
		h.reportBadPin(m, "unpin", "it does not hold the lock")
		return
	}
	pins := h.held[i].pins
	for j, p := range pins {
		if p == c {
			h.held[i].pins = append(pins[:j], pins[j+1:]...)
			return
		}
	}
	h.reportBadPin(m, "unpin", fmt.Sprintf("cookie %#x does not pin it", uint64(c)))
}
