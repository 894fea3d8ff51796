package sentry

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"madvisor/det"
	"madvisor/mm"
	"madvisor/syscalls"
)

// Futexes in deterministic mode are the sentry's (det.Futexes): a waiter
// stays stopped in its futex call, and the scheduler chooses who wakes
// (with chaos, among the waiters the kernel would let wake, in an order
// drawn from the seed). The futex word is read and changed through the
// tracee's memory; no other thread runs meanwhile, so that is atomic. The
// priority-inheritance lock operations (LOCK_PI, LOCK_PI2, TRYLOCK_PI,
// UNLOCK_PI) are the sentry's too: the word holds the owner's tid, and
// an unlock hands the lock to the first waiter. A robust lock's owner
// that dies (the kernel then marks the word FUTEX_OWNER_DIED) hands it
// on at its exit (robustDeath). futex_waitv waits on several at once. The
// requeue-PI pair runs on the host (a contended one could block the run: the watchdog then
// says so).

// Futex implements syscalls.Context.
func (t *Task) Futex(a syscalls.FutexArgs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil || t.tg.mm == nil {
		return syscalls.Plan{}, false
	}
	private := a.Op&linux.FUTEX_PRIVATE_FLAG != 0
	realtime := a.Op&linux.FUTEX_CLOCK_REALTIME != 0
	key := d.futexKey(t, a.Addr, private)
	switch cmd := a.Op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME); cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAIT_BITSET {
			bitset = a.Val3
		}
		if bitset == 0 || a.Addr%4 != 0 {
			return emulated(-int64(unix.EINVAL))
		}
		word, err := t.futexWord(a.Addr)
		if err != nil {
			return emulated(-int64(unix.EFAULT))
		}
		if word != a.Val {
			return emulated(-int64(unix.EAGAIN))
		}
		deadline, errno := d.futexDeadline(t, a, cmd == linux.FUTEX_WAIT_BITSET, realtime)
		if errno != 0 {
			return emulated(-int64(errno))
		}
		d.futex.Wait(key, t.det.vid, bitset)
		return d.block(t, "futex", nil, deadline, t.answer(-int64(unix.ETIMEDOUT))), true
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAKE_BITSET {
			bitset = a.Val3
		}
		if bitset == 0 {
			return emulated(-int64(unix.EINVAL))
		}
		return emulated(int64(d.wake(key, int(a.Val), bitset)))
	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		if cmd == linux.FUTEX_CMP_REQUEUE {
			word, err := t.futexWord(a.Addr)
			if err != nil {
				return emulated(-int64(unix.EFAULT))
			}
			if word != a.Val3 {
				return emulated(-int64(unix.EAGAIN))
			}
		}
		woken, moved := d.futex.Requeue(key, d.futexKey(t, a.Addr2, private), int(a.Val), int(int32(a.Arg4)), d.sched.Intn)
		d.answerWoken(woken)
		if cmd == linux.FUTEX_REQUEUE {
			return emulated(int64(len(woken)))
		}
		return emulated(int64(len(woken) + moved))
	case linux.FUTEX_WAKE_OP:
		old, err := t.futexWord(a.Addr2)
		if err != nil {
			return emulated(-int64(unix.EFAULT))
		}
		newVal, cond, ok := det.WakeOp(a.Val3, old)
		if !ok {
			return emulated(-int64(unix.ENOSYS))
		}
		if t.putFutexWord(a.Addr2, newVal) != nil {
			return emulated(-int64(unix.EFAULT))
		}
		n := d.wake(key, int(a.Val), ^uint32(0))
		if cond {
			n += d.wake(d.futexKey(t, a.Addr2, private), int(int32(a.Arg4)), ^uint32(0))
		}
		return emulated(int64(n))
	case linux.FUTEX_LOCK_PI, futexLockPI2, linux.FUTEX_TRYLOCK_PI:
		return d.lockPI(t, a, key, cmd, realtime)
	case linux.FUTEX_UNLOCK_PI:
		return d.unlockPI(t, a, key)
	}
	// The requeue-PI pair and what is left: the host's.
	return syscalls.Plan{}, true
}

