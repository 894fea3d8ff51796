// Package mm is madvisor's shadow address space: a model of each traced
// process's mm_struct that the sentry keeps in step with the host.
//
// An AddressSpace holds the process's VMAs in a B-tree ordered by start
// address (O(log n) lookups, O(log n + k) range walks, 65,530 VMAs =
// vm.max_map_count and more), the per-mm counters the kernel keeps, and
// the mm fields that /proc/PID/maps depends on (start_brk, brk,
// start_stack). Its mutations (Map, Unmap, Protect, Remap, SetFlags,
// SetName, SetUffd, AddGuards, RemoveGuards, Fork) split and merge VMAs
// exactly as Linux's mm/vma.c does, including the state /proc/PID/maps
// does not show but that decides merging: VM_ACCOUNT, vm_pgoff of
// anonymous VMAs, the anon_vma, userfaultfd registration and anon names.
// Maps renders what the kernel would print in /proc/PID/maps, and
// DiffMaps compares it with the host's, which is how the checker
// (--check-maps) validates the model after every intercepted syscall.
//
// mm is a pure model: it makes no host system calls. hostmm makes the
// host match the decisions taken here. Errors visible to the guest are
// bare errno values (golang.org/x/sys/unix.Errno).
//
// # Lock order
//
// The locks themselves arrive with the lockdep integration; the order
// they will follow, outermost first, is:
//
//	mmap_lock (AddressSpace; read or write, write may be killable)
//	  vma lock (per VMA; read for the per-VMA fast paths, write taken
//	  |         under mmap_lock write before a VMA is modified)
//	  mmu_gather (scoped pseudo-lock around zaps: DONTNEED, FREE, unmap)
//	    mmu_notifier (invalidate_range_start/end bracket around each zap)
//
// A per-VMA read lock may also be taken without mmap_lock (the madvise
// fast path); it is then the outermost lock and mmap_lock is not taken
// under it.
//
// Every field says which lock protects it. Methods state in
// Preconditions which mode of mmap_lock the caller holds; the
// AddressSpace itself does not lock.
package mm
