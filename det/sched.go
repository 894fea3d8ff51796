// Package det is deterministic mode's decision maker: which thread runs
// next (sched.go), when chaos preempts one inside syscall-free code, and
// the schedule's trace (trace.go). It knows threads only by their virtual
// ids (numbers given in creation order, which one-at-a-time execution
// makes the same every run: host tids are not) and makes no system call.
// Every choice is drawn from the run's seed, so a run is replayed exactly
// by giving the same seed again.
//
// The sentry (sentry/det.go) carries the decisions out; the concerns a
// deterministic kernel answers itself are separate files: futexes
// (futex.go), virtual time (clock.go) and randomness (random.go).
package det

import (
	"math/rand/v2"
	"slices"
)

// A Scheduler decides, at each scheduling point, which runnable thread
// runs next.
//
// Without chaos the running thread goes on while it can and the others
// follow in a seeded order. With chaos it is PCT (Burckhardt et al.,
// ASPLOS 2010): each thread gets a random priority when it is created, the
// highest-priority runnable thread always runs, and at Depth-1 change
// points drawn over the first Horizon steps the running thread's priority
// drops below every other's. A bug of depth d is then found by one run
// with probability at least 1/(n k^(d-1)) for n threads and k steps.
// Change points can also fall inside syscall-free code (Preemption).
type Scheduler struct {
	rng   *rand.Rand
	chaos bool
	// step counts the scheduling points.
	step int64
	// prio are the threads' priorities (chaos); higher runs first.
	prio map[int]int64
	// changes are the steps at which the running thread's priority drops
	// (chaos), ascending; lowered counts the drops made.
	changes []int64
	lowered int64
	// cost is the ptrace stops the preemptions drawn so far may take (at
	// most maxPreemptCost a run).
	cost int
}

// PCT's parameters for chaos mode.
const (
	// Depth is the bug depth PCT aims at: Depth-1 change points.
	Depth = 3
	// Horizon is the number of steps the change points are drawn over
	// (PCT's k, unknown in advance: a guess at the steps of a test).
	Horizon = 4000
)

// NewScheduler returns the scheduler of a run with the given seed.
func NewScheduler(seed uint64, chaos bool) *Scheduler {
	s := &Scheduler{rng: rand.New(rand.NewPCG(seed, seed^0x6d616476697361)), chaos: chaos, prio: map[int]int64{}}
	if chaos {
		for range Depth - 1 {
			s.changes = append(s.changes, 1+s.rng.Int64N(Horizon))
		}
		slices.Sort(s.changes)
	}
	return s
}

// Step returns the number of scheduling points so far.
func (s *Scheduler) Step() int64 { return s.step }

// Created tells the scheduler about a new thread (chaos draws its
// priority).
func (s *Scheduler) Created(vid int) {
	if s.chaos {
		// Priorities above every lowered one: Depth and more, random.
		s.prio[vid] = Depth + 1 + s.rng.Int64N(1<<40)
	}
}

// Exited forgets a thread.
func (s *Scheduler) Exited(vid int) { delete(s.prio, vid) }

// Lower drops vid's priority below every other's, as a change point does.
func (s *Scheduler) Lower(vid int) {
	s.lowered++
	s.prio[vid] = Depth - s.lowered
}

// Pick returns the thread that runs next among runnable (virtual ids in
// ascending order, never empty), current being the thread whose stop
// made this a scheduling point (0 if none, or it cannot run).
func (s *Scheduler) Pick(current int, runnable []int) int {
	s.step++
	if !s.chaos {
		if current != 0 && slices.Contains(runnable, current) && s.rng.IntN(8) != 0 {
			return current
		}
		return runnable[s.rng.IntN(len(runnable))]
	}
	for len(s.changes) > 0 && s.changes[0] <= s.step {
		s.changes = s.changes[1:]
		if current != 0 {
			s.Lower(current)
		}
	}
	best := runnable[0]
	for _, v := range runnable[1:] {
		if s.prio[v] > s.prio[best] {
			best = v
		}
	}
	return best
}

// Preemption is a change point inside syscall-free code: the thread runs
// Steps single-stepped instructions, then until the instruction it has
// reached has executed Hits more times (a hardware breakpoint with a hit
// count), and is preempted there. Both counts are exact, so the point is
// the same every run. The zero Preemption lets the thread run to its next
// system call.
type Preemption struct {
	Steps, Hits int
}

// Chances of an armed preemption per resumption, its ranges (the steps
// only have to reach the loop the thread runs next; the hits then go
// deep into it), and the stops a run's preemptions may cost in all (each
// step and each hit is one; about 5 µs each), so that a long run's chaos
// stays bounded.
const (
	preemptOneIn   = 2
	maxSteps       = 512
	maxHits        = 5000
	maxPreemptCost = 200_000
)

// Preempt decides whether the thread about to run (others being runnable
// too) is preempted inside syscall-free code, and where (chaos only).
func (s *Scheduler) Preempt(vid int, others int) Preemption {
	if !s.chaos || others == 0 || s.cost >= maxPreemptCost || s.rng.IntN(preemptOneIn) != 0 {
		return Preemption{}
	}
	p := Preemption{Steps: 1 + s.rng.IntN(maxSteps), Hits: s.rng.IntN(maxHits + 1)}
	s.cost += p.Steps + p.Hits
	return p
}

// Intn draws a number in [0, n) from the schedule's stream (for choices
// the kernel leaves open, such as which futex waiter wakes).
func (s *Scheduler) Intn(n int) int {
	if !s.chaos {
		return 0 // first come, first served
	}
	return s.rng.IntN(n)
}