// futex_waitv's limits and flags (include/uapi/linux/futex.h).
const (
	futexWaitvMax  = 128
	futex2SizeMask = 0x3
	futex2SizeU32  = 0x2
	futex2Private  = 128
)

// FutexWaitv implements syscalls.Context: futex_waitv waits on every
// futex of the vector, until a wake on any (its index is returned).
func (t *Task) FutexWaitv(a syscalls.FutexWaitvArgs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil || t.tg.mm == nil {
		return syscalls.Plan{}, false
	}
	if a.Flags != 0 || a.N == 0 || a.N > futexWaitvMax {
		return emulated(-int64(unix.EINVAL))
	}
	vec := make([]byte, 24*a.N) // struct futex_waitv: val, uaddr, flags, reserved
	if t.readMem(a.Vec, vec) != nil {
		return emulated(-int64(unix.EFAULT))
	}
	keys := make([]det.FutexKey, a.N)
	vals := make([]uint64, a.N)
	addrs := make([]uint64, a.N)
	for i := range keys {
		e := vec[24*i:]
		vals[i], addrs[i] = binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint64(e[8:])
		flags, reserved := binary.LittleEndian.Uint32(e[16:]), binary.LittleEndian.Uint32(e[20:])
		if reserved != 0 || flags&^(futex2SizeMask|futex2Private) != 0 || flags&futex2SizeMask != futex2SizeU32 ||
			addrs[i]%4 != 0 || vals[i] > 0xffffffff {
			return emulated(-int64(unix.EINVAL))
		}
		keys[i] = d.futexKey(t, addrs[i], flags&futex2Private != 0)
	}
	var deadline int64
	if a.Timeout != 0 {
		if a.Clock != unix.CLOCK_MONOTONIC && a.Clock != unix.CLOCK_REALTIME {
			return emulated(-int64(unix.EINVAL))
		}
		ns, errno := t.readTimespec(a.Timeout)
		if errno != 0 {
			return emulated(-int64(errno))
		}
		now, _ := d.clockNow(a.Clock)
		deadline = ns - now + d.clock.Monotonic()
	}
	for i, addr := range addrs {
		word, err := t.futexWord(addr)
		if err != nil {
			return emulated(-int64(unix.EFAULT))
		}
		if uint64(word) != vals[i] {
			return emulated(-int64(unix.EAGAIN))
		}
	}
	if a.Timeout != 0 && deadline <= d.clock.Monotonic() {
		return emulated(-int64(unix.ETIMEDOUT))
	}
	d.futex.WaitAny(keys, t.det.vid)
	return d.block(t, "futex", nil, deadline, t.answer(-int64(unix.ETIMEDOUT))), true
}

// futexLockPI2 is FUTEX_LOCK_PI2 (Linux 5.14), which gvisor's abi lacks.
const futexLockPI2 = 13

// programTid is t's tid as the program sees it (in its PID namespace).
func (d *detRun) programTid(t *Task) uint32 {
	if d.s.nsInit != 0 {
		return uint32(t.det.nsTid)
	}
	return uint32(t.tid)
}

