package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/det"
	"madvisor/syscalls"
)

// Virtual time and randomness in deterministic mode. The program reads
// time through system calls only: the vDSO is hidden from it (its
// AT_SYSINFO_EHDR entry is removed from the auxiliary vector at exec, so
// libc and Go fall back to the syscalls), and rdtsc/rdtscp fault
// (PR_SET_TSC, set by the stage) and are answered here. getrandom and
// the AT_RANDOM bytes come from the seed.

// Time implements syscalls.Context.
func (t *Task) Time(k syscalls.TimeCall, r syscalls.Regs) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil {
		return syscalls.Plan{}, false
	}
	put := func(addr uint64, words ...uint64) int64 {
		b := make([]byte, 8*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		if t.writeMem(addr, b) != nil {
			return -int64(unix.EFAULT)
		}
		return 0
	}
	switch k {
	case syscalls.TimerCreate, syscalls.TimerSettime, syscalls.TimerGettime, syscalls.TimerGetoverrun,
		syscalls.TimerDelete, syscalls.TimerfdCreate, syscalls.TimerfdSettime, syscalls.TimerfdGettime:
		return t.timerCall(d, k, r)
	case syscalls.ClockGettime:
		ns, ok := d.clockNow(int32(r[0]))
		if !ok {
			return emulated(-int64(unix.EINVAL))
		}
		return emulated(put(r[1], uint64(ns/1e9), uint64(ns%1e9)))
	case syscalls.ClockGetres:
		if _, ok := d.clockNow(int32(r[0])); !ok {
			return emulated(-int64(unix.EINVAL))
		}
		if r[1] == 0 {
			return emulated(0)
		}
		return emulated(put(r[1], 0, 1))
	case syscalls.Gettimeofday:
		ns := d.clock.Realtime()
		if r[0] != 0 {
			if ret := put(r[0], uint64(ns/1e9), uint64(ns%1e9/1e3)); ret != 0 {
				return emulated(ret)
			}
		}
		if r[1] != 0 {
			return emulated(put(r[1], 0)) // struct timezone: UTC
		}
		return emulated(0)
	case syscalls.Time:
		secs := d.clock.Realtime() / 1e9
		if r[0] != 0 && put(r[0], uint64(secs)) != 0 {
			return emulated(-int64(unix.EFAULT))
		}
		return emulated(secs)
	case syscalls.Times:
		// Clock ticks (USER_HZ 100) since boot; the CPU times are the
		// virtual time spent, all of it user time.
		ticks := d.clock.Monotonic() / 1e7
		if r[0] != 0 && put(r[0], uint64(ticks-det.BootTime/1e7), 0, 0, 0) != 0 {
			return emulated(-int64(unix.EFAULT))
		}
		return emulated(ticks)
	case syscalls.Alarm:
		old := d.setItimer(t.tg, unix.ITIMER_REAL, int64(uint32(r[0]))*1e9, 0)
		return emulated((old.value + 1e9 - 1) / 1e9) // whole seconds left, rounded up
	case syscalls.Getitimer, syscalls.Setitimer:
		which := int(int32(r[0]))
		if which != unix.ITIMER_REAL && which != unix.ITIMER_VIRTUAL && which != unix.ITIMER_PROF {
			return emulated(-int64(unix.EINVAL))
		}
		oldAddr := r[1]
		var old itimer
		if k == syscalls.Setitimer {
			oldAddr = r[2]
			var b [32]byte // struct itimerval: it_interval, it_value (timevals)
			if r[1] != 0 && t.readMem(r[1], b[:]) != nil {
				return emulated(-int64(unix.EFAULT))
			}
			tv := func(o int) int64 {
				return int64(binary.LittleEndian.Uint64(b[o:]))*1e9 + int64(binary.LittleEndian.Uint64(b[o+8:]))*1e3
			}
			old = d.setItimer(t.tg, which, tv(16), tv(0))
		} else {
			old = d.timerLeft(t.tg.itimers[which])
		}
		if oldAddr == 0 {
			return emulated(0)
		}
		us := func(ns int64) (uint64, uint64) { return uint64(ns / 1e9), uint64(ns % 1e9 / 1e3) }
		is, iu := us(old.interval)
		vs, vu := us(old.value)
		return emulated(put(oldAddr, is, iu, vs, vu))
	case syscalls.Nanosleep, syscalls.ClockNanosleep:
		clk, flags, req := int32(unix.CLOCK_MONOTONIC), uint64(0), r[0]
		if k == syscalls.ClockNanosleep {
			clk, flags, req = int32(r[0]), r[1], r[2]
		}
		ns, errno := t.readTimespec(req)
		if errno != 0 {
			return emulated(-int64(errno))
		}
		now, ok := d.clockNow(clk)
		if !ok {
			return emulated(-int64(unix.EINVAL))
		}
		deadline := d.clock.Monotonic() + ns
		if flags&unix.TIMER_ABSTIME != 0 {
			deadline = d.clock.Monotonic() + ns - now
		}
		if deadline <= d.clock.Monotonic() {
			return emulated(0)
		}
		plan := d.block(t, "sleep", nil, deadline, t.answer(0))
		remAddr := r[1]
		if k == syscalls.ClockNanosleep {
			remAddr = r[3]
		}
		if flags&unix.TIMER_ABSTIME != 0 {
			remAddr = 0 // an absolute sleep has no time left to say
		}
		t.det.onSignal = func() { // EINTR, and the virtual time left
			if left := deadline - d.clock.Monotonic(); remAddr != 0 && left > 0 {
				put(remAddr, uint64(left/1e9), uint64(left%1e9))
			}
			t.answer(-int64(unix.EINTR))()
		}
		return plan, true
	}
	return syscalls.Plan{}, false
}

