package mm

import (
	"fmt"
	"sync/atomic"
)

// sharedAnonSeq hands out FileIDs to shared anonymous mappings created
// without a known shmem inode, so that they never merge with each other.
var sharedAnonSeq atomic.Uint64

// BackingKind says what a VMA maps.
type BackingKind uint8

// Backing kinds. [heap] and [stack] are not kinds: they are labels that
// /proc/PID/maps derives from mm->start_brk/brk and mm->start_stack (see
// AddressSpace.SetBrk and SetStackStart); both are private anonymous VMAs
// (the stack one with VM_GROWSDOWN).
const (
	// BackingAnon is private anonymous memory (MAP_PRIVATE|MAP_ANONYMOUS,
	// or a private mapping of /dev/zero). A private /dev/zero mapping keeps
	// its file (Path, device, inode) and its mmap offset for
	// /proc/PID/maps, but is anonymous memory in every other respect (the
	// kernel's vma_is_anonymous).
	BackingAnon BackingKind = iota
	// BackingSharedAnon is MAP_SHARED|MAP_ANONYMOUS: the kernel backs each
	// such mmap with its own shmem file, shown as "/dev/zero (deleted)".
	BackingSharedAnon
	// BackingFile is a mapping of a file (including memfd, SysV shm, ...).
	BackingFile
	// BackingVDSO is the [vdso] special mapping.
	BackingVDSO
	// BackingVVar is the [vvar] special mapping.
	BackingVVar
	// BackingVVarVClock is the [vvar_vclock] special mapping.
	BackingVVarVClock
	// BackingVsyscall is the [vsyscall] gate area.
	BackingVsyscall
)

var backingKindNames = [...]string{"anon", "shared-anon", "file", "vdso", "vvar", "vvar_vclock", "vsyscall"}

func (k BackingKind) String() string {
	if int(k) < len(backingKindNames) {
		return backingKindNames[k]
	}
	return fmt.Sprintf("BackingKind(%d)", k)
}

// special reports whether k is a kernel special mapping (never merged).
func (k BackingKind) special() bool { return k >= BackingVDSO }

// maySplit is vm_ops->may_split: the kernel's special mappings ([vdso],
// [vvar], [vvar_vclock]: special_mapping_split) refuse to be split, with
// EINVAL.
func (v *VMA) maySplit() bool { return !v.Backing.Kind.special() }

// maySplitAt is maySplit for a split at addr: a hugetlb VMA splits only at
// a huge page boundary (hugetlb_vm_op_split; the model keeps no hstate and
// takes the 2 MiB of MAP_HUGETLB's default). Found by the fuzzer (seed
// 2004): mseal inside a hugetlb VMA was 0 under emulation, EINVAL on the
// host.
func (v *VMA) maySplitAt(addr uint64) bool {
	return v.maySplit() && (v.Flags&VMHugeTLB == 0 || addr%HugePMDSize == 0)
}

// hasFile reports whether VMAs of this kind have a vm_file (and so print
// their pgoff, device and inode in /proc/PID/maps).
func (k BackingKind) hasFile() bool { return k == BackingFile || k == BackingSharedAnon }

// HasVMFile is the kernel's vma->vm_file != NULL: its kind has a file, or
// it is a private mapping of /dev/zero (anonymous memory with a file).
// /proc/PID/maps prints the file, and the advice that ask for a file
// (REMOVE, WILLNEED, WIPEONFORK) see it.
func (b *Backing) HasVMFile() bool { return b.Kind.hasFile() || b.Kind == BackingAnon && b.Path != "" }

// Backing identifies what a VMA maps. Two VMAs map "the same file" (one of
// the conditions for merging) iff their Backings are equal.
type Backing struct {
	// Kind is the kind of mapping.
	Kind BackingKind
	// DevMajor and DevMinor are the file's device (st_dev) for file and
	// shared anonymous mappings, as /proc/PID/maps prints them.
	DevMajor, DevMinor uint32
	// Inode is the file's inode number (for shared anonymous memory, the
	// shmem inode).
	Inode uint64
	// Path is the file's path as /proc/PID/maps prints it, including a
	// " (deleted)" suffix ("/dev/zero (deleted)" for shared anonymous).
	Path string
	// Writable is true when the file was opened for writing (FMODE_WRITE);
	// a shared mapping of a read-only file has VM_SHARED and VM_MAYWRITE
	// cleared.
	Writable bool
	// FileID identifies the open file description (the kernel's struct
	// file): the kernel merges VMAs only if they use the same struct file,
	// so two opens of one file never merge. 0 means unknown (as for
	// mappings read from /proc/PID/maps), and then dev/inode/path decide.
	FileID uint64
}

