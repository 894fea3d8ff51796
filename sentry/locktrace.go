package sentry

import (
	"strings"

	"madvisor/lockdep"
)

// lockTrace records the lock operations of the model's madvise or
// process_madvise for the strace line (issue 3's protocol check: which
// locks each intercepted call took, in which mode, in which order). It
// records only with --lockdep on and --strace: lockdep's recorder sees
// operations only while validation is on.
type lockTrace struct {
	b strings.Builder
}

// startLockTrace starts recording t's lock operations, or returns nil when
// there is nothing to record them for. Engine thread only.
func (t *Task) startLockTrace() *lockTrace {
	if t.s.cfg.Strace == nil || !lockdep.Enabled() {
		return nil
	}
	lt := &lockTrace{}
	t.holder.SetRecorder(lt.record)
	return lt
}

// stop ends the recording and returns the trace: "+name MODE" for an
// acquisition, "-name" for a release, "!name MODE" for a failed try,
// "killed name" for a killable wait a fatal signal ended.
func (lt *lockTrace) stop(t *Task) string {
	if lt == nil {
		return ""
	}
	t.holder.SetRecorder(nil)
	return lt.b.String()
}

func (lt *lockTrace) record(e lockdep.Event) {
	if lt.b.Len() > 0 {
		lt.b.WriteByte(' ')
	}
	name := "?"
	if e.Class != nil {
		name = e.Class.Name()
	}
	switch e.Op {
	case lockdep.OpAcquire:
		lt.b.WriteString("+" + name + " " + e.Access.String())
	case lockdep.OpRelease:
		lt.b.WriteString("-" + name)
	case lockdep.OpTryFailed:
		lt.b.WriteString("!" + name + " " + e.Access.String())
	default:
		lt.b.WriteString(e.Op.String() + " " + name)
	}
}
