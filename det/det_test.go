package det

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schedule runs a fake program: threads 1..n, each needing steps
// scheduling points to finish; it returns the order of the picks.
func schedule(s *Scheduler, n, steps int) []int {
	left := map[int]int{}
	for v := 1; v <= n; v++ {
		s.Created(v)
		left[v] = steps
	}
	var order []int
	cur := 0
	for len(left) > 0 {
		var runnable []int
		for v := 1; v <= n; v++ {
			if left[v] > 0 {
				runnable = append(runnable, v)
			}
		}
		cur = s.Pick(cur, runnable)
		order = append(order, cur)
		if left[cur]--; left[cur] == 0 {
			delete(left, cur)
			s.Exited(cur)
			cur = 0
		}
	}
	return order
}

func TestSchedulerReplaysBySeed(t *testing.T) {
	for _, chaos := range []bool{false, true} {
		a := schedule(NewScheduler(42, chaos), 4, 50)
		b := schedule(NewScheduler(42, chaos), 4, 50)
		c := schedule(NewScheduler(43, chaos), 4, 50)
		assert.Equal(t, a, b, "chaos %v: the same seed twice", chaos)
		assert.NotEqual(t, a, c, "chaos %v: seeds 42 and 43 gave the same schedule", chaos)
	}
}

// TestSchedulerPCT: with chaos the highest-priority runnable thread runs
// until a change point lowers it; so runs are long (few switches), and
// every thread still finishes.
func TestSchedulerPCT(t *testing.T) {
	order := schedule(NewScheduler(7, true), 3, 100)
	require.Len(t, order, 300)
	switches := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			switches++
		}
	}
	// Two switches at thread ends, at most Depth-1 more at change points.
	assert.LessOrEqual(t, switches, 2+Depth-1, "PCT switches only at change points and exits: %v", order)
}

func TestSchedulerLower(t *testing.T) {
	s := NewScheduler(1, true)
	s.Created(1)
	s.Created(2)
	top := s.Pick(0, []int{1, 2})
	s.Lower(top)
	other := 3 - top
	assert.Equal(t, other, s.Pick(top, []int{1, 2}), "a lowered thread runs after the others")
}

func TestPreemptBudget(t *testing.T) {
	s := NewScheduler(5, true)
	cost := 0
	for range 100_000 {
		p := s.Preempt(1, 1)
		assert.LessOrEqual(t, p.Steps, maxSteps)
		assert.LessOrEqual(t, p.Hits, maxHits)
		cost += p.Steps + p.Hits
	}
	assert.LessOrEqual(t, cost, maxPreemptCost+maxSteps+maxHits, "preemption cost over the run's budget")
	assert.Greater(t, cost, 0, "chaos never preempted")
	assert.Equal(t, Preemption{}, NewScheduler(5, false).Preempt(1, 1), "no preemption without chaos")
	assert.Equal(t, Preemption{}, NewScheduler(5, true).Preempt(1, 0), "no preemption with nobody else to run")
}

// vids are the threads of woken.
func vids(woken []Woken) []int {
	var v []int
	for _, w := range woken {
		v = append(v, w.Vid)
	}
	return v
}

func TestFutexes(t *testing.T) {
	f := NewFutexes()
	k, k2 := FutexKey{Space: 1, Off: 0x1000}, FutexKey{Space: 1, Off: 0x2000}
	first := func(int) int { return 0 }
	f.Wait(k, 1, 0x1)
	f.Wait(k, 2, 0x2)
	f.Wait(k, 3, ^uint32(0))
	assert.Equal(t, []int{2, 3}, vids(f.Wake(k, 5, 0x2, first)), "the bitset chooses")
	assert.True(t, f.Waiting(1))
	f.Wait(k, 4, ^uint32(0))
	f.Wait(k, 5, ^uint32(0))
	assert.Equal(t, []int{1}, vids(f.Wake(k, 1, ^uint32(0), first)), "first come, first served")
	woken, moved := f.Requeue(k, k2, 1, 5, first)
	assert.Equal(t, []int{4}, vids(woken))
	assert.Equal(t, 1, moved)
	assert.Empty(t, f.Wake(k, 5, ^uint32(0), first))
	f.Wait(k2, 6, ^uint32(0))
	assert.Equal(t, []int{6, 5}, vids(f.Wake(k2, 5, ^uint32(0), func(n int) int { return n - 1 })), "a picker's order")
	f.Wait(k, 7, ^uint32(0))
	f.Cancel(7)
	assert.False(t, f.Waiting(7))
	assert.Empty(t, f.Wake(k, 1, ^uint32(0), first))
}

