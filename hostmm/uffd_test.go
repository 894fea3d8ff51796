package hostmm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestDropFilter: the filter of a process holding a userfaultfd traces
// its fd drops, whatever the arguments, and allows everything else,
// foreign ABIs included (the main filter decides those).
func TestDropFilter(t *testing.T) {
	insns := DropFilter(UffdDropCalls)
	for _, c := range []struct {
		arch  uint32
		nr    int32
		trace bool
	}{
		{linux.AUDIT_ARCH_X86_64, 3, true},   // close
		{linux.AUDIT_ARCH_X86_64, 33, true},  // dup2
		{linux.AUDIT_ARCH_X86_64, 292, true}, // dup3
		{linux.AUDIT_ARCH_X86_64, 436, true}, // close_range
		{linux.AUDIT_ARCH_X86_64, 32, false}, // dup
		{linux.AUDIT_ARCH_X86_64, 0, false},  // read
		{0x40000003, 6, false},               // i386 close
	} {
		got, err := filterAction(insns, c.arch, c.nr, [6]uint64{7, 1 << 40})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if c.trace {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "arch %#x nr %d", c.arch, c.nr)
		if c.trace {
			assert.Equal(t, linux.BPFAction(TraceData), got&linux.SECCOMP_RET_DATA)
		}
	}
}

func TestUffdFlags(t *testing.T) {
	for v, want := range map[string]bool{
		"rd wr mr mw me ac":       false,
		"rd wr mr mw me ac um":    true,
		"rd wr mr mw me uw":       true,
		"rd mr mw me ac sd ui":    true,
		"rd wr mr mw me ac umx u": false,
		"":                        false,
	} {
		assert.Equal(t, want, uffdFlags(v), "%q", v)
	}
}
