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
// MM bundles an AddressSpace with its MmapLock. MM.Madvise is madvise(2)
// in the model (madvise.go): the kernel's order of checks, the locks the
// spec prescribes per advice (taken through MmapLock, so a holder's lockdep
// recorder sees them), the VMA walk with its gap semantics and every
// per-VMA errno rule of shared/reference/madvise-facts.md; it returns the
// errno and the pieces whose host memory must be acted on. What only the
// host knows (a hole punch's error, a populate fault) comes from an
// optional MadviseHost called where the kernel makes that call.
//
// mm is a pure model: it makes no host system calls. hostmm makes the
// host match the decisions taken here. Errors visible to the guest are
// bare errno values (golang.org/x/sys/unix.Errno).
//
// # Lock order
//
// The locks are in locks.go; their order is declared to lockdep as data
// (lockOrder) and a test checks that the order lockdep learns agrees. As a
// tree, outermost first:
//
//	mmap_lock                 MmapLock: Read, Write, WriteKillable (EINTR on
//	 |                        a fatal signal), TryWrite, Downgrade
//	 +- vma_lock              VMALock: write-marked under mmap_lock write
//	     |                    (MarkVMAWrite, like vma_start_write: waits for
//	     |                    the VMA's readers; marks cleared when the write
//	     |                    hold ends); read by TryReadVMA, see below
//	     +- mmu_gather        MmuGather: tlb_gather_mmu .. tlb_finish_mmu,
//	         |                scoped pseudo-lock, under mmap_lock or a
//	         |                per-VMA read lock
//	         +- mmu_notifier  MmuNotifier: invalidate_range_start .. _end,
//	                          scoped pseudo-lock, inside the gather of a zap
//
// A lock may be taken under any of its ancestors, skipping levels: the
// mmap_lock read path opens mmu_gather directly under mmap_lock. The
// per-VMA read lock of the madvise fast path (LockFor, FastPathAllowed) is
// taken WITHOUT mmap_lock, as a trylock (lock_vma_under_rcu): it is then
// the outermost lock, and mmap_lock is never taken under it (a reader that
// must fall back releases it first). The per-VMA locks are keyed by VMA
// start address and the write marks are address ranges, so that they
// survive splits and merges (see VMAKey).
//
// Every field says which lock protects it. Methods state in
// Preconditions which mode of mmap_lock the caller holds; the
// AddressSpace itself does not lock.
package mm