// lockPI is FUTEX_LOCK_PI, LOCK_PI2 and TRYLOCK_PI: a free word (no owner
// tid) becomes the caller's; an owned one gets FUTEX_WAITERS and the
// caller waits for an unlock to hand it the lock (TRYLOCK_PI: EAGAIN).
// LOCK_PI's timeout is absolute CLOCK_REALTIME, LOCK_PI2's CLOCK_MONOTONIC
// unless FUTEX_CLOCK_REALTIME.
func (d *detRun) lockPI(t *Task, a syscalls.FutexArgs, key det.FutexKey, cmd uint32, realtime bool) (syscalls.Plan, bool) {
	if a.Addr%4 != 0 {
		return emulated(-int64(unix.EINVAL))
	}
	word, err := t.futexWord(a.Addr)
	if err != nil {
		return emulated(-int64(unix.EFAULT))
	}
	me := d.programTid(t)
	owner := word & linux.FUTEX_TID_MASK
	switch {
	case owner == 0: // free; an owner's death stays marked
		if t.putFutexWord(a.Addr, me|word&linux.FUTEX_OWNER_DIED) != nil {
			return emulated(-int64(unix.EFAULT))
		}
		return emulated(0)
	case owner == me:
		return emulated(-int64(unix.EDEADLK))
	case cmd == linux.FUTEX_TRYLOCK_PI:
		return emulated(-int64(unix.EAGAIN))
	case d.s.programTask(int(owner)) == nil:
		return emulated(-int64(unix.ESRCH)) // no such owner
	}
	deadline, errno := d.futexDeadline(t, a, true, realtime || cmd == linux.FUTEX_LOCK_PI)
	if errno != 0 {
		return emulated(-int64(errno))
	}
	if t.putFutexWord(a.Addr, word|linux.FUTEX_WAITERS) != nil {
		return emulated(-int64(unix.EFAULT))
	}
	d.futex.WaitPI(key, t.det.vid)
	plan := d.block(t, "futex lock", nil, deadline, t.answer(-int64(unix.ETIMEDOUT)))
	// A signal: the lock is tried again after the handler, as the kernel
	// restarts LOCK_PI.
	t.det.onSignal = t.answer(-int64(mm.ERESTARTNOINTR))
	return plan, true
}

// unlockPI is FUTEX_UNLOCK_PI: the caller must own the word; the first
// waiter gets the lock (its tid, with FUTEX_WAITERS as the kernel sets
// it), else the word becomes 0.
func (d *detRun) unlockPI(t *Task, a syscalls.FutexArgs, key det.FutexKey) (syscalls.Plan, bool) {
	word, err := t.futexWord(a.Addr)
	if err != nil {
		return emulated(-int64(unix.EFAULT))
	}
	if word&linux.FUTEX_TID_MASK != d.programTid(t) {
		return emulated(-int64(unix.EPERM))
	}
	return emulated(d.handOverPI(t, a.Addr, key, 0))
}

// handOverPI gives the PI lock at addr (read and written through t) to
// its first waiter, keeping the bits of keep, or frees it when none
// waits. It returns 0 or -EFAULT.
func (d *detRun) handOverPI(t *Task, addr uint64, key det.FutexKey, keep uint32) int64 {
	next := uint32(0)
	vid, _, ok := d.futex.NextPI(key)
	w := d.byVid[vid]
	if ok && w != nil {
		next = d.programTid(w) | linux.FUTEX_WAITERS | keep
	}
	if t.putFutexWord(addr, next) != nil {
		return -int64(unix.EFAULT)
	}
	if ok && w != nil {
		d.unblock(w, w.answer(0))
	}
	return 0
}

// putFutexWord writes the 32-bit futex word at addr.
func (t *Task) putFutexWord(addr uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return t.writeMem(addr, b[:])
}

// robustDeath wakes, after a thread's exit, the waiters of the robust
// locks it held: the kernel marked their words FUTEX_OWNER_DIED with no
// owner (its robust list), and woke its own waiters, which are not the
// sentry's. A lock waiter gets the lock, still marked; one plain waiter
// wakes where FUTEX_WAITERS was set. Only private words are seen (a
// shared one's object cannot be read from here).
func (d *detRun) robustDeath() {
	keys := d.futex.Keys()
	slices.SortFunc(keys, func(a, b det.FutexKey) int {
		return cmp.Or(cmp.Compare(a.Space, b.Space), strings.Compare(a.Object, b.Object), cmp.Compare(a.Off, b.Off))
	})
	for _, k := range keys {
		if k.Object != "" {
			continue
		}
		t := d.taskInSpace(k.Space)
		if t == nil {
			continue
		}
		word, err := t.futexWord(k.Off)
		if err != nil || word&linux.FUTEX_OWNER_DIED == 0 || word&linux.FUTEX_TID_MASK != 0 {
			continue
		}
		if d.futex.HasPI(k) {
			d.handOverPI(t, k.Off, k, linux.FUTEX_OWNER_DIED)
		} else if word&linux.FUTEX_WAITERS != 0 {
			d.wake(k, 1, ^uint32(0))
		}
	}
}

