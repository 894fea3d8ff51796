package sentry

import (
	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// mseal emulation (hostmm.EmulateMseal): the host never sees a seal. The
// model keeps VM_SEALED (mm.AddressSpace.Mseal), and at each memory
// syscall's entry the sentry refuses, from the model, what a seal forbids,
// as the kernel would (facts "Per VMA", mseal; madv_seal): munmap, mremap
// and mmap MAP_FIXED over a sealed VMA fail with EPERM and change nothing;
// mprotect changes the VMAs before the first sealed one, then fails with
// EPERM; brk does not shrink over one. The discard advice are the model's
// already (mm.MM.Madvise).

// sealEntry answers the syscall if a seal decides it. It reports whether
// it did (act.emulate and act.locked are set). Engine thread only.
func (t *Task) sealEntry(act *action, si *syscallInfo) bool {
	as := t.tg.mm
	if as == nil {
		return false
	}
	a := si.Args
	refuse := func() bool {
		act.emulate = func(hostmm.Tracee) int64 { return -int64(unix.EPERM) }
		act.locked = as
		return true
	}
	sealed := func(start, length uint64) bool {
		end := start + mm.PageAlign(length)
		if start%mm.PageSize != 0 || end <= start {
			return false // the host's own EINVAL comes first
		}
		_, found := as.m.AS.FirstSealed(start, end)
		return found
	}
	switch si.Nr {
	case unix.SYS_MSEAL:
		act.locked = as
		act.emulate = func(hostmm.Tracee) int64 { return errnoResult(as.m.AS.Mseal(a[0], a[1], a[2])) }
		return true
	case unix.SYS_MUNMAP:
		if sealed(a[0], a[1]) {
			return refuse()
		}
	case unix.SYS_MMAP:
		if a[3]&unix.MAP_FIXED != 0 && a[3]&unix.MAP_FIXED_NOREPLACE == 0 && sealed(a[0], a[1]) {
			return refuse()
		}
	case unix.SYS_MREMAP:
		if sealed(a[0], max(a[1], 1)) || a[3]&unix.MREMAP_FIXED != 0 && sealed(a[4], a[2]) {
			return refuse()
		}
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		return t.sealedMprotect(act, si)
	case unix.SYS_BRK:
		_, brk := as.m.AS.Brk()
		if a[0] < brk && sealed(mm.PageAlign(a[0]), mm.PageAlign(brk)-mm.PageAlign(a[0])) {
			// brk fails: it returns the unchanged break.
			act.locked = as
			act.emulate = func(hostmm.Tracee) int64 { return int64(brk) }
			return true
		}
	}
	return false
}

// sealedMprotect: mprotect's loop changes each VMA in turn and fails with
// EPERM at the first sealed one, so the host is asked to change only the
// part before it (its own errors, a hole or EACCES, come first).
func (t *Task) sealedMprotect(act *action, si *syscallInfo) bool {
	as, a := t.tg.mm, si.Args
	start, end := a[0], a[0]+mm.PageAlign(a[1])
	if start%mm.PageSize != 0 || end <= start {
		return false
	}
	first, found := as.m.AS.FirstSealed(start, end)
	if !found {
		return false
	}
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
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
	return true
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