// clockNow is clock clk's virtual time in nanoseconds.
func (d *detRun) clockNow(clk int32) (int64, bool) {
	switch clk {
	case unix.CLOCK_REALTIME, unix.CLOCK_REALTIME_COARSE, unix.CLOCK_TAI:
		return d.clock.Realtime(), true
	case unix.CLOCK_MONOTONIC, unix.CLOCK_MONOTONIC_RAW, unix.CLOCK_MONOTONIC_COARSE, unix.CLOCK_BOOTTIME:
		return d.clock.Monotonic(), true
	case unix.CLOCK_PROCESS_CPUTIME_ID, unix.CLOCK_THREAD_CPUTIME_ID:
		return d.clock.Monotonic() - det.BootTime, true
	}
	return 0, false
}

// Getrandom implements syscalls.Context: the bytes come from the seed.
func (t *Task) Getrandom(buf, n uint64, flags uint32) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil {
		return syscalls.Plan{}, false
	}
	const maxChunk = 1 << 25 // getrandom returns at most 32 MiB - 1 at once
	n = min(n, maxChunk-1)
	b := make([]byte, n)
	d.random.Fill(b)
	ret := int64(n)
	if t.writeMem(buf, b) != nil {
		ret = -int64(unix.EFAULT)
	}
	return emulated(ret)
}

// ReadRandom implements syscalls.Context: a read of /dev/urandom or
// /dev/random (character devices 1:9 and 1:8) gets bytes from the seed.
func (t *Task) ReadRandom(a syscalls.FileAccess) (syscalls.Plan, bool) {
	d := t.detRun()
	if d == nil {
		return syscalls.Plan{}, false
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", t.tg.pid, a.Fd))
	if err != nil || link != "/dev/urandom" && link != "/dev/random" {
		return syscalls.Plan{}, false
	}
	var st unix.Stat_t
	if unix.Stat(link, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 {
		return syscalls.Plan{}, false
	}
	return t.Getrandom(a.Buf, a.Count, 0)
}

// Auxiliary vector entries (include/uapi/linux/auxvec.h).
const (
	atNull        = 0
	atIgnore      = 1
	atRandom      = 25
	atSysinfoEhdr = 33
)

// patchExec makes a new program's start deterministic, at its exec stop:
// the vDSO is hidden (AT_SYSINFO_EHDR becomes AT_IGNORE) and the 16
// AT_RANDOM bytes (stack protector and pointer guard seeds) come from the
// seed. The auxiliary vector follows argv and envp on the new stack.
func (d *detRun) patchExec(t *Task) {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return
	}
	word := func(addr uint64) (uint64, bool) {
		var b [8]byte
		if t.readMem(addr, b[:]) != nil {
			return 0, false
		}
		return binary.LittleEndian.Uint64(b[:]), true
	}
	sp := regs.Rsp
	argc, ok := word(sp)
	if !ok {
		return
	}
	p := sp + 8*(argc+2) // past argc, argv[] and its NULL
	for {
		v, ok := word(p)
		if !ok {
			return
		}
		p += 8
		if v == 0 {
			break // the end of envp
		}
	}
	for ; ; p += 16 {
		typ, ok := word(p)
		if !ok || typ == atNull {
			return
		}
		switch typ {
		case atSysinfoEhdr:
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], atIgnore)
			t.writeMem(p, b[:])
		case atRandom:
			if addr, ok := word(p + 8); ok {
				var b [16]byte
				d.random.Fill(b[:])
				t.writeMem(addr, b[:])
			}
		}
	}
}

// rdtscStop answers rdtsc and rdtscp, which fault in deterministic mode
// (PR_TSC_SIGSEGV): the counter is the virtual monotonic time (one tick a
// nanosecond), rdtscp's processor id 0; and CPUID, which faults too
// (detcpuid.go). The thread goes on (not a scheduling point: it is as if
// the instruction had run).
func (d *detRun) rdtscStop(t *Task, ev stopEvent) bool {
	if ev.stopKind() != int(unix.SIGSEGV) {
		return false
	}
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return false
	}
	var code [3]byte
	if t.readMem(regs.Rip, code[:]) != nil {
		return false
	}
	var size uint64
	switch {
	case code[0] == 0x0f && code[1] == 0x31:
		size = 2
	case code[0] == 0x0f && code[1] == 0x01 && code[2] == 0xf9:
		size = 3
		regs.Rcx = 0
	case code[0] == 0x0f && code[1] == 0xa2:
		if !d.isTSCFault(t) {
			return false
		}
		d.cpuidStop(t, &regs)
		if unix.PtraceSetRegs(t.tid, &regs) != nil {
			return false
		}
		t.ptrace(unix.PTRACE_CONT, 0)
		return true
	default:
		return false
	}
	if !d.isTSCFault(t) {
		return false
	}
	tsc := uint64(d.clock.Monotonic())
	regs.Rax, regs.Rdx = tsc&0xffffffff, tsc>>32
	regs.Rip += size
	d.clock.Tick()
	if unix.PtraceSetRegs(t.tid, &regs) != nil {
		return false
	}
	t.ptrace(unix.PTRACE_CONT, 0) // the SIGSEGV is not delivered
	return true
}

// isTSCFault reports whether t's SIGSEGV is the kernel's for a disabled
// time stamp counter or CPUID (a general protection fault: SI_KERNEL),
// not a program's own fault at that address.
func (d *detRun) isTSCFault(t *Task) bool {
	var si [128]byte
	if ptraceRequest(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0]))) != nil {
		return false
	}
	const siKernel = 0x80
	return int32(binary.LittleEndian.Uint32(si[8:])) == siKernel
}
