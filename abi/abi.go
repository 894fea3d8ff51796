// Package abi holds the Linux x86-64 ABI values madvisor needs that
// golang.org/x/sys/unix and gvisor.dev/gvisor/pkg/abi/linux lack: ioctl
// numbers, pidfd sentinels, flags and structures of newer kernels, and
// the madvise advice list. One definition each, for every package.
//
// It imports nothing of madvisor's: any package may use it.
package abi

import "golang.org/x/sys/unix"

// MADV_SOFT_OFFLINE (include/uapi/asm-generic/mman-common.h), which
// golang.org/x/sys/unix does not define.
const MADV_SOFT_OFFLINE = 101

// AdviceValues are the madvise advice values of x86-64 in numeric order
// (facts "Values").
var AdviceValues = []int{
	unix.MADV_NORMAL, unix.MADV_RANDOM, unix.MADV_SEQUENTIAL, unix.MADV_WILLNEED, unix.MADV_DONTNEED,
	unix.MADV_FREE, unix.MADV_REMOVE, unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_MERGEABLE,
	unix.MADV_UNMERGEABLE, unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_DONTDUMP, unix.MADV_DODUMP,
	unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK, unix.MADV_COLD, unix.MADV_PAGEOUT, unix.MADV_POPULATE_READ,
	unix.MADV_POPULATE_WRITE, unix.MADV_DONTNEED_LOCKED, unix.MADV_COLLAPSE, unix.MADV_HWPOISON,
	MADV_SOFT_OFFLINE, unix.MADV_GUARD_INSTALL, unix.MADV_GUARD_REMOVE,
}

// PIDFD_SELF_THREAD and PIDFD_SELF_THREAD_GROUP are the pidfd values that
// name the caller (include/uapi/linux/pidfd.h, 6.14 / 6.15).
const (
	PIDFD_SELF_THREAD       = -10000
	PIDFD_SELF_THREAD_GROUP = -10001
)

// ioctl requests (include/uapi/linux/userfaultfd.h, fs.h).
const (
	// UFFDIO_REGISTER is _IOWR(UFFDIO, _UFFDIO_REGISTER, struct
	// uffdio_register) (struct size 32).
	UFFDIO_REGISTER = 0xc020aa00
	// UFFDIO_UNREGISTER is _IOR(UFFDIO, _UFFDIO_UNREGISTER, struct
	// uffdio_range) (struct size 16).
	UFFDIO_UNREGISTER = 0x8010aa01
	// USERFAULTFD_IOC_NEW is _IO(USERFAULTFD_IOC, 0x00): a new
	// userfaultfd from /dev/userfaultfd (6.1).
	USERFAULTFD_IOC_NEW = 0xaa00
	// PAGEMAP_SCAN is _IOWR('f', 16, struct pm_scan_arg) (size 96, 6.7).
	PAGEMAP_SCAN = 0xc0606610
	// PROCMAP_QUERY is _IOWR('f', 17, struct procmap_query) (size 104,
	// 6.11).
	PROCMAP_QUERY = 0xc0686611
)

// SHM_REMAP and SHM_EXEC are shmat flags of include/uapi/linux/shm.h
// (x/sys has only SHM_RDONLY and SHM_RND).
const (
	SHM_REMAP = 0o40000
	SHM_EXEC  = 0o100000
)

// ProcmapQuery is struct procmap_query, the PROCMAP_QUERY argument: one
// VMA by address, without reading the whole maps text.
type ProcmapQuery struct {
	Size, QueryFlags, QueryAddr uint64
	VMAStart, VMAEnd, VMAFlags  uint64
	VMAPageSize, VMAOffset      uint64
	Inode                       uint64
	DevMajor, DevMinor          uint32
	VMANameSize, BuildIDSize    uint32
	VMANameAddr, BuildIDAddr    uint64
}

// PROCMAP_QUERY flags: the VMA_* bits are both query filters and the
// answer's vma_flags.
const (
	PROCMAP_QUERY_VMA_READABLE         = 0x01
	PROCMAP_QUERY_VMA_WRITABLE         = 0x02
	PROCMAP_QUERY_VMA_EXECUTABLE       = 0x04
	PROCMAP_QUERY_VMA_SHARED           = 0x08
	PROCMAP_QUERY_COVERING_OR_NEXT_VMA = 0x10
	PROCMAP_QUERY_FILE_BACKED_VMA      = 0x20
	ProcmapQuerySize                   = 104 // sizeof(struct procmap_query)
)

// Pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	PM_PRESENT      = 1 << 63
	PM_SWAP         = 1 << 62
	PM_FILE_SHARED  = 1 << 61
	PM_GUARD_REGION = 1 << 58
	// PMGuardFrame is the swap type and offset of a guard marker's PTE
	// (as 6.18 shows it to a reader with CAP_SYS_ADMIN; 0 to others).
	PMGuardFrame = 0x9f
)

// PAGEMAP_SCAN's PAGE_IS_* categories (include/uapi/linux/fs.h) and
// struct pm_scan_arg's size.
const (
	PAGE_IS_WRITTEN    = 1 << 1
	PAGE_IS_FILE       = 1 << 2
	PAGE_IS_PRESENT    = 1 << 3
	PAGE_IS_SWAPPED    = 1 << 4
	PAGE_IS_SOFT_DIRTY = 1 << 7
	PAGE_IS_GUARD      = 1 << 8
	// PMScanAll is every category of 6.15 (WPALLOWED ... GUARD).
	PMScanAll     = 0x1ff
	PMScanArgSize = 96
)

// READ_IMPLIES_EXEC is the personality(2) flag that makes PROT_READ imply
// PROT_EXEC in mmap and mprotect (include/uapi/linux/personality.h).
const READ_IMPLIES_EXEC = 0x0400000

// arch_prctl codes that map a vDSO image into the caller's address space
// (arch/x86/include/uapi/asm/prctl.h).
const (
	ARCH_MAP_VDSO_X32 = 0x2001
	ARCH_MAP_VDSO_32  = 0x2002
	ARCH_MAP_VDSO_64  = 0x2003
)
