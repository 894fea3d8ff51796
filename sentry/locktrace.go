package sentry

import (
	"strings"

	"madvisor/lockdep"
)

// lockTrace records the lock operations of the model's madvise or
// process_madvise, for the strace line (issue 3's protocol check: which
// locks each intercepted call took, in which mode, in which order) and for
// --kapi-verify's lock rules. It records only with lockdep on: lockdep's
// recorder sees operations only while validation is on.
type lockTrace struct {
	events []lockdep.Event
	// record appends to events; bound once (a method value would
	// allocate on every call).
	record func(lockdep.Event)
}

// startLockTrace starts recording t's lock operations, or returns nil when
// there is nothing to record them for. The trace is t's own, reused by
// its next call. Engine thread only.
func (t *Task) startLockTrace() *lockTrace {
	if t.s.cfg.Strace == nil && t.s.cfg.KAPI == nil || !lockdep.Enabled() {
		return nil
	}
	lt := &t.locks
	if lt.record == nil {
		lt.events = make([]lockdep.Event, 0, 16)
		lt.record = func(e lockdep.Event) { lt.events = append(lt.events, e) }
	}
	lt.events = lt.events[:0]
	t.holder.SetRecorder(lt.record)
	return lt
}

// stop ends the recording and returns the operations (nil when none were
// recorded), valid until t's next call.
func (lt *lockTrace) stop(t *Task) []lockdep.Event {
	if lt == nil {
		return nil
	}
	t.holder.SetRecorder(nil)
	return lt.events
}

// formatLocks renders lock operations for strace: "+name MODE" for an
// acquisition, "-name" for a release, "!name MODE" for a failed try,
// "killed name" for a killable wait a fatal signal ended.
func (t *Task) formatLocks(events []lockdep.Event) string {
	if t.s.cfg.Strace == nil {
		return ""
	}
	var b strings.Builder
	for _, e := range events {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		name := "?"
		if e.Class != nil {
			name = e.Class.Name()
		}
		switch e.Op {
		case lockdep.OpAcquire:
			b.WriteString("+" + name + " " + e.Access.String())
		case lockdep.OpRelease:
			b.WriteString("-" + name)
		case lockdep.OpTryFailed:
			b.WriteString("!" + name + " " + e.Access.String())
		default:
			b.WriteString(e.Op.String() + " " + name)
		}
	}
	return b.String()
}
