package sentry

// Scheduler makes every choice of which task goes next: the seam where the
// deterministic scheduler (one tracee thread at a time, in an order drawn
// from a seed) plugs in.
//
// All task work runs on the engine thread, so a task never blocks a
// goroutine: a task that must wait (for a contended mmap_lock) stays stopped
// in its tracee stop and joins a queue, and the scheduler picks who leaves
// the queue when the resource is free.
type Scheduler interface {
	// Started and Exited bracket a task's life.
	Started(t *Task)
	Exited(t *Task)
	// Next returns the index in waiting of the task that gets resource
	// now. waiting is never empty.
	Next(resource string, waiting []*Task) int
}

// ParallelScheduler lets every tracee run whenever it is ready and serves
// waiters in arrival order.
type ParallelScheduler struct{}

// Started implements Scheduler.Started.
func (ParallelScheduler) Started(*Task) {}

// Exited implements Scheduler.Exited.
func (ParallelScheduler) Exited(*Task) {}

// Next implements Scheduler.Next: first come, first served.
func (ParallelScheduler) Next(string, []*Task) int { return 0 }
