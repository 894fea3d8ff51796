package hostmm

import (
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// Backend is the host side of mm's decisions for one tracee: it makes the
// tracee's real memory match what the model decided, with syscalls
// injected in the tracee (native ones, or the emulations of the run's
// EmulationSet where the host lacks a feature). The tracee is stopped in
// a syscall for as long as a Backend method runs. A Backend holds no
// state of its own: one may be made per call.
type Backend struct {
	tr  Tracee
	emu EmulationSet
}

// NewBackend returns the backend of tracee tr in a run that emulates emu.
func NewBackend(tr Tracee, emu EmulationSet) *Backend {
	return &Backend{tr: tr, emu: emu}
}

var _ mm.MadviseHost = (*Backend)(nil)

// inject runs a syscall in the tracee and returns its errno (0 on
// success). A failed injection (the tracee interrupted or gone) counts
// as EINTR: the call did not run to its end.
func (b *Backend) inject(nr uintptr, args ...uint64) unix.Errno {
	r, err := b.tr.Inject(nr, args...)
	switch {
	case err != nil:
		return unix.EINTR
	case r < 0:
		return unix.Errno(-r)
	}
	return 0
}

// PunchHole implements mm.MadviseHost with MADV_REMOVE on r, which makes
// the host's own vfs_fallocate; its errno is the host's.
func (b *Backend) PunchHole(r mm.MadviseRange) unix.Errno {
	return b.inject(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_REMOVE)
}

// Readahead implements mm.MadviseHost with MADV_WILLNEED on r (its result
// is ignored, as the kernel ignores vfs_fadvise's).
func (b *Backend) Readahead(r mm.MadviseRange) {
	b.inject(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_WILLNEED)
}

// Populate implements mm.MadviseHost: MADV_POPULATE_READ / _WRITE on r,
// or their emulation where the run emulates them (EmulatePopulate).
func (b *Backend) Populate(r mm.MadviseRange, write bool) unix.Errno {
	var e unix.Errno
	if b.emu[EmulatePopulate] {
		e = b.populate(r, write)
	} else {
		advice := uint64(unix.MADV_POPULATE_READ)
		if write {
			advice = unix.MADV_POPULATE_WRITE
		}
		e = b.inject(unix.SYS_MADVISE, r.Start, r.End-r.Start, advice)
	}
	return populateErrno(e)
}

// populateErrno maps a populate failure to what madvise_populate returns
// (facts "Per VMA", POPULATE: EFAULT (SIGBUS, SIGSEGV), EHWPOISON, EINTR;
// anything else ENOMEM).
func populateErrno(e unix.Errno) unix.Errno {
	switch e {
	case 0, unix.EFAULT, unix.EHWPOISON, unix.EINTR:
		return e
	}
	return unix.ENOMEM
}

// Collapse implements mm.MadviseHost with MADV_COLLAPSE on r. An errno
// outside the documented ones (a failed injection included) is EAGAIN,
// madvise_collapse_errno's answer for a transient failure.
func (b *Backend) Collapse(r mm.MadviseRange) unix.Errno {
	switch e := b.inject(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_COLLAPSE); e {
	case 0, unix.ENOMEM, unix.EBUSY, unix.EAGAIN, unix.EINVAL:
		return e
	}
	return unix.EAGAIN
}

// InjectError implements mm.MadviseHost with advice (MADV_HWPOISON or
// abi.MADV_SOFT_OFFLINE) on the one page at addr; the errno is the host's
// memory_failure's or soft_offline_page's.
func (b *Backend) InjectError(addr uint64, advice int) unix.Errno {
	return b.inject(unix.SYS_MADVISE, addr, mm.PageSize, uint64(advice))
}