// SharedAnonBacking returns the backing of a MAP_SHARED|MAP_ANONYMOUS
// mapping whose shmem file has the given device and inode.
func SharedAnonBacking(devMajor, devMinor uint32, inode uint64) Backing {
	return Backing{Kind: BackingSharedAnon, DevMajor: devMajor, DevMinor: devMinor, Inode: inode, Path: "/dev/zero (deleted)", Writable: true}
}

// AnonVMAID identifies an anon_vma. 0 means no anon_vma is attached.
type AnonVMAID uint64

// VMA is one virtual memory area of the shadow address space.
//
// RULE: every field of VMA is carried by split, merge and fork (see
// splitAt, mergePair and Fork). A new field must be handled in all three,
// in sameState (what makes a flag change a no-op), and in canMerge if the
// kernel's is_mergeable_vma compares it.
//
// VMAs held by an AddressSpace are protected by its mmap_lock; the values
// returned by lookups are copies.
type VMA struct {
	// Start and End bound the area [Start, End), page aligned.
	Start, End uint64
	// Flags are the VM_* flags, including the access bits (VM_READ,
	// VM_WRITE, VM_EXEC: see Prot) and hidden state such as VM_ACCOUNT.
	Flags VMFlags
	// Backing is what is mapped.
	Backing Backing
	// PgOff is vm_pgoff, in pages: the file offset of Start for file
	// mappings; for private anonymous mappings Start>>PageShift at mmap
	// time, kept by splits (the tail gets PgOff + its distance from Start)
	// and by mremap moves of VMAs that have an anon_vma.
	PgOff uint64
	// AnonVMA is the identity of the attached anon_vma, or 0.
	AnonVMA AnonVMAID
	// AnonChained is true when the VMA's anon_vma_chain links more than
	// AnonVMA: its anon_vma came through fork (anon_vma_fork chains the
	// parent's anon_vmas too), or was cloned from such a VMA by a split
	// or a move. Such a VMA neither merges with a neighbour that has no
	// anon_vma nor lends its anon_vma to one (the kernel's
	// list_is_singular tests in is_mergeable_anon_vma and
	// reusable_anon_vma).
	AnonChained bool
	// UffdArmed is true when the VMA is registered with a userfaultfd.
	UffdArmed bool
	// Name is the anonymous VMA name set by prctl(PR_SET_VMA,
	// PR_SET_VMA_ANON_NAME), "" for none.
	Name string
	// Guards are the guard-region pages (MADV_GUARD_INSTALL), page indices
	// relative to Start. Guards never split a VMA.
	Guards GuardSet
}

// Prot returns the PROT_* bits of v (from VM_READ/WRITE/EXEC).
func (v *VMA) Prot() Prot { return VMToProt(v.Flags) }

// Len returns End-Start.
func (v *VMA) Len() uint64 { return v.End - v.Start }

// Pages returns the number of pages in v.
func (v *VMA) Pages() uint64 { return (v.End - v.Start) >> PageShift }

// Contains reports whether addr lies in v.
func (v *VMA) Contains(addr uint64) bool { return v.Start <= addr && addr < v.End }

// IsAnonymous reports whether v is anonymous in the kernel's sense
// (vma_is_anonymous: no vm_file and no special vm_ops).
func (v *VMA) IsAnonymous() bool { return v.Backing.Kind == BackingAnon }

// IsGuard reports whether the page containing addr is a guard page.
func (v *VMA) IsGuard(addr uint64) bool {
	return v.Contains(addr) && v.Guards.Contains((addr-v.Start)>>PageShift)
}

