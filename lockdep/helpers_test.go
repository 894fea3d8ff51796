package lockdep

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fresh forgets learned edges and printed reports so that each test starts
// from a clean graph (tests run serially: the mode is global).
func fresh(t *testing.T, m Mode) *bytes.Buffer {
	t.Helper()
	ResetGraph()
	reports.mu.Lock()
	reports.seen = nil
	reports.mu.Unlock()
	var buf bytes.Buffer
	prevMode := SetMode(m)
	prevOut := SetOutput(&buf)
	t.Cleanup(func() {
		SetMode(prevMode)
		SetOutput(prevOut)
	})
	return &buf
}

// cls returns a class private to the test.
func cls(t *testing.T, name string) *Class {
	return NewClass(t.Name() + "." + name)
}

// catch runs f in Panic mode and returns the report it panicked with (nil
// if it did not panic).
func catch(f func()) (r *Report) {
	defer func() {
		if v := recover(); v != nil {
			rep, ok := v.(*Report)
			if !ok {
				panic(v)
			}
			r = rep
		}
	}()
	f()
	return nil
}

// assertHeadings checks that out contains each heading, in order.
func assertHeadings(t *testing.T, out string, headings ...string) {
	t.Helper()
	rest := out
	for _, h := range headings {
		i := strings.Index(rest, h)
		if !assert.GreaterOrEqual(t, i, 0, "heading %q missing (or out of order) in report:\n%s", h, out) {
			return
		}
		rest = rest[i+len(h):]
	}
}

// requireNoReport checks that f reports nothing.
func requireNoReport(t *testing.T, f func()) {
	t.Helper()
	before := ReportCount()
	f()
	require.Equal(t, before, ReportCount(), "got a report, want none")
}
