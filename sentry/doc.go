// Package sentry runs a program under madvisor: it launches it traced
// (stage.go: a re-exec of madvisor installs the seccomp filter built from
// the syscall table, filter.go, then execs the target), and runs one task
// per tracee thread.
//
// One locked OS thread, the engine (engine.go), makes every ptrace request
// and every wait4: ptrace is per tracer thread, and the children of traced
// threads are traced by the same thread. It blocks in wait4 itself and
// runs each task's work inline (task.go): a goroutine hand-off per stop
// would cost more than the stop.
//
// At a traced call's seccomp stop the task looks the call up in the
// syscall table once and runs its handler (syscall.go), which asks for the
// model's decision (mm) and the sentry's steps through syscalls.Context
// (context.go, implemented by *Task): the emulations' glue (sealemu.go,
// guardemu.go), madvise and process_madvise (madvise.go, pmadvise.go), the
// program's view of /proc (procview.go, procfileio.go, pagemapscan.go,
// procmapquery.go, fdtrap.go). The host's part of each is hostmm's; the
// sentry injects calls in the tracee for it (inject.go) and carries out
// the handler's Plan.
//
// Blocking never happens on the engine: a task whose address space's
// mmap_lock is held by another task's call stays in its stop and queues on
// that mm.MmapLock; the Scheduler (sched.go) picks who retries first when
// it is released.
//
// Deterministic mode (run --seed; det.go) keeps every stop as the
// thread's pending step and carries out only the one det.Scheduler
// picks, so one tracee thread runs at a time; its futexes (detfutex.go),
// virtual time and randomness (dettime.go), calls that would block
// (detblock.go) and chaos's preemptions inside syscall-free code
// (detpreempt.go) are the sentry's.
//
// # Lock order
//
// Sandbox.mu (the task registry) and Task.mu (the task dump's fields) are
// leaves, never held across anything else. The model's locks (mmap_lock,
// vma_lock, mmu_gather, mmu_notifier) are mm's, in the order its package
// doc gives; everything else is confined to the engine thread.
package sentry
