package sentry

import (
	"encoding/binary"
	"fmt"

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
// priority-inheritance operations run on the host (a contended one could
// block the run: the watchdog then says so).

// Futex implements syscalls.Context.
func (t *Task) Futex(a syscalls.FutexArgs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil || t.tg.mm == nil {
		return syscalls.Plan{}, false
	}
	private := a.Op&linux.FUTEX_PRIVATE_FLAG != 0
	realtime := a.Op&linux.FUTEX_CLOCK_REALTIME != 0
	answer := func(ret int64) (syscalls.Plan, bool) {
		return syscalls.Plan{Emulate: func() int64 { return ret }}, true
	}
	key := d.futexKey(t, a.Addr, private)
	switch cmd := a.Op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME); cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAIT_BITSET {
			bitset = a.Val3
		}
		if bitset == 0 || a.Addr%4 != 0 {
			return answer(-int64(unix.EINVAL))
		}
		word, err := t.futexWord(a.Addr)
		if err != nil {
			return answer(-int64(unix.EFAULT))
		}
		if word != a.Val {
			return answer(-int64(unix.EAGAIN))
		}
		deadline, errno := d.futexDeadline(t, a, cmd == linux.FUTEX_WAIT_BITSET, realtime)
		if errno != 0 {
			return answer(-int64(errno))
		}
		d.futex.Wait(key, t.det.vid, bitset)
		return d.block(t, "futex", nil, deadline, t.answer(-int64(unix.ETIMEDOUT))), true
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAKE_BITSET {
			bitset = a.Val3
		}
		if bitset == 0 {
			return answer(-int64(unix.EINVAL))
		}
		return answer(int64(d.wake(key, int(a.Val), bitset)))
	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		if cmd == linux.FUTEX_CMP_REQUEUE {
			word, err := t.futexWord(a.Addr)
			if err != nil {
				return answer(-int64(unix.EFAULT))
			}
			if word != a.Val3 {
				return answer(-int64(unix.EAGAIN))
			}
		}
		woken, moved := d.futex.Requeue(key, d.futexKey(t, a.Addr2, private), int(a.Val), int(int32(a.Arg4)), d.sched.Intn)
		d.answerWoken(woken)
		if cmd == linux.FUTEX_REQUEUE {
			return answer(int64(len(woken)))
		}
		return answer(int64(len(woken) + moved))
	case linux.FUTEX_WAKE_OP:
		old, err := t.futexWord(a.Addr2)
		if err != nil {
			return answer(-int64(unix.EFAULT))
		}
		newVal, cond, ok := det.WakeOp(a.Val3, old)
		if !ok {
			return answer(-int64(unix.ENOSYS))
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], newVal)
		if t.writeMem(a.Addr2, b[:]) != nil {
			return answer(-int64(unix.EFAULT))
		}
		n := d.wake(key, int(a.Val), ^uint32(0))
		if cond {
			n += d.wake(d.futexKey(t, a.Addr2, private), int(int32(a.Arg4)), ^uint32(0))
		}
		return answer(int64(n))
	}
	// The PI operations and what is left: the host's.
	return syscalls.Plan{}, true
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

// answerWoken makes woken futex waiters return 0.
func (d *detRun) answerWoken(vids []int) {
	for _, vid := range vids {
		if t := d.byVid[vid]; t != nil {
			d.unblock(t, t.answer(0))
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