// TestFutexesWaitAny: a futex_waitv waiter wakes on any of its keys,
// once, with that key's slot, and leaves the others.
func TestFutexesWaitAny(t *testing.T) {
	f := NewFutexes()
	keys := []FutexKey{{Space: 1, Off: 0x1000}, {Space: 1, Off: 0x2000}, {Object: "shm", Off: 8}}
	first := func(int) int { return 0 }
	f.WaitAny(keys, 1)
	f.Wait(keys[2], 2, ^uint32(0))
	assert.Equal(t, []Woken{{Vid: 1, Slot: 2}}, f.Wake(keys[2], 1, ^uint32(0), first))
	assert.False(t, f.Waiting(1))
	assert.Empty(t, f.Wake(keys[0], 1, ^uint32(0), first), "woken once: gone from its other keys")
	assert.Equal(t, []int{2}, vids(f.Wake(keys[2], 1, ^uint32(0), first)))
	f.WaitAny(keys, 3)
	f.Cancel(3)
	assert.Empty(t, f.Keys(), "a cancelled waitv waiter leaves every queue")
	f.WaitAny(keys[:2], 4)
	_, moved := f.Requeue(keys[1], keys[2], 0, 1, first)
	assert.Equal(t, 1, moved)
	assert.Equal(t, []Woken{{Vid: 4, Slot: 1}}, f.Wake(keys[2], 1, ^uint32(0), first), "requeued with its slot")
	assert.Empty(t, f.Keys())
}

func TestWakeOp(t *testing.T) {
	enc := func(op, cmp, oparg, cmparg uint32) uint32 { return op<<28 | cmp<<24 | oparg<<12 | cmparg }
	tests := []struct {
		name     string
		encoded  uint32
		old      uint32
		wantNew  uint32
		wantCond bool
	}{
		{"set, eq", enc(0, 0, 5, 3), 3, 5, true},
		{"add, ne", enc(1, 1, 2, 3), 3, 5, false},
		{"or, lt", enc(2, 2, 4, 3), 1, 5, true},
		{"andn, ge", enc(3, 5, 1, 0), 3, 2, true},
		{"xor, gt", enc(4, 4, 1, 7), 7, 6, false},
		{"shifted oparg", enc(8, 0, 3, 0), 0, 8, true},
		{"negative cmparg", enc(0, 2, 0, 0xfff), 0, 0, false},
	}
	for _, tt := range tests {
		got, cond, ok := WakeOp(tt.encoded, tt.old)
		require.True(t, ok, tt.name)
		assert.Equal(t, tt.wantNew, got, "%s: new value", tt.name)
		assert.Equal(t, tt.wantCond, cond, "%s: comparison", tt.name)
	}
	_, _, ok := WakeOp(enc(7, 0, 0, 0), 0)
	assert.False(t, ok, "unknown op")
}

func TestClock(t *testing.T) {
	c := NewClock()
	assert.Equal(t, int64(BootTime), c.Monotonic())
	assert.Equal(t, int64(RealtimeAtBoot), c.Realtime())
	c.Tick()
	assert.Equal(t, int64(BootTime+TickNs), c.Monotonic())
	c.Sleep(2, c.Monotonic()+10e9)
	c.Sleep(1, c.Monotonic()+5e9)
	c.Sleep(3, c.Monotonic()+5e9)
	assert.Empty(t, c.Expired())
	require.True(t, c.Advance())
	assert.Equal(t, []int{1, 3}, c.Expired(), "deadline order, ties by arrival")
	c.Cancel(2)
	assert.False(t, c.Advance(), "no timer left")
}

func TestRandomBySeed(t *testing.T) {
	a, b, c := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	NewRandom(1).Fill(a)
	NewRandom(1).Fill(b)
	NewRandom(2).Fill(c)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

func TestFutexesPI(t *testing.T) {
	f := NewFutexes()
	k := FutexKey{Space: 1, Off: 0x1000}
	_, _, ok := f.NextPI(k)
	assert.False(t, ok, "no lock waiter yet")
	f.Wait(k, 1, ^uint32(0))
	f.WaitPI(k, 2)
	f.WaitPI(k, 3)
	first := func(int) int { return 0 }
	assert.Equal(t, []int{1}, vids(f.Wake(k, 10, ^uint32(0), first)), "a wake wakes the plain waiter only")
	vid, more, ok := f.NextPI(k)
	assert.True(t, ok)
	assert.Equal(t, 2, vid, "lock waiters in arrival order")
	assert.True(t, more, "thread 3 still waits")
	f.Cancel(3)
	_, _, ok = f.NextPI(k)
	assert.False(t, ok, "thread 3 cancelled")
	assert.Empty(t, f.Keys())
}
