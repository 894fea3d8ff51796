package sentry

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// injection is the state of a syscall whose answer the sentry builds by
// running host syscalls inside the tracee. Engine thread only.
type injection struct {
	// saved are the registers at the original syscall's seccomp stop.
	saved unix.PtraceRegs
	// atEntry: the tracee is still at that seccomp stop (nothing injected
	// yet); otherwise it is at the exit stop of the last injected call.
	atEntry bool
	// signals are signals that arrived while injecting; they are sent
	// again once the original syscall is answered, as the kernel delivers
	// a signal after the syscall it interrupted.
	signals []unix.Signal
}

var _ hostmm.Tracee = (*Task)(nil)

var errTraceeGone = errors.New("the tracee died during an injected syscall")

// beginInjection prepares t, at a seccomp stop, for injected calls, unless
// an entry handler already did (it injected at the entry: the syscall is
// then emulated). Engine thread only.
func (t *Task) beginInjection() error {
	if t.inj != nil {
		return nil
	}
	inj := &injection{atEntry: true}
	if err := unix.PtraceGetRegs(t.tid, &inj.saved); err != nil {
		return err
	}
	t.inj = inj
	return nil
}

// beginExitInjection prepares t, at the exit stop of a call the host ran,
// for injected calls: each re-executes the call's syscall instruction,
// and finishInjection then restores the registers of that exit stop with
// the result the program sees. Engine thread only.
func (t *Task) beginExitInjection() error {
	inj := &injection{}
	if err := unix.PtraceGetRegs(t.tid, &inj.saved); err != nil {
		return err
	}
	t.inj = inj
	return nil
}

// Inject implements hostmm.Tracee. Preconditions: engine thread; t is
// stopped at a seccomp stop whose handler is emulating the syscall, or at
// the exit stop of a call after beginExitInjection.
func (t *Task) Inject(nr uintptr, args ...uint64) (int64, error) {
	inj := t.inj
	if inj == nil {
		return 0, errors.New("Inject outside an emulated syscall")
	}
	regs := inj.saved
	regs.Orig_rax = uint64(nr)
	regs.Rax = uint64(nr)
	for i, p := range []*uint64{&regs.Rdi, &regs.Rsi, &regs.Rdx, &regs.R10, &regs.R8, &regs.R9} {
		if i < len(args) {
			*p = args[i]
		}
	}
	if !inj.atEntry {
		// At the exit stop of the previous injection: re-execute the
		// syscall instruction (2 bytes) with the new number.
		regs.Rip -= 2
	}
	if err := unix.PtraceSetRegs(t.tid, &regs); err != nil {
		return 0, fmt.Errorf("injecting %d: %w", nr, err)
	}
	if err := t.stepToSyscallExit(!inj.atEntry); err != nil {
		return 0, err
	}
	inj.atEntry = false
	var out unix.PtraceRegs
	if err := unix.PtraceGetRegs(t.tid, &out); err != nil {
		return 0, fmt.Errorf("reading the result of injected %d: %w", nr, err)
	}
	return int64(out.Rax), nil
}

// stepToSyscallExit resumes t with PTRACE_SYSCALL until the exit stop of
// the syscall it is entering. fromUser: the tracee must first return to
// user space and execute the syscall instruction, so an entry (or seccomp)
// stop comes first, and signals may be dequeued on the way.
func (t *Task) stepToSyscallExit(fromUser bool) error {
	sig := unix.Signal(0)
	for {
		if err := ptraceRequest(unix.PTRACE_SYSCALL, t.tid, 0, uintptr(sig)); err != nil {
			return errTraceeGone
		}
		sig = 0
		var ws unix.WaitStatus
		_, err := unix.Wait4(t.tid, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || !ws.Stopped() {
			if err == nil {
				// Dead: hand the report to the normal path.
				t.s.eng.deliver(t.tid, stopEvent{status: ws})
			}
			return errTraceeGone
		}
		ev := stopEvent{status: ws}
		switch ev.stopKind() {
		case stopSyscall:
			var si syscallInfo
			if ptraceGetSyscallInfo(t.tid, &si) == nil && si.Op == syscallInfoExit {
				return nil
			}
		case stopSeccomp, stopExit:
			// The injected call's own seccomp stop, or the thread is
			// going away: go on.
		default:
			if s := ws.StopSignal(); ev.stopKind() == int(s) {
				// A signal on the way back to user space: hold it.
				t.inj.signals = append(t.inj.signals, s)
			}
		}
	}
}

// finishInjection answers the original syscall with ret: the tracee's
// registers are restored as they were at its entry, with ret in rax. A ret
// of -ERESTARTNOINTR restarts the syscall instead: the registers are
// restored with the syscall number in rax and rip back on the syscall
// instruction, which is what the kernel's return path does with it.
// Engine thread only.
func (t *Task) finishInjection(ret int64) {
	inj := t.inj
	t.inj = nil
	regs := inj.saved
	regs.Rax = uint64(ret)
	if ret == -int64(mm.ERESTARTNOINTR) {
		regs.Rax = inj.saved.Orig_rax
		regs.Rip -= 2 // the syscall instruction
	}
	if inj.atEntry {
		// Nothing was injected: skip the syscall (nr -1) and return ret.
		regs.Orig_rax = ^uint64(0)
	}
	unix.PtraceSetRegs(t.tid, &regs)
	for _, s := range inj.signals {
		if d := t.s.det; d != nil {
			d.sendOwnSignal(t.tg.pid, t.tid, s, nil)
		} else {
			unix.Tgkill(t.tg.pid, t.tid, s)
		}
	}
}

// ReadMem implements hostmm.Tracee.
func (t *Task) ReadMem(addr uint64, b []byte) error { return t.readMem(addr, b) }

// WriteMem implements hostmm.Tracee.
func (t *Task) WriteMem(addr uint64, b []byte) error { return t.writeMem(addr, b) }

// Pid implements hostmm.Tracee.
func (t *Task) Pid() int { return t.tg.pid }

// Tid implements hostmm.Tracee.
func (t *Task) Tid() int { return t.tid }

// WithScratch implements hostmm.Tracee: the data goes below the red zone
// of the thread's stack (x86-64 keeps 128 bytes under the stack pointer
// for the program; below that nothing lives while the thread is stopped).
// t is in an injection. Engine thread only.
func (t *Task) WithScratch(data []byte, use func(addr uint64) error) error {
	if t.inj == nil {
		return hostmm.ErrNoScratch
	}
	addr := (t.inj.saved.Rsp - 128 - uint64(len(data))) &^ 15
	saved := make([]byte, len(data))
	if t.readMem(addr, saved) != nil || t.writeMem(addr, data) != nil {
		return hostmm.ErrNoScratch
	}
	defer t.writeMem(addr, saved)
	return use(addr)
}

// backend returns the host side of t's model decisions: calls injected in
// t, with the run's emulations (hostmm.Backend).
func (t *Task) backend() *hostmm.Backend { return hostmm.NewBackend(t, t.s.cfg.Emulations) }
