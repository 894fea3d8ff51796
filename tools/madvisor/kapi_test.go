package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"madvisor/kapi"
)

func runKapi(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = kapiCommand(args, &o, &e)
	return code, o.String(), e.String()
}

func TestKapiShowJSON(t *testing.T) {
	code, out, errOut := runKapi("show", "--format=json")
	require.Equal(t, 0, code, errOut)
	var s kapi.Spec
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	assert.Equal(t, "sys_madvise", s.Name)
	assert.Len(t, s.Params, 3)
	assert.Len(t, s.Errors, 11)
	assert.Len(t, s.Locks, 5)
	assert.Len(t, s.Constraints, 8)
	assert.Len(t, s.SideEffects, 10)
	assert.Len(t, s.Signals, 1)
	assert.Len(t, s.Capabilities, 1)
}

func TestKapiShowFormats(t *testing.T) {
	seed := filepath.Join("..", "..", "kapi", "testdata", "sys_madvise.txt")
	code, plain, _ := runKapi("show")
	require.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(plain, "sys_madvise - Give advice about use of memory\n"))
	assert.Contains(t, plain, "\nERRORS (11)\n")

	// From the file, the same spec; flags may follow the operands.
	code, fromFile, errOut := runKapi("show", seed, "madvise")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, strings.Replace(plain, "(from testdata/", "(from "+filepath.Dir(seed)+"/", 1), fromFile)
	code, rst, errOut := runKapi("show", seed, "--format", "rst")
	require.Equal(t, 0, code, errOut)
	assert.True(t, strings.HasPrefix(rst, "sys_madvise\n===========\n"))
	code, byName, _ := runKapi("show", "sys_madvise", "--format=rst")
	require.Equal(t, 0, code)
	assert.Equal(t, rst, byName)

	code, help, _ := runKapi("show", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, help, "Usage: madvisor kapi show")
	var o, e bytes.Buffer
	assert.Equal(t, 0, realMain([]string{"help", "kapi"}, &o, &e))
	assert.Equal(t, help, o.String())
}

func TestKapiShowErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.c")
	require.NoError(t, os.WriteFile(plain, []byte("/**\n * f() - plain kerneldoc\n * @x: x\n */\nint f(int x);\n"), 0o644))
	two := filepath.Join(dir, "two.c")
	require.NoError(t, os.WriteFile(two, []byte("/**\n * sys_a - A\n * contexts: process\n */\n/**\n * sys_b - B\n * contexts: process\n */\n"), 0o644))
	bad := filepath.Join(dir, "bad.c")
	require.NoError(t, os.WriteFile(bad, []byte("/**\n * sys_a - A\n * lock: l\n *   acquired: maybe\n */\n"), 0o644))

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, `madvisor: kapi: missing command`},
		{[]string{"list"}, `madvisor: kapi: unknown command "list"`},
		{[]string{"show", "--format=xml"}, `madvisor: kapi show: unknown format "xml" (want plain, json or rst)`},
		{[]string{"show", "--colour"}, `madvisor: kapi show: flag provided but not defined: -colour`},
		{[]string{"show", filepath.Join(dir, "missing.c")}, "madvisor: kapi show: open " + filepath.Join(dir, "missing.c") + ": no such file or directory"},
		{[]string{"show", plain}, "madvisor: kapi show: " + plain + ": no KAPI specification in it"},
		{[]string{"show", two}, "madvisor: kapi show: " + two + " has 2 specifications; name the SYSCALL to show: sys_a, sys_b"},
		{[]string{"show", two, "c"}, "madvisor: kapi show: " + two + `: no specification of "c" (it has: sys_a, sys_b)`},
		{[]string{"show", bad}, "madvisor: kapi show: " + bad + `:4: acquired: "maybe": want yes or no`},
		{[]string{"show", "mmap"}, `madvisor: kapi show: no built-in specification of "mmap"`},
		{[]string{"show", two, "a", "b"}, "madvisor: kapi show: too many arguments"},
	} {
		code, out, errOut := runKapi(tc.args...)
		assert.Equal(t, 2, code, "%q", tc.args)
		assert.Empty(t, out, "%q", tc.args)
		assert.True(t, strings.HasPrefix(errOut, tc.msg), "%q: stderr %q", tc.args, errOut)
	}

	code, out, _ := runKapi("show", two, "b", "--format=json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"name": "sys_b"`)
}
