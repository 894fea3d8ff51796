package det

import "slices"

// FutexKey names a futex word as the kernel does: a private mapping's
// word by its address space and address, a shared mapping's by the
// object behind it and the offset there (so processes sharing it meet).
type FutexKey struct {
	// Space is the address space (private words), or 0.
	Space uint64
	// Object is the shared object's identity (shared words), or "".
	Object string
	// Off is the address (private) or the offset in the object.
	Off uint64
}

// Futexes are the sentry's futex wait queues: a waiting thread is stopped
// in its futex call, and the scheduler, not the host, chooses who wakes.
// A thread waits on one key, or on several (futex_waitv: the first wake
// on any of them ends the wait, and says which).
type Futexes struct {
	queues map[FutexKey][]futexWaiter
	// where are each waiting thread's keys.
	where map[int][]FutexKey
}

type futexWaiter struct {
	vid    int
	bitset uint32
	// slot is the key's index in a futex_waitv vector (0 otherwise).
	slot int
	// pi: a FUTEX_LOCK_PI waiter, which only an unlock hands the lock to.
	pi bool
}

// Woken is a thread a wake woke, and the slot of the key it woke on.
type Woken struct{ Vid, Slot int }

// NewFutexes returns empty queues.
func NewFutexes() *Futexes {
	return &Futexes{queues: map[FutexKey][]futexWaiter{}, where: map[int][]FutexKey{}}
}

func (f *Futexes) enqueue(k FutexKey, w futexWaiter) {
	f.queues[k] = append(f.queues[k], w)
	f.where[w.vid] = append(f.where[w.vid], k)
}

// Wait queues vid on k, to be woken by a wake whose bitset meets bitset.
func (f *Futexes) Wait(k FutexKey, vid int, bitset uint32) {
	f.enqueue(k, futexWaiter{vid: vid, bitset: bitset})
}

// WaitAny queues vid on every key of keys (futex_waitv), each woken by any
// wake; the wake says the key's index.
func (f *Futexes) WaitAny(keys []FutexKey, vid int) {
	for slot, k := range keys {
		f.enqueue(k, futexWaiter{vid: vid, bitset: ^uint32(0), slot: slot})
	}
}

// WaitPI queues vid on the priority-inheritance futex k, for its lock.
func (f *Futexes) WaitPI(k FutexKey, vid int) {
	f.enqueue(k, futexWaiter{vid: vid, pi: true})
}

// NextPI removes and returns the first lock waiter of k (the kernel's
// rt_mutex order: priority, then arrival; here all have one priority),
// and whether others wait. ok is false when none waits.
func (f *Futexes) NextPI(k FutexKey) (vid int, more, ok bool) {
	i := slices.IndexFunc(f.queues[k], func(w futexWaiter) bool { return w.pi })
	if i < 0 {
		return 0, false, false
	}
	vid = f.queues[k][i].vid
	f.Cancel(vid)
	return vid, f.HasPI(k), true
}

// HasPI reports whether a lock waiter waits on k.
func (f *Futexes) HasPI(k FutexKey) bool {
	return slices.ContainsFunc(f.queues[k], func(w futexWaiter) bool { return w.pi })
}

// Keys returns the keys that have waiters, in no particular order.
func (f *Futexes) Keys() []FutexKey {
	keys := make([]FutexKey, 0, len(f.queues))
	for k := range f.queues {
		keys = append(keys, k)
	}
	return keys
}

// Waiting reports whether vid waits on a futex.
func (f *Futexes) Waiting(vid int) bool {
	return len(f.where[vid]) > 0
}

// Cancel removes vid from its queues (a wake on one of them, a timeout,
// its death).
func (f *Futexes) Cancel(vid int) {
	for _, k := range f.where[vid] {
		f.set(k, slices.DeleteFunc(f.queues[k], func(w futexWaiter) bool { return w.vid == vid }))
	}
	delete(f.where, vid)
}

func (f *Futexes) set(k FutexKey, q []futexWaiter) {
	if len(q) == 0 {
		delete(f.queues, k)
	} else {
		f.queues[k] = q
	}
}

// Wake wakes up to n waiters of k whose bitset meets bitset and returns
// them, in the order woken. pick chooses which of the candidates (given
// in arrival order) wakes next: the kernel leaves the order open, so
// chaos may draw it; 0 is first come, first served.
func (f *Futexes) Wake(k FutexKey, n int, bitset uint32, pick func(n int) int) []Woken {
	var woken []Woken
	for len(woken) < n {
		var cands []futexWaiter
		for _, w := range f.queues[k] {
			if !w.pi && w.bitset&bitset != 0 {
				cands = append(cands, w)
			}
		}
		if len(cands) == 0 {
			break
		}
		w := cands[pick(len(cands))]
		woken = append(woken, Woken{w.vid, w.slot})
		f.Cancel(w.vid)
	}
	return woken
}

// Requeue wakes up to nwake waiters of from (as Wake) and moves up to
// nrequeue of the rest to to, in their order. It returns the woken and
// the number moved.
func (f *Futexes) Requeue(from, to FutexKey, nwake, nrequeue int, pick func(n int) int) ([]Woken, int) {
	woken := f.Wake(from, nwake, ^uint32(0), pick)
	q := f.queues[from]
	if slices.ContainsFunc(q, func(w futexWaiter) bool { return w.pi }) {
		return woken, 0 // lock waiters stay (the kernel refuses the mix: EINVAL)
	}
	m := min(nrequeue, len(q))
	for _, w := range q[:m] {
		keys := f.where[w.vid]
		keys[slices.Index(keys, from)] = to
	}
	f.queues[to] = append(f.queues[to], q[:m]...)
	f.set(from, q[m:])
	return woken, m
}

// WakeOp computes FUTEX_WAKE_OP's operation on the old value of the
// second word: the new value to store, and whether its comparison holds
// (include/uapi/linux/futex.h: op, cmp, oparg, cmparg in encoded). ok is
// false for an unknown operation or comparison (ENOSYS).
func WakeOp(encoded, old uint32) (newVal uint32, cond, ok bool) {
	op := encoded >> 28 & 7
	cmp := encoded >> 24 & 15
	oparg := encoded >> 12 & 0xfff
	cmparg := encoded & 0xfff
	if encoded>>28&8 != 0 { // FUTEX_OP_OPARG_SHIFT
		oparg = 1 << (oparg & 31)
	} else {
		oparg = uint32(int32(oparg<<20) >> 20) // sign-extend 12 bits
	}
	cmpv := uint32(int32(cmparg<<20) >> 20)
	switch op {
	case 0: // SET
		newVal = oparg
	case 1: // ADD
		newVal = old + oparg
	case 2: // OR
		newVal = old | oparg
	case 3: // ANDN
		newVal = old &^ oparg
	case 4: // XOR
		newVal = old ^ oparg
	default:
		return 0, false, false
	}
	o, c := int32(old), int32(cmpv)
	switch cmp {
	case 0:
		cond = o == c
	case 1:
		cond = o != c
	case 2:
		cond = o < c
	case 3:
		cond = o <= c
	case 4:
		cond = o > c
	case 5:
		cond = o >= c
	default:
		return 0, false, false
	}
	return newVal, cond, true
}
