package kapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatJSON(t *testing.T) {
	s := Madvise()
	var b bytes.Buffer
	require.NoError(t, WriteJSON(&b, s))

	var back Spec
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, s, &back, "JSON keeps every field")
	assert.Len(t, back.Params, 3)
	assert.Len(t, back.Errors, 11)
	assert.Len(t, back.Locks, 5)
	assert.Len(t, back.Constraints, 8)
	assert.Len(t, back.SideEffects, 10)

	// The kernel's tools/kapi names, where it has them.
	var m map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &m))
	for _, k := range []string{"name", "description", "long_description", "context_flags", "parameters",
		"return_spec", "errors", "locks", "signals", "side_effects", "capabilities", "constraints", "examples", "notes"} {
		assert.Contains(t, m, k)
	}
	keys := func(v any) []string {
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		return ks
	}
	first := func(k string) any { return m[k].([]any)[0] }
	assert.Subset(t, keys(first("parameters")), []string{"name", "param_type", "flags", "constraint_type", "description"})
	assert.Subset(t, keys(m["return_spec"]), []string{"type_name", "check_type", "success_value", "description"})
	assert.Subset(t, keys(first("errors")), []string{"name", "error_code", "description"})
	assert.Subset(t, keys(first("locks")), []string{"lock_name", "lock_type", "acquired", "released", "description"})
	assert.Subset(t, keys(first("signals")), []string{"signal_name", "direction", "action", "condition", "description", "error_on_signal", "timing", "restartable"})
	assert.Subset(t, keys(first("side_effects")), []string{"effect_type", "target", "condition", "description", "reversible"})
	assert.Subset(t, keys(first("capabilities")), []string{"name", "action", "allows", "without_cap", "check_condition"})
	assert.Subset(t, keys(first("constraints")), []string{"name", "description", "expression"})
	assert.Contains(t, b.String(), `"lock_name": "mm->mmap_lock (read mode)"`, "no HTML escapes")
	assert.True(t, strings.HasSuffix(b.String(), "}\n"))
}

func TestFormatPlain(t *testing.T) {
	s := Madvise()
	var b bytes.Buffer
	require.NoError(t, WritePlain(&b, s))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "sys_madvise - Give advice about use of memory\n"), out[:80])
	for _, h := range []string{"\nPARAMETERS (3)\n", "\nRETURN\n", "\nERRORS (11)\n", "\nLOCKS (5)\n", "\nSIGNALS (1)\n",
		"\nSIDE EFFECTS (10)\n", "\nCAPABILITIES (1)\n", "\nCONSTRAINTS (8)\n", "\nEXAMPLES\n", "\nNOTES\n"} {
		assert.Contains(t, out, h)
	}
	for _, e := range s.Errors {
		assert.Contains(t, out, "\n  "+e.Errno+" (", e.Errno)
	}
	for _, l := range s.Locks {
		assert.Contains(t, out, "\n  "+l.Name+"\n")
	}
	assert.Contains(t, out, "\n  madvise(p, len, MADV_DONTNEED);        // discard anonymous pages\n", "examples keep their lines")
	for _, line := range strings.Split(out, "\n") {
		if len(line) > plainWidth {
			assert.NotContains(t, strings.TrimSpace(line), " ", "a line over %d columns is one long word: %q", plainWidth, line)
		}
	}
	// A wrapped expression reads back whole.
	assert.Contains(t, strings.Join(strings.Fields(out), " "),
		"expression: !is_discard(behavior) || !vma_is_sealed(vma) || !vma_is_anonymous(vma) || ((vma->vm_flags & VM_WRITE) && arch_vma_access_permitted(vma, true, false, false))")
}

func TestFormatRST(t *testing.T) {
	s := Madvise()
	var b bytes.Buffer
	require.NoError(t, WriteRST(&b, s))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "sys_madvise\n===========\n\nGive advice about use of memory\n\n"), out[:80])
	for _, h := range []string{"Parameters", "Return", "Errors", "Locks", "Signals", "Side effects", "Capabilities", "Constraints", "Examples", "Notes"} {
		assert.Contains(t, out, "\n"+h+"\n"+strings.Repeat("-", len(h))+"\n")
	}
	for _, e := range s.Errors {
		assert.Contains(t, out, "\n``"+e.Errno+"``")
	}
	assert.Contains(t, out, "   :expression: ``(start & (PAGE_SIZE - 1)) == 0``\n")
	assert.Contains(t, out, "::\n\n   madvise(p, len, MADV_SEQUENTIAL);  // set VM_SEQ_READ on the VMA\n", "examples are a literal block")
	assert.Contains(t, out, "Advice (a MADV\\_\\* constant)", "markup characters are escaped")
	assert.True(t, strings.HasSuffix(out, ".\n"))
}

func TestFormatRSTText(t *testing.T) {
	for in, want := range map[string]string{
		"MADV_FREE":        "MADV_FREE",
		"MADV_*":           `MADV\_\*`,
		"a | b":            `a \| b`,
		"`x`":              "\\`x\\`",
		`C:\dir`:           `C:\\dir`,
		"see foo_ bar":     `see foo\_ bar`,
		".. not a comment": `\.. not a comment`,
	} {
		assert.Equal(t, want, rstText(in), in)
	}
	assert.Equal(t, "``a->b``", rstLiteral("a->b"))
	assert.Equal(t, "a\\`\\`b", rstLiteral("a``b"))
}
