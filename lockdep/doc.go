// Package lockdep is a lock validator for Go, in the manner of the Linux
// kernel's lockdep, and the lock types built on it. It knows nothing of mm:
// madvisor's mm declares its classes (mmap_lock, the per-VMA lock, the
// mmu_gather and mmu_notifier brackets) and its order here, and the sentry
// sets the mode from --lockdep=off|warn|panic.
//
// # Model
//
// A Class is a kind of lock, registered by name (NewClass). The validator
// reasons about classes, not instances: a thousand VMA locks are one class,
// and what is learned from one applies to all. Each class has MaxSubclasses
// subclasses, separate vertices of the graph, for instances of one class
// that are held together in a known order: during fork the parent's
// mmap_lock is taken as subclass 0 and the child's as subclass 1
// (RWSem.LockNested(h, 1)); two instances in one subclass are recursive
// locking.
//
// A Holder is whoever holds locks. The caller owns it and passes it (never
// nil) to every operation (madvisor's task embeds one); it is never found from the
// goroutine. It keeps the stack of locks it holds, with the mode of each
// ({W} or {R}) and where it was taken, and it carries the "fatal signal
// pending" state that ends killable waits (SignalFatal wakes them through a
// channel; nothing polls).
//
// The dependency graph is learned at run time: when a holder that holds A
// acquires B, the edge A -> B is recorded with the stack where it was first
// seen. Every acquisition is checked before the holder blocks: if B already
// reaches A in the graph, the acquisition closes a cycle and is reported,
// although no deadlock happened in this run. So an ABBA inversion is found
// when each side has run once, in different holders, at different times.
// Read and write holds take part alike (a waiting writer blocks new readers,
// so readers are not recursive). A trylock cannot wait, so it is not checked
// and adds no edge into the lock it takes; locks taken under it depend on it.
//
// # Checks and reports
//
// Each problem is printed in the Linux lockdep layout (a WARNING header
// between separators, the holder as name/id, the locks involved with their
// modes and acquisition sites, "N locks held by name/id:" and a Go stack):
//
//   - possible circular locking dependency (with "the existing dependency
//     chain (in reverse order)", each edge with the stack where it was first
//     seen, the CPU0/CPU1 "Possible unsafe locking scenario" and
//     "*** DEADLOCK ***");
//   - possible recursive locking (the same lock, or the same class and
//     subclass, acquired again; a second read of a read-held RWSem included);
//   - bad unlock balance (releasing what is not held, or in the other mode),
//     and releasing a lock held by another holder;
//   - lock held when returning to user space (Holder.CheckNoneHeld, called
//     when the task resumes its tracee);
//   - failed Holder.AssertHeld, AssertHeldW, AssertHeldR, AssertNotHeld;
//   - releasing a pinned lock (Holder.Pin returns a cookie; a callee must
//     not drop the lock until Holder.Unpin), and bad pin cookies;
//   - an acquisition against the declared order (below), bad downgrade, and
//     bad scope nesting.
//
// Holder.MayAcquire checks an acquisition that a rare path might make,
// without taking the lock, so the rare path's dependencies are learned even
// in runs that never take it.
//
// A Report carries the kind and the text. ReportCount counts the problems
// found.
//
// # Modes
//
// The mode is global (SetMode; ParseMode or a *Mode used as a flag.Value
// reads "off", "warn" or "panic"):
//
//   - Off: nothing is validated. Each lock operation does one atomic load of
//     the mode and goes to the primitive; held stacks stay empty, Pin returns
//     0 and the assertions are no-ops. The default.
//   - Warn: each distinct problem is printed once to the writer set by
//     SetOutput (os.Stderr by default) and the program goes on. A release
//     that the validator rejects (the holder does not hold the lock in that
//     mode) is not performed, so the primitive stays consistent with the
//     held stacks; anything else goes on as the program asked.
//   - Panic: every problem panics with a *Report, before the offending
//     acquisition or release takes effect. Tests use it.
//
// Set the mode at start-up, or in a test while no lock is held: a lock
// taken while Off is on no held stack, and releasing it once validation is
// on is reported.
//
// The cost with validation on, uncontended, is a few tens of nanoseconds per
// operation (see the benchmarks): the held-stack push and pop, one lock-free
// edge lookup per lock already held, and a frame-pointer walk that records
// the acquisition site (resolved only when a report is printed). Learning a
// new edge takes a global mutex and a graph search, once per edge.
//
// # Lock types
//
// Mutex is a mutex (sync.Mutex underneath). RWSem is a reader/writer
// semaphore with the kernel rwsem's behaviour: FIFO hand-off, a waiting
// writer holds back new readers, Lock/RLock, LockKillable/RLockKillable
// (which return ErrKilled, not holding the lock, when the holder gets a
// fatal signal while it waits), TryLock/TryRLock, and Downgrade (write to
// read, letting waiting readers in). Scope is a pseudo-lock for brackets
// such as mmu_gather and mmu_notifier invalidate start/end: it never
// blocks, many holders may be inside it, and Enter/Exit are validated for
// pairing and nesting and take part in the graph. A client with its own
// primitive embeds a Map and brackets the primitive with Holder.Acquire and
// Holder.Release.
//
// Whatever the mode, a holder about to block calls its Waiter (if set by
// Holder.SetWaiter) before and after the wait: that is the seam for a
// scheduler that must know which tasks are runnable. With validation on, a
// holder's recorder (Holder.SetRecorder) sees every acquire, release,
// downgrade, failed trylock and interrupted wait, which is how a client
// records which locks a path took in which mode.
//
// # Declaring classes and ranks
//
// A client declares its classes once, at package level, and may declare
// their order as data:
//
//	var (
//		mmapLockClass = lockdep.NewClass("mmap_lock")
//		vmaLockClass  = lockdep.NewClass("vma_lock")
//		notifierClass = lockdep.NewClass("mmu_notifier")
//		gatherClass   = lockdep.NewClass("mmu_gather")
//	)
//
//	func init() {
//		lockdep.DeclareOrder(mmapLockClass, vmaLockClass)
//		lockdep.DeclareOrder(mmapLockClass, gatherClass, notifierClass)
//	}
//
// Each DeclareOrder call is a chain, outermost first; together they form a
// tree (any acyclic order). An acquisition that contradicts the declaration
// is reported the first time it happens, before the opposite side has been
// seen. CheckOrder compares the learned graph with the declaration: a test
// that exercises the client's locking ends with
//
//	require.NoError(t, lockdep.CheckOrder())
//
// which fails if a learned edge contradicts the declared order or orders
// two declared classes that the declaration leaves unordered. Edges and
// ResetGraph expose and reset the learned graph.
package lockdep
