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

// madvise answers madvise(2) from the model (mm.MM.Madvise decides the
// result and changes the model, taking the locks the spec prescribes) and
// makes the host match as hostmm.MadviseMatch says: a call the model
// refuses before any effect never reaches the host; flag and guard advice
// run on the host too, under mmap_lock, and the program sees the model's
// result; an emulated advice's host work is hostmm's; every other advice
// (DONTNEED, FREE, COLD, WILLNEED, REMOVE, COLLAPSE...) changes no VMA:
// the host's own call is its effect and its result.
//
// The Plan waits when the address space's mmap_lock is held by another
// task: Madvise takes the locks itself, synchronously, and the engine
// thread may not block. Engine thread only.
func (t *Task) madvise(as *AddressSpace, a syscalls.MadviseArgs) syscalls.Plan {
	if as.m.Lock.Held() {
		return syscalls.Plan{Wait: as}
	}
	emu := t.s.cfg.Emulations
	env := t.s.madviseEnv(t, a.Advice)
	env.LoseGuardRaces = t.s.guardRacesLeft
	populate := a.Advice == unix.MADV_POPULATE_READ || a.Advice == unix.MADV_POPULATE_WRITE
	doneInWalk := populate && emu.AdviceEmulated(a.Advice) && t.beginInjection() == nil
	if doneInWalk {
		// The emulated populate faults each piece in where the kernel's
		// walk does (mm.MadviseHost.Populate, under mmap_lock), so its
		// failure ends the walk there: the tracee is in an injection
		// from here on, and the call is answered, never run.
		env.Host = t.backend()
	}
	kc := t.kapiBegin(as, []mm.Iovec{{Base: a.Start, Len: a.Len}}, a.Advice, env)
	lt := t.startLockTrace()
	res := as.m.Madvise(t.holder, a.Start, a.Len, a.Advice, env)
	events := lt.stop(t)
	plan := syscalls.Plan{Locks: t.formatLocks(events)}
	if kc != nil {
		t.kapiMadvise(&plan, kc, as, res.Err, events)
	}
	t.s.guardRacesLeft -= res.RacesLost
	want := -int64(res.Err)
	answer := func() int64 { return want }
	switch hostmm.MadviseMatch(a.Advice, res, emu, doneInWalk) {
	case hostmm.MatchRestart:
		// finishInjection puts the program back on its syscall
		// instruction: a signal pending meanwhile is handled first.
		plan.Emulate = func() int64 { return -int64(mm.ERESTARTNOINTR) }
	case hostmm.MatchAnswer:
		plan.Emulate = answer
	case hostmm.MatchGuards:
		plan.Lock = as
		plan.Emulate = func() int64 { t.backend().GuardAdvice(a.Advice, res.Applied); return want }
	case hostmm.MatchEmulated:
		// Under mmap_lock: DONTNEED_LOCKED changes the host's VMAs for a
		// moment.
		plan.Lock = as
		plan.Emulate = func() int64 {
			if e := t.backend().EmulateAdvice(a.Advice, res.Applied); e != 0 {
				return -int64(e)
			}
			return want
		}
	case hostmm.MatchPopulateBefore:
		plan.Lock = as
		plan.Emulate = func() int64 {
			if r := t.backend().HostPopulate(a.Advice, res.Applied); r != 0 {
				return r
			}
			return want
		}
	case hostmm.MatchPieces:
		plan.Lock = as
		plan.Emulate = func() int64 {
			for _, p := range res.Applied {
				if _, err := t.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, uint64(a.Advice)); err != nil {
					break
				}
			}
			return want
		}
		plan.Exit = t.reconcileApplied(as, res.Applied)
	case hostmm.MatchFlags:
		plan.Lock = as
		plan.Exit = func(ret int64) int64 {
			if end := a.Start + mm.PageAlign(a.Len); end > a.Start {
				t.reconcileEdges(as, a.Start, end)
			}
			// The spec wins where the model refuses what the host
			// allowed (facts page, spec-vs-host table). Where the host
			// refuses what the model allowed, the model lacks a flag
			// only the host knows (VM_IO, VM_PFNMAP on special
			// mappings): the host is right.
			if want != 0 {
				return want
			}
			return ret
		}
	}
	return plan
}

// reconcileApplied is a Plan's Exit that checks the edges of the pieces an
// advice changed against the host.
func (t *Task) reconcileApplied(as *AddressSpace, applied []mm.MadviseRange) func(int64) int64 {
	return func(ret int64) int64 {
		for _, p := range applied {
			t.reconcileEdges(as, p.Start, p.End)
		}
		return ret
	}
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
