package sentry

// Scheduler is the single seam every blocking point of a task goes through:
// waiting for its tracee to stop, for a sentry lock, for the engine. The
// parallel scheduler lets tasks run at once; a deterministic scheduler (run one
// task at a time in an order drawn from a seed) plugs in here.
type Scheduler interface {
	// Block runs wait, which blocks task t for the given reason, and returns
	// when wait returns. A deterministic scheduler hands the run token to
	// another task before calling wait and takes it back afterwards.
	Block(t *Task, reason string, wait func())
	// Started and Exited bracket a task's life, so a scheduler can track
	// which tasks exist.
	Started(t *Task)
	Exited(t *Task)
}

// ParallelScheduler lets every task run whenever it is ready.
type ParallelScheduler struct{}

// Block implements Scheduler.Block.
func (ParallelScheduler) Block(t *Task, reason string, wait func()) {
	t.setWaiting(reason)
	wait()
	t.setWaiting("")
}

// Started implements Scheduler.Started.
func (ParallelScheduler) Started(*Task) {}

// Exited implements Scheduler.Exited.
func (ParallelScheduler) Exited(*Task) {}
