package sentry

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestThreadExeced: an exec event's former tid names a thread's exec only
// when it is another thread of the same process; the namespace id of a
// stage seized mid-exec is none of ours, even when a tracee elsewhere has
// that tid.
func TestThreadExeced(t *testing.T) {
	e := newEngine()
	p, other := &ThreadGroup{pid: 5000}, &ThreadGroup{pid: 100}
	e.tasks[5000] = &Task{tid: 5000, tg: p}
	e.tasks[5001] = &Task{tid: 5001, tg: p}
	e.tasks[100] = &Task{tid: 100, tg: other}
	assert.True(t, e.threadExeced(5001, 5000), "a thread of the process")
	assert.False(t, e.threadExeced(5000, 5000), "the leader itself")
	assert.False(t, e.threadExeced(100, 5000), "a namespace pid that is another process's host tid")
	assert.False(t, e.threadExeced(2, 5000), "a namespace pid that is no tracee's")
}
