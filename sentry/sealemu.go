package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/mm"
	"madvisor/syscalls"
)

// mseal emulation (hostmm.EmulateMseal): the host never sees a seal. The
// model keeps VM_SEALED (mm.AddressSpace.Mseal) and decides, at each memory
// syscall's entry, what a seal forbids (mm.AddressSpace.SealCheck); the
// sentry carries the decision out. The discard advice are the model's
// already (mm.MM.Madvise).

// sealed carries out a seal check's verdict on a call. It reports whether
// the seal decided the call. Engine thread only.
func (t *Task) sealed(plan *syscalls.Plan, as *AddressSpace, nr uintptr, r syscalls.Regs, check syscalls.SealCheck) bool {
	v := check(as.m.AS, r)
	switch v.Action {
	case mm.SealRefuse:
		plan.Emulate = func() int64 {
			if v.Replay {
				t.sealReplay(as, nr, r)
			}
			return -int64(unix.EPERM)
		}
	case mm.SealBrkUnchanged:
		plan.Emulate = func() int64 { return int64(v.Brk) }
	case mm.SealProtectBefore:
		plan.Emulate = sealedMprotect(t, as, nr, r, v.From, v.First)
	default:
		return false
	}
	plan.Lock = as
	return true
}

// msealCall answers mseal itself from the model.
func (t *Task) msealCall(as *AddressSpace, r syscalls.Regs) syscalls.Plan {
	return syscalls.Plan{Lock: as, Emulate: func() int64 { return errnoResult(as.m.AS.Mseal(r[0], r[1], r[2])) }}
}

// sealedMprotect changes [start, first) on the host with an injected call
// (its own errors, a hole or EACCES, come first) and in the model, then
// fails with EPERM.
func sealedMprotect(t *Task, as *AddressSpace, nr uintptr, a syscalls.Regs, start, first uint64) func() int64 {
	return func() int64 {
		if first > start {
			args := []uint64{start, first - start, a[2], a[3]}
			ret, err := t.Inject(nr, args...)
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

// sealReplay runs a call a seal refused on the model, for what it did
// before the seal (a split, which the host, never refusing, does not
// need; an MREMAP_FIXED target unmapped, VMAs a multi-VMA move moved),
// and makes the host do the latter.
func (t *Task) sealReplay(as *AddressSpace, nr uintptr, r syscalls.Regs) {
	model := as.m.AS
	switch nr {
	case unix.SYS_MUNMAP, unix.SYS_MMAP:
		model.Unmap(r[0], r[0]+mm.PageAlign(r[1]))
	case unix.SYS_MREMAP:
		_, steps, _ := model.Mremap(r[0], r[1], r[2], r[3], r[4], 0)
		for _, s := range steps {
			if s.Unmap {
				t.Inject(unix.SYS_MUNMAP, s.Start, s.Len)
			} else {
				t.Inject(unix.SYS_MREMAP, s.Start, s.Len, s.Len, s.Flags, s.To)
			}
		}
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