// taskInSpace returns a live task of the address space numbered id.
func (d *detRun) taskInSpace(id uint64) *Task {
	vids := slices.Sorted(maps.Keys(d.byVid))
	for _, vid := range vids {
		if t := d.byVid[vid]; !t.dead && t.tg.mm != nil && d.spaceID(t.tg.mm) == id {
			return t
		}
	}
	return nil
}

// futexWord reads the 32-bit futex word at addr.
func (t *Task) futexWord(addr uint64) (uint32, error) {
	var b [4]byte
	if err := t.readMem(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// futexDeadline is a wait's deadline in monotonic virtual nanoseconds (0:
// none): FUTEX_WAIT's timeout is relative, FUTEX_WAIT_BITSET's absolute
// (CLOCK_REALTIME with FUTEX_CLOCK_REALTIME).
func (d *detRun) futexDeadline(t *Task, a syscalls.FutexArgs, absolute, realtime bool) (int64, unix.Errno) {
	if a.Arg4 == 0 {
		return 0, 0
	}
	ns, errno := t.readTimespec(a.Arg4)
	if errno != 0 {
		return 0, errno
	}
	switch {
	case !absolute:
		return d.clock.Monotonic() + ns, 0
	case realtime:
		return ns - (d.clock.Realtime() - d.clock.Monotonic()), 0
	}
	return ns, 0
}

// wake wakes up to n waiters of k whose bitset meets bitset, in the
// scheduler's order, and returns how many.
func (d *detRun) wake(k det.FutexKey, n int, bitset uint32) int {
	woken := d.futex.Wake(k, n, bitset, d.sched.Intn)
	d.answerWoken(woken)
	return len(woken)
}

// answerWoken makes woken futex waiters return: 0, or futex_waitv's
// index of the futex woken.
func (d *detRun) answerWoken(woken []det.Woken) {
	for _, w := range woken {
		if t := d.byVid[w.Vid]; t != nil {
			d.unblock(t, t.answer(int64(w.Slot)))
		}
	}
}

// futexKey names the futex word at addr of t's process as the kernel
// does: a word in a shared mapping by the object and offset (processes
// sharing it meet there, FUTEX_PRIVATE_FLAG or not), any other by the
// address space and address.
func (d *detRun) futexKey(t *Task, addr uint64, private bool) det.FutexKey {
	as := t.tg.mm
	if !private {
		if v, ok := as.m.AS.Find(addr); ok && v.Flags&mm.VMShared != 0 {
			b := v.Backing
			return det.FutexKey{Object: fmt.Sprintf("%d:%d:%d:%d:%s", b.Kind, b.DevMajor, b.DevMinor, b.Inode, b.Path),
				Off: v.PgOff<<mm.PageShift + addr - v.Start}
		}
	}
	return det.FutexKey{Space: d.spaceID(as), Off: addr}
}

// readTimespec reads a struct timespec and returns it in nanoseconds.
func (t *Task) readTimespec(addr uint64) (int64, unix.Errno) {
	var b [16]byte
	if t.readMem(addr, b[:]) != nil {
		return 0, unix.EFAULT
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	return sec*1e9 + nsec, 0
}

// SetClearTid implements syscalls.Context: set_tid_address's address.
func (t *Task) SetClearTid(addr uint64) {
	if t.det != nil {
		t.det.clearTid = addr
	}
}
