package mm

import "madvisor/lockdep"

// MmapLockClass is the lockdep class of mm->mmap_lock, the rwsem that
// serializes changes to an address space's VMAs. The sentry holds it for
// writing from a memory syscall's entry to its exit, across the host's
// execution and the model update.
var MmapLockClass = lockdep.NewClass("mmap_lock")
