package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// mseal emulation (hostmm.EmulateMseal): the host never sees a seal. The
// model keeps VM_SEALED (mm.AddressSpace.Mseal) and decides, at each memory
// syscall's entry, what a seal forbids (mm.AddressSpace.SealCheck); the
// sentry carries the decision out. The discard advice are the model's
// already (mm.MM.Madvise).

// sealEntry answers the syscall if a seal decides it. It reports whether
// it did (act.emulate and act.locked are set). Engine thread only.
func (t *Task) sealEntry(act *action, si *syscallInfo) bool {
	as := t.tg.mm
	if as == nil {
		return false
	}
	a := si.Args
	if si.Nr == unix.SYS_MSEAL {
		act.locked = as
		act.emulate = func(hostmm.Tracee) int64 { return errnoResult(as.m.AS.Mseal(a[0], a[1], a[2])) }
		return true
	}
	v := as.m.AS.SealCheck(uintptr(si.Nr), a)
	switch v.Action {
	case mm.SealRefuse:
		act.emulate = func(hostmm.Tracee) int64 { return -int64(unix.EPERM) }
	case mm.SealBrkUnchanged:
		act.emulate = func(hostmm.Tracee) int64 { return int64(v.Brk) }
	case mm.SealProtectBefore:
		act.emulate = sealedMprotect(as, si, v.First)
	default:
		return false
	}
	act.locked = as
	return true
}

// sealedMprotect changes [start, first) on the host with an injected call
// (its own errors, a hole or EACCES, come first) and in the model, then
// fails with EPERM.
func sealedMprotect(as *AddressSpace, si *syscallInfo, first uint64) func(hostmm.Tracee) int64 {
	a := si.Args
	start := a[0]
	return func(tr hostmm.Tracee) int64 {
		if first > start {
			args := []uint64{start, first - start, a[2], a[3]}
			ret, err := tr.Inject(uintptr(si.Nr), args...)
			if err != nil {
				return -int64(unix.EINTR)
			}
			if ret != 0 {
				return ret
			}
			as.m.AS.Protect(start, first, mm.Prot(a[2])&(mm.ProtRead|mm.ProtWrite|mm.ProtExec))
		}
		return -int64(unix.EPERM)
	}
}

// errnoResult is a syscall's return for an error from the model.
func errnoResult(err error) int64 {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return -int64(e)
	}
	return -int64(unix.EINVAL)
}
