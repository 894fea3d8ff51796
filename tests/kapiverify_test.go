package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKAPIVerifyMutatedSpec is issue 14's "the verifier must be able to
// fail": the seed with an errno removed from its error list, or a lock's
// mode changed, fed with --kapi-spec; a program that triggers the removed
// errno or takes that lock must be reported, and --kapi-verify=panic must
// stop it. The unchanged seed reports nothing for the same program.
func TestKAPIVerifyMutatedSpec(t *testing.T) {
	seed, err := os.ReadFile("../kapi/testdata/sys_madvise.txt")
	require.NoError(t, err)
	prog := cProgram(t, "kapi_mutants", false)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	mutate := func(old, new string) string {
		require.Contains(t, string(seed), old)
		return strings.Replace(string(seed), old, new, 1)
	}
	seedFile := write("seed.txt", string(seed))
	// The EINVAL error section, up to the next one.
	s := string(seed)
	from := strings.Index(s, "+ * error: EINVAL")
	to := strings.Index(s, "+ * error: ENOMEM")
	require.True(t, from > 0 && to > from)
	noEINVAL := write("no-einval.txt", s[:from]+s[to:])
	readMode := write("read-mode.txt", mutate("lock: mm->mmap_lock (write mode; killable)", "lock: mm->mmap_lock (read mode)"))

	for _, tc := range []struct {
		name, spec, arg string
		violation       string // "" for none
	}{
		{"seed/unaligned", seedFile, "unaligned", ""},
		{"seed/random", seedFile, "random", ""},
		{"no-einval/unaligned", noEINVAL, "unaligned", "violates error (errno)"},
		{"read-mode/random", readMode, "random", "violates lock: mm->mmap_lock (read mode) (acquired)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			native := runProgram(t, runOpts{}, prog, tc.arg)
			for _, mode := range []string{"warn", "panic"} {
				r := runProgram(t, runOpts{Madvisor: true, MadvisorFlags: []string{"--kapi-verify=" + mode, "--kapi-spec=" + tc.spec}}, prog, tc.arg)
				if tc.violation == "" {
					assert.Equal(t, 0, r.Status, "%s", r)
					assert.Equal(t, native.Stdout, r.Stdout)
					requireMadvisorMessage(t, r, "kapi: 1 call(s) checked", "0 violation(s)")
					continue
				}
				requireMadvisorMessage(t, r, "kapi: WARNING: sys_madvise "+tc.violation)
				requireMadvisorMessage(t, r, "kapi:   call:", "madvise(")
				requireMadvisorMessage(t, r, "1 violation(s)")
				if mode == "warn" {
					assert.Equal(t, 0, r.Status, "warn goes on\n%s", r)
					assert.Equal(t, native.Stdout, r.Stdout)
				} else {
					assert.Equal(t, 125, r.Status, "panic stops the program\n%s", r)
					assert.Empty(t, r.Stdout, "the program must not get past the call")
					requireMadvisorMessage(t, r, "stopped at the first violation")
				}
			}
		})
	}
}

// TestKAPIVerifyFlags: --kapi-verify's bad input gets clear errors.
func TestKAPIVerifyFlags(t *testing.T) {
	r := runMadvisor(t, "run", "--kapi-spec=/nonexistent", "--", "/bin/true")
	assert.Equal(t, 2, r.Status)
	requireMadvisorMessage(t, r, "--kapi-spec needs --kapi-verify")
	r = runMadvisor(t, "run", "--kapi-verify=loud", "--", "/bin/true")
	assert.Equal(t, 2, r.Status)
	assert.Contains(t, r.Stderr, "want warn or panic")
	r = runMadvisor(t, "run", "--kapi-verify", "--kapi-spec=/nonexistent", "--", "/bin/true")
	assert.Equal(t, 2, r.Status)
	requireMadvisorMessage(t, r, "--kapi-verify", "/nonexistent")
	empty := filepath.Join(t.TempDir(), "empty.c")
	require.NoError(t, os.WriteFile(empty, []byte("int x;\n"), 0o644))
	r = runMadvisor(t, "run", "--kapi-verify", "--kapi-spec="+empty, "--", "/bin/true")
	assert.Equal(t, 2, r.Status)
	requireMadvisorMessage(t, r, "no KAPI specification")
}
