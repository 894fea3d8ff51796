package fuzz

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateRepeats(t *testing.T) {
	a, b := Generate(7, 500), Generate(7, 500)
	require.Equal(t, a, b, "the same seed must give the same script")
	assert.NotEqual(t, a, Generate(8, 500))
	assert.Equal(t, 500, a.Calls())
	// Blocks are closed and never nested.
	depth := 0
	for _, l := range a {
		switch strings.Fields(l)[0] {
		case "fork", "thread":
			depth++
			require.Equal(t, 1, depth, "nested block")
		case "end":
			depth--
			require.Equal(t, 0, depth, "stray end")
		}
	}
	assert.Equal(t, 0, depth)
}

func TestParseScript(t *testing.T) {
	s := ParseScript("# a case\nmmap w0x0 0x1000 3 0x22 -1 0  # trailing\n\n  munmap w0x0 0x1000\n")
	assert.Equal(t, Script{"mmap w0x0 0x1000 3 0x22 -1 0", "munmap w0x0 0x1000"}, s)
	assert.Equal(t, s, ParseScript(s.String()))
}

func TestMinimize(t *testing.T) {
	script := Script{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	// Differs when both "c" and "g" remain.
	differs := func(s Script) bool { return slices.Contains(s, "c") && slices.Contains(s, "g") }
	assert.Equal(t, Script{"c", "g"}, Minimize(script, differs))
}

func TestCompare(t *testing.T) {
	n := Output{Stdout: "mmap w0x0 0x1000 3 0x22 -1 0 = w0x0\n  maps:\n  vma 0x0-0x1000 rw-p anon [rd wr]\n"}
	assert.False(t, Compare(n, n).Found())

	s := n
	s.Stdout = strings.Replace(s.Stdout, "rw-p", "r--p", 1)
	d := Compare(n, s)
	require.True(t, d.Found())
	assert.Equal(t, 3, d.Line)
	assert.Equal(t, "mmap w0x0 0x1000 3 0x22 -1 0 = w0x0", d.Call)

	s = n
	s.Stderr = "madvisor: check-maps: differ\n"
	assert.Contains(t, Compare(n, s).Why, "check-maps")

	s = n
	s.Status = 139
	assert.Contains(t, Compare(n, s).Why, "exit status")
}

func TestCompareSpecRows(t *testing.T) {
	n := Output{Stdout: "pmadv 0 99 w0x1000 0 = 0\nc| pmadv 1 7 w0x0 0 w0x1000 0 = 0\n"}
	s := Output{Stdout: "pmadv 0 99 w0x1000 0 = -1 EINVAL\nc| pmadv 1 7 w0x0 0 w0x1000 0 = -1 EINVAL\n"}
	assert.False(t, Compare(n, s).Found(), "the spec's EINVAL for an invalid advice over nothing")

	// Not with a length: then the host's answer is the spec's too.
	n = Output{Stdout: "pmadv 0 99 w0x1000 0x1000 = 0\n"}
	s = Output{Stdout: "pmadv 0 99 w0x1000 0x1000 = -1 EINVAL\n"}
	assert.True(t, Compare(n, s).Found())
}