// String renders v for debugging.
func (v VMA) String() string {
	s := fmt.Sprintf("%x-%x %s pgoff=%#x %s [%s]", v.Start, v.End, v.Backing.Kind, v.PgOff, v.Prot(), v.Flags)
	if v.Backing.Path != "" {
		s += " " + v.Backing.Path
	}
	if v.AnonVMA != 0 {
		s += fmt.Sprintf(" anon_vma=%d", v.AnonVMA)
		if v.AnonChained {
			s += " (forked)"
		}
	}
	if v.UffdArmed {
		s += " uffd"
	}
	if v.Name != "" {
		s += " name=" + v.Name
	}
	if !v.Guards.Empty() {
		s += " guards=" + v.Guards.String()
	}
	return s
}

// sameState reports whether a and b have the same state apart from their
// range and pgoff.
func sameState(a, b *VMA) bool {
	return a.Flags == b.Flags && a.Backing == b.Backing && a.AnonVMA == b.AnonVMA &&
		a.AnonChained == b.AnonChained && a.UffdArmed == b.UffdArmed && a.Name == b.Name && a.Guards.Equal(b.Guards)
}

// unmergeable reports whether v may never merge with a neighbour.
func (v *VMA) unmergeable() bool {
	return v.Flags&VMSpecial != 0 || v.Backing.Kind.special()
}

// canMerge reports whether the kernel would merge a with the VMA b that
// follows it (mm/vma.c: is_mergeable_vma, is_mergeable_anon_vma and the
// pgoff check of can_vma_merge_after/before).
func canMerge(a, b *VMA) bool {
	if a.End != b.Start || a.unmergeable() || b.unmergeable() {
		return false
	}
	if (a.Flags^b.Flags)&^VMSticky != 0 {
		return false
	}
	if a.Backing != b.Backing || a.Backing.Kind.special() {
		return false
	}
	if a.UffdArmed != b.UffdArmed || a.Name != b.Name {
		return false
	}
	if a.AnonVMA != 0 && b.AnonVMA != 0 && a.AnonVMA != b.AnonVMA {
		return false
	}
	if (a.AnonVMA == 0) != (b.AnonVMA == 0) && (a.AnonChained || b.AnonChained) {
		return false
	}
	return a.PgOff+a.Pages() == b.PgOff
}

// MmapFlags returns the vm_flags the kernel's do_mmap gives a new mapping
// (without pkeys, MAP_LOCKED, MAP_GROWSDOWN, hugetlb or a noexec mount):
// the access bits, VM_MAY*, VM_SHARED/VM_MAYSHARE for shared mappings
// (VM_SHARED and VM_MAYWRITE dropped for files not opened for writing),
// VM_NORESERVE for noreserve, and VM_ACCOUNT for private writable mappings
// without VM_NORESERVE (accountable_mapping).
func MmapFlags(prot Prot, shared bool, b Backing, noreserve bool) VMFlags {
	f := ProtToVM(prot) | VMMayRead | VMMayWrite | VMMayExec
	if shared {
		f |= VMShared | VMMayShare
		if b.Kind == BackingFile && !b.Writable {
			f &^= VMMayWrite | VMShared
		}
	}
	if noreserve {
		f |= VMNoReserve
	}
	if f&(VMNoReserve|VMShared|VMWrite) == VMWrite && !shared {
		f |= VMAccount
	}
	return f
}

// NewMmap returns the VMA that mmap(start, length, prot, shared?
// MAP_SHARED: MAP_PRIVATE [|MAP_NORESERVE]) creates over backing b at file
// page offset pgoff. For anonymous mappings pgoff is ignored: private ones
// get start>>PageShift, shared ones 0, as in do_mmap (a private mapping of
// /dev/zero, which names its file, keeps pgoff). A shared mapping of
// BackingAnon becomes a shared anonymous one with a fresh identity (inode
// 0: pass SharedAnonBacking with the host's inode to render maps exactly).
func NewMmap(start, length uint64, prot Prot, shared bool, b Backing, pgoff uint64, noreserve bool) VMA {
	if shared && b.Kind == BackingAnon {
		b = SharedAnonBacking(0, 1, 0)
		b.FileID = sharedAnonSeq.Add(1)
	}
	switch b.Kind {
	case BackingAnon:
		if b.Path == "" {
			pgoff = start >> PageShift
		}
	case BackingSharedAnon:
		pgoff = 0
	}
	return VMA{Start: start, End: start + length, Flags: MmapFlags(prot, shared, b, noreserve), Backing: b, PgOff: pgoff}
}
