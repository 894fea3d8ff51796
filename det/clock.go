package det

import (
	"container/heap"
)

// Clock is the run's virtual time. It starts at the same instant every
// run and moves only at scheduling points (Tick) and when every thread
// waits for a timer (Advance jumps to the earliest deadline), so a program
// that sleeps 10 s finishes at once and reads the same times every run.
type Clock struct {
	// now is nanoseconds since the virtual boot.
	now    int64
	timers timerHeap
	seq    int64
}

// Virtual time's origin and pace.
const (
	// RealtimeAtBoot is CLOCK_REALTIME at virtual boot: 2026-01-01
	// 00:00:00 UTC.
	RealtimeAtBoot = 1767225600 * 1e9
	// BootTime is CLOCK_MONOTONIC at the run's start: 100 s of uptime.
	BootTime = 100 * 1e9
	// TickNs is how far one scheduling point moves time.
	TickNs = 1000
)

// NewClock returns a clock at the run's start.
func NewClock() *Clock { return &Clock{now: BootTime} }

// Monotonic is CLOCK_MONOTONIC (and BOOTTIME) in nanoseconds.
func (c *Clock) Monotonic() int64 { return c.now }

// Realtime is CLOCK_REALTIME in nanoseconds since the epoch.
func (c *Clock) Realtime() int64 { return RealtimeAtBoot + c.now - BootTime }

// Tick moves time by one scheduling point.
func (c *Clock) Tick() { c.now += TickNs }

// A timer wakes thread Vid at Deadline (monotonic nanoseconds).
type timer struct {
	Deadline int64
	Vid      int
	seq      int64 // ties in arrival order
	index    int
}

// Sleep arms a timer for vid at the monotonic deadline. A thread has at
// most one timer: arming again replaces it.
func (c *Clock) Sleep(vid int, deadline int64) {
	c.Cancel(vid)
	c.seq++
	heap.Push(&c.timers, &timer{Deadline: deadline, Vid: vid, seq: c.seq})
}

// Cancel disarms vid's timer, if any.
func (c *Clock) Cancel(vid int) {
	for i, t := range c.timers {
		if t.Vid == vid {
			heap.Remove(&c.timers, i)
			return
		}
	}
}

// Expired removes and returns the threads whose deadline has passed, in
// deadline order.
func (c *Clock) Expired() []int {
	var out []int
	for len(c.timers) > 0 && c.timers[0].Deadline <= c.now {
		out = append(out, heap.Pop(&c.timers).(*timer).Vid)
	}
	return out
}

// Armed reports whether a timer is armed.
func (c *Clock) Armed() bool { return len(c.timers) > 0 }

// Advance jumps to the earliest deadline, when every thread waits. It
// reports whether there was a timer to jump to.
func (c *Clock) Advance() bool {
	if len(c.timers) == 0 {
		return false
	}
	if d := c.timers[0].Deadline; d > c.now {
		c.now = d
	}
	return true
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].Deadline != h[j].Deadline {
		return h[i].Deadline < h[j].Deadline
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *timerHeap) Push(x any)   { t := x.(*timer); t.index = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
