package kapi_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"madvisor/kapi/internal/gen"
)

func TestStaleMadviseTable(t *testing.T) {
	want, err := gen.MadviseSource()
	require.NoError(t, err)
	got, err := os.ReadFile("zmadvise.go")
	require.NoError(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("zmadvise.go is stale (it differs from what %s gives): run `go generate ./kapi`", gen.MadviseFile)
	}
}
