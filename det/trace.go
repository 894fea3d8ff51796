package det

import (
	"bufio"
	"encoding/json"
	"io"
)

// Event is one scheduling point of the trace: thread Vid stopped at What
// (a syscall's name, "clone", "exit", "signal SIGSEGV", "preempt"...) at
// virtual time Time, and Next is the thread that runs after it. Nothing in
// it depends on the host (tids, real time), so identical runs give
// identical traces.
type Event struct {
	Index int64  `json:"event"`
	Vid   int    `json:"tid"`
	What  string `json:"what"`
	Time  int64  `json:"vtime_ns"`
	Next  int    `json:"next"`
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
