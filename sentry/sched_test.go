package sentry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"madvisor/lockdep"
	"madvisor/mm"
)

// recordingScheduler picks the last waiter and records what it was asked.
type recordingScheduler struct {
	ParallelScheduler
	asked [][]int // the tids waiting at each Next
}

func (r *recordingScheduler) Next(resource string, waiting []*Task) int {
	var tids []int
	for _, t := range waiting {
		tids = append(tids, t.tid)
	}
	r.asked = append(r.asked, tids)
	return len(waiting) - 1
}

// TestWakeWaitersSchedulerOrder: tasks queued on an address space's
// mmap_lock are offered to the Scheduler in arrival order, one retry per
// choice, only once the lock is free. (The tasks are dead, so a retry
// ends at once and the next one is offered.)
func TestWakeWaitersSchedulerOrder(t *testing.T) {
	s := &Sandbox{}
	as := newAddressSpace(mm.NewAddressSpace())
	for tid := 1; tid <= 3; tid++ {
		task := s.newTask(tid, &ThreadGroup{pid: tid, mm: as})
		task.dead = true
		as.m.Lock.Enqueue(&waiter{t: task})
	}
	sched := &recordingScheduler{}
	owner := lockdep.NewHolder("task", 99)
	require.True(t, as.m.Lock.TryWrite(owner))
	as.wakeWaiters(sched)
	assert.Empty(t, sched.asked, "the scheduler was asked while the lock is held")

	as.m.Lock.Unlock(owner)
	as.wakeWaiters(sched)
	assert.Equal(t, [][]int{{1, 2, 3}, {1, 2}, {1}}, sched.asked, "waiting tasks offered to the scheduler")
	assert.Empty(t, as.m.Lock.Waiters(), "waiters left")
}

// TestParallelSchedulerFIFO: the default scheduler serves waiters in
// arrival order.
func TestParallelSchedulerFIFO(t *testing.T) {
	assert.Equal(t, 0, ParallelScheduler{}.Next("mmap_lock", []*Task{{tid: 5}, {tid: 6}}))
}
