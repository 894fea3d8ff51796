package det

import (
	"bufio"
	"encoding/json"
	"io"
)

// Event is one scheduling decision of the trace: among the threads that
// could run (Runnable, virtual ids), thread Vid runs from where it
// stopped, What (a syscall's name, "start", "clone", "exit", "wake",
// "preempt", "signal SIGSEGV"...), at virtual time Time. Nothing in it
// depends on the host (tids, real time), so identical runs give identical
// traces.
type Event struct {
	Index    int64  `json:"event"`
	Vid      int    `json:"tid"`
	What     string `json:"at"`
	Time     int64  `json:"vtime_ns"`
	Runnable []int  `json:"runnable"`
	// Note marks what a reader must know about the run from this event
	// on ("determinism lost: ...").
	Note string `json:"note,omitempty"`
}

// TraceWriter writes the trace as JSON lines.
type TraceWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewTraceWriter writes to w; Close flushes.
func NewTraceWriter(w io.Writer) *TraceWriter {
	bw := bufio.NewWriter(w)
	return &TraceWriter{w: bw, enc: json.NewEncoder(bw)}
}

// Write adds one event.
func (t *TraceWriter) Write(e Event) error { return t.enc.Encode(e) }

// Close flushes the trace.
func (t *TraceWriter) Close() error { return t.w.Flush() }
