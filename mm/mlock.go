package mm

import "golang.org/x/sys/unix"

// The lock bits (VMLockedMask) of a VMA, as the mlock family leaves them
// (facts checked on the 6.18 host, tests/testdata/madv_mlock.c):
//   - mlock, mlock2 and munlock replace the lock bits of every VMA from the
//     one holding start on (VMLocked; VMLocked|VMLockOnFault for
//     MLOCK_ONFAULT; none for munlock), and stop with ENOMEM at the first
//     hole: the VMAs before it stay changed (and split at start). mlock
//     then populates, and a populate error (a page past a file's EOF, a
//     guard marker, PROT_NONE) fails the call with the whole range locked.
//   - mlockall(MCL_CURRENT) and munlockall replace the lock bits of every
//     VMA; MCL_FUTURE alone changes none.
//   - Mappings that are not Lockable are passed over (the call still
//     succeeds), and a new one drops what MAP_LOCKED or mlockall(MCL_FUTURE)
//     would give it.

// secretmemPath is what /proc/PID/maps shows for a memfd_secret mapping.
const secretmemPath = "/secretmem (deleted)"

// IsSecretmem reports whether b is a memfd_secret file: its mappings are
// VM_LOCKED from the start and mlock never changes that.
func (b Backing) IsSecretmem() bool { return b.Kind == BackingFile && b.Path == secretmemPath }

// Lockable reports whether the mlock family may change v's lock bits: not
// for VM_SPECIAL, hugetlb, droppable or secretmem mappings, nor the
// kernel's special mappings (mlock_fixup passes them over).
func (v *VMA) Lockable() bool {
	return v.Flags&(VMSpecial|VMHugeTLB|VMDroppable) == 0 && !v.Backing.Kind.special() && !v.Backing.IsSecretmem()
}

// Mlock replaces the lock bits of [start, end) with lock, as mlock
// (VMLocked), mlock2(MLOCK_ONFAULT) (VMLocked|VMLockOnFault) and munlock
// (0) do before they populate: from the VMA holding start on, splitting
// at the range edges and merging; VMAs that are not Lockable keep theirs.
//
// Errors: ENOMEM when start is unmapped, at the first hole (the VMAs before
// it stay changed), or when a split exceeds vm.max_map_count.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Mlock(start, end uint64, lock VMFlags) error {
	return as.modifyRange(start, end, gapStop, unix.ENOMEM, func(nv *VMA) error {
		if nv.Lockable() {
			nv.Flags = nv.Flags&^VMLockedMask | lock
		}
		return nil
	})
}

// MlockChange returns the first address of [start, end) whose lock bits
// Mlock(start, end, lock) would change, and false if it would change none.
// A failed mlock may or may not have run its walk (RLIMIT_MEMLOCK refuses
// before it, a populate error comes after it): the host's lock bits there
// tell which.
func (as *AddressSpace) MlockChange(start, end uint64, lock VMFlags) (uint64, bool) {
	for v := as.find(start); v != nil && v.Start < end; {
		if v.Lockable() && v.Flags&VMLockedMask != lock {
			return max(v.Start, start), true
		}
		n := as.next(v)
		if n == nil || n.Start != v.End {
			break
		}
		v = n
	}
	return 0, false
}

// MlockAll replaces the lock bits of every Lockable VMA with lock, as
// mlockall(MCL_CURRENT) (VMLocked, with VMLockOnFault for MCL_ONFAULT) and
// munlockall (0) do. Whole VMAs change, so nothing splits; VMAs that
// become alike merge.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) MlockAll(lock VMFlags) {
	for _, v := range as.VMAs() {
		// Merges only join VMAs already done with the current one or
		// with one that needs no change: v's range is still whole.
		_ = as.Mlock(v.Start, v.End, lock)
	}
}

// Populated records what a populate (mlock, mlockall(MCL_CURRENT), an mmap
// with MAP_POPULATE or VM_LOCKED) leaves in [start, end): it faults the
// pages of every VMA but VM_IO/VM_PFNMAP ones and those locked on fault,
// for write where the VMA is private and writable, and a write fault
// attaches an anon_vma (which decides later merges). Read faults attach
// none.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) Populated(start, end uint64) {
	for _, v := range as.overlapping(start, end) {
		if v.Flags&(VMWrite|VMShared|VMIO|VMPFNMap|VMLockOnFault) == VMWrite {
			as.prepareAnonVMA(v)
		}
	}
}
