package sentry

import (
	"encoding/binary"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Chaos's preemption inside syscall-free code, without a PMU: a thread
// resumed with a det.Preemption runs that many single-stepped
// instructions (PTRACE_SINGLESTEP: one instruction each, exactly), then,
// if Hits > 0, a hardware breakpoint (debug register DR0, set through
// PTRACE_POKEUSER; it needs no PMU) on the instruction it has reached
// counts Hits more executions of it. There it is stopped: a scheduling
// point the seed chose, the same every run, anywhere in a loop without
// system calls (between the load and the store of an unlocked counter).
// Each step and each hit is a ptrace stop (a few µs; past a breakpoint
// the resume flag, EFLAGS.RF, goes on without a step): chaos draws them
// only for some resumptions, within a budget (det.Scheduler.Preempt).

// preemptState is a thread's progress through its preemption.
type preemptState struct {
	phase       preemptPhase
	steps, hits int
}

type preemptPhase int

const (
	preemptNone     preemptPhase = iota
	preemptStepping              // single-stepping steps more instructions
	preemptArmed                 // DR0 armed, counting hits
	preemptStepOver              // DR0 off for one step past the breakpoint
)

// Debug register offsets in struct user (u_debugreg) for PTRACE_POKEUSER,
// and the x86 trap codes of SIGTRAP.
const (
	ptracePokeUser = 6 // PTRACE_POKEUSR
	userDebugReg   = 848
	dr7LocalExec   = 1 // L0 enable, RW0 = 00 (execution), LEN0 = 00
	trapBrkpt      = 1 // TRAP_BRKPT: a single step over a syscall instruction
	trapTrace      = 2 // TRAP_TRACE: a single step
	trapHWBkpt     = 4 // TRAP_HWBKPT: a hardware breakpoint
)

// isStep reports whether a SIGTRAP's code is a single step's: the kernel
// reports a step past a syscall instruction as TRAP_BRKPT.
func isStep(code int32) bool { return code == trapTrace || code == trapBrkpt }

// prepareResume draws, before the thread's step is carried out, whether
// chaos preempts it inside syscall-free code this time (others: how many
// other threads could run instead).
func (d *detRun) prepareResume(t *Task, others int) {
	p := d.sched.Preempt(t.det.vid, others)
	t.det.preempt = preemptState{}
	if p.Steps > 0 {
		t.det.preempt = preemptState{phase: preemptStepping, steps: p.Steps, hits: p.Hits}
	}
}

// resumeRequest is the request that resumes t: PTRACE_CONT becomes
// PTRACE_SINGLESTEP while a preemption steps.
func (t *Task) resumeRequest(req int) int {
	if t.det != nil && req == unix.PTRACE_CONT {
		switch t.det.preempt.phase {
		case preemptStepping, preemptStepOver:
			return unix.PTRACE_SINGLESTEP
		}
	}
	return req
}

// preemptStop takes the stops of a preemption in progress (SIGTRAP from a
// step or from the breakpoint) and goes on with it; any other stop ends
// the preemption (the thread reached a scheduling point first). It
// reports whether it took the stop.
func (d *detRun) preemptStop(t *Task, ev stopEvent) bool {
	ps := &t.det.preempt
	if ps.phase == preemptNone {
		return false
	}
	code, ok := trapCode(t, ev)
	if !ok {
		d.disarm(t)
		return false
	}
	// Each step is progress the sentry controls: not a spin for the
	// watchdog, however long the steps take on a loaded machine.
	d.wdSince.Store(time.Now().UnixNano())
	switch {
	case ps.phase == preemptStepping && isStep(code):
		if ps.steps--; ps.steps > 0 {
			t.ptrace(unix.PTRACE_CONT, 0) // a single step
			return true
		}
		if ps.hits == 0 || !d.arm(t) {
			d.preempted(t)
			return true
		}
		ps.phase = preemptArmed
		t.ptrace(unix.PTRACE_CONT, 0)
	case ps.phase == preemptArmed && code == trapHWBkpt:
		if ps.hits--; ps.hits == 0 {
			d.preempted(t)
			return true
		}
		// Go on past the breakpoint: the resume flag suppresses it for
		// one instruction (else: one step with the breakpoint off).
		if !setResumeFlag(t) {
			setDebugReg(t, 7, 0)
			ps.phase = preemptStepOver
		}
		t.ptrace(unix.PTRACE_CONT, 0)
	case ps.phase == preemptStepOver && isStep(code):
		setDebugReg(t, 7, dr7LocalExec)
		ps.phase = preemptArmed
		t.ptrace(unix.PTRACE_CONT, 0)
	default:
		d.disarm(t)
		return false
	}
	return true
}

// preempted stops t where its preemption ended: a change point (its
// priority drops) and a scheduling point.
func (d *detRun) preempted(t *Task) {
	d.disarm(t)
	d.sched.Lower(t.det.vid)
	t.det.what = "preempt"
	t.det.step = func() { t.ptrace(unix.PTRACE_CONT, 0) } // the SIGTRAP is not delivered
	if d.running == t {
		d.setRunning(nil)
	}
	d.dispatch()
}

// arm sets DR0 on the instruction t has reached.
func (d *detRun) arm(t *Task) bool {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return false
	}
	return setDebugReg(t, 0, regs.Rip) && setDebugReg(t, 7, dr7LocalExec)
}

// disarm ends t's preemption and clears its breakpoint.
func (d *detRun) disarm(t *Task) {
	if t.det.preempt.phase == preemptArmed || t.det.preempt.phase == preemptStepOver {
		setDebugReg(t, 7, 0)
	}
	t.det.preempt = preemptState{}
}

// setResumeFlag sets EFLAGS.RF, which makes the CPU skip the instruction
// breakpoint once.
func setResumeFlag(t *Task) bool {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return false
	}
	const rf = 1 << 16
	regs.Eflags |= rf
	return unix.PtraceSetRegs(t.tid, &regs) == nil
}

func setDebugReg(t *Task, n int, v uint64) bool {
	return ptraceRequest(ptracePokeUser, t.tid, uintptr(userDebugReg+8*n), uintptr(v)) == nil
}

// trapCode returns the si_code of a SIGTRAP signal-delivery stop.
func trapCode(t *Task, ev stopEvent) (int32, bool) {
	if ev.stopKind() != int(unix.SIGTRAP) {
		return 0, false
	}
	var si [128]byte
	if ptraceRequest(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si[0]))) != nil {
		return 0, false
	}
	return int32(binary.LittleEndian.Uint32(si[8:])), true
}
