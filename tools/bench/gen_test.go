package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateC(t *testing.T) {
	for _, lines := range []int{2000, 500} {
		src := generateC(lines)
		assert.Equal(t, lines, strings.Count(src, "\n"), "line count of generateC(%d)", lines)
		assert.Equal(t, src, generateC(lines), "generateC must be deterministic")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.c")
	require.NoError(t, os.WriteFile(path, []byte(generateC(2000)), 0o644))
	out, err := exec.Command(gcc, "-O2", "-Wall", "-Werror", "-c", "-o", filepath.Join(dir, "gen.o"), path).CombinedOutput()
	assert.NoError(t, err, "gcc -O2 of the generated file:\n%s", out)
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 3*time.Second, median([]time.Duration{5 * time.Second, time.Second, 3 * time.Second}))
	assert.Equal(t, 2*time.Second, median([]time.Duration{time.Second, 3 * time.Second}))
}
