package sentry

import (
	"encoding/binary"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/hostmm"
	"madvisor/mm"
	"madvisor/syscalls"
)

// madviseEntry answers madvise(2) from the model (mm.MM.Madvise decides the
// result and changes the model, taking the locks the spec prescribes) and
// makes the host match:
//   - a call the model refuses before touching anything (bad arguments,
//     EINVAL/EPERM/EINTR up front) never reaches the host: the program
//     gets the model's errno (so spec-vs-host rows follow the spec);
//   - VMA-flag advice and guard advice run on the host too, with mmap_lock
//     held across so the host applies changes in the model's order; the
//     program sees the model's result;
//   - every other advice (DONTNEED, FREE, COLD, PAGEOUT, WILLNEED,
//     POPULATE, REMOVE, COLLAPSE...) changes no VMA: the host's own call is
//     its effect and its result, untouched.
//
// It sets act.contended when the address space's mmap_lock is held by
// another task: the caller queues the task. Engine thread only.
func (t *Task) madviseEntry(act *action, a syscalls.MadviseArgs) {
	as := t.tg.mm
	if as == nil {
		return
	}
	// Madvise takes the locks itself, synchronously: it must find them
	// free, since the engine thread may not block.
	if as.m.Lock.Held() {
		act.contended = as
		return
	}

	start, lenIn, advice := a.Start, a.Len, a.Advice
	env := t.s.madviseEnv(t, advice)
	env.LoseGuardRaces = t.s.guardRacesLeft
	populate := advice == unix.MADV_POPULATE_READ || advice == unix.MADV_POPULATE_WRITE
	hostInWalk := populate && t.s.adviceEmulated(advice) && t.beginInjection() == nil
	if hostInWalk {
		// The emulated populate faults each piece in where the kernel's
		// walk does (mm.MadviseHost.Populate, under mmap_lock), so its
		// failure ends the walk there: the tracee is in an injection
		// from here on, and the call is answered, never run.
		env.Host = t.backend()
	}
	lt := t.startLockTrace()
	res := as.m.Madvise(t.holder, start, lenIn, advice, env)
	act.locks = lt.stop(t)
	t.s.guardRacesLeft -= res.RacesLost
	want := -int64(res.Err)
	switch {
	case res.Restart:
		// -ERESTARTNOINTR: the host call is skipped and the program's
		// syscall instruction runs again (finishInjection), as the
		// kernel's return path restarts it: the program never sees an
		// errno, and a signal pending meanwhile is handled first.
		act.emulate = func(hostmm.Tracee) int64 { return -int64(mm.ERESTARTNOINTR) }
	case res.Err != 0 && len(res.Applied) == 0, hostInWalk:
		act.emulate = func(hostmm.Tracee) int64 { return want }
	case isGuardAdvice(advice) && t.s.emulating(hostmm.EmulateGuard):
		t.emulateGuardAdvice(act, as, advice, res.Applied, want)
	case t.s.adviceEmulated(advice):
		t.emulateAdviceCall(act, as, advice, res.Applied, want)
	case populate && res.Err != 0:
		// POPULATE stops at the first hole or guard (facts "The walk":
		// its own walk); hosts before 6.x walked on past holes, and a
		// host without markers sees PROT_NONE: the host populates only
		// the pieces before the stop.
		t.emulatePopulate(act, as, advice, res.Applied, want)
	case res.Err == unix.EPERM && t.s.emulating(hostmm.EmulateMseal):
		// A seal only the model knows stopped the walk: the host must
		// act on the pieces before it, not on the whole range.
		act.locked = as
		act.emulate = func(tr hostmm.Tracee) int64 {
			for _, p := range res.Applied {
				if _, err := tr.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, uint64(advice)); err != nil {
					break
				}
			}
			return want
		}
		act.onExit = func(t *Task, _ int64) {
			for _, p := range res.Applied {
				t.reconcileEdges(as, p.Start, p.End)
			}
		}
	case changesVMAs(advice):
		act.locked = as // taken by syscallEntry
		act.watch = true
		act.onExit = func(t *Task, ret int64) {
			// The spec wins where the model refuses what the host
			// allowed (facts page, spec-vs-host table). Where the host
			// refuses what the model allowed, the model lacks a flag
			// only the host knows (VM_IO, VM_PFNMAP on special
			// mappings): the host is right.
			if ret != want && want != 0 {
				t.setReturn(want)
			}
			if end := start + mm.PageAlign(lenIn); end > start {
				t.reconcileEdges(as, start, end)
			}
		}
	}
}

// changesVMAs reports whether an advice changes VMA state the model keeps
// (flags, guard markers).
func changesVMAs(advice int) bool {
	return mm.LockFor(advice) == mm.LockMmapWriteKillable ||
		advice == unix.MADV_GUARD_INSTALL || advice == unix.MADV_GUARD_REMOVE
}

// setReturn sets the value the thread's current syscall returns. The thread
// is at a syscall-exit stop. Engine thread only.
func (t *Task) setReturn(v int64) {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return
	}
	regs.Rax = uint64(v)
	unix.PtraceSetRegs(t.tid, &regs)
}

// madviseEnv is the environment of t's madvise: the host's kernel
// configuration and, for the advice that need it, t's capabilities.
func (s *Sandbox) madviseEnv(t *Task, advice int) mm.MadviseEnv {
	env := mm.DefaultMadviseEnv()
	env.Kconfig = hostKconfig()
	if t.s.emulating(hostmm.EmulateMseal) && hostmm.HostFeatures().Pkeys {
		// A seal the host does not know refuses discards where the VMA's
		// pkey denies the caller writes: the host must tell both.
		env.PkeyDeniesWrite = func(addr uint64) bool { return t.pkeyDeniesWrite(addr) }
	}
	if (advice == unix.MADV_HWPOISON || advice == abi.MADV_SOFT_OFFLINE) && env.Kconfig.MemoryFailure {
		// Read only when the advice exists: /proc/TID/status costs
		// ~60 µs, and compiled-out advice fail before the check.
		env.Caps.SysAdmin = hostmm.HasCapability(t.tid, unix.CAP_SYS_ADMIN)
	}
	return env
}

// hostKconfig is the host kernel's madvise-related configuration, as the
// feature probe found it.
func hostKconfig() mm.MadviseKconfig {
	f := hostmm.HostFeatures()
	return mm.MadviseKconfig{KSM: f.KSM, THP: f.THP, MemoryFailure: f.MemoryFailure, Swap: f.Swap}
}

// pkeyDeniesWrite reports whether the protection key of the VMA at addr
// (smaps "ProtectionKey:") denies thread t writes: its PKRU (from the
// thread's XSAVE area, PTRACE_GETREGSET NT_X86_XSTATE) has the key's
// access- or write-disable bit. Engine thread only.
func (t *Task) pkeyDeniesWrite(addr uint64) bool {
	v, ok := hostmm.SmapsField(t.tid, addr, "ProtectionKey")
	if !ok {
		return false
	}
	key, err := strconv.Atoi(v)
	if err != nil {
		return false
	}
	const ntX86XState = 0x202
	const xsaveHeader, pkruOffset, pkruBit = 512, 2688, 1 << 9
	buf := make([]byte, 4096)
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(t.tid), ntX86XState,
		uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 || iov.Len < pkruOffset+4 {
		return false
	}
	if binary.LittleEndian.Uint64(buf[xsaveHeader:])&pkruBit == 0 {
		return false // PKRU in its init state: 0, nothing denied
	}
	pkru := binary.LittleEndian.Uint32(buf[pkruOffset:])
	return pkru>>(2*key)&3 != 0
}
