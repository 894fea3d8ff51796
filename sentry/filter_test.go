package sentry

import (
	"testing"

	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"madvisor/syscalls"
)

// TestFilterTracesExactlyTheTable runs the compiled filter through a BPF
// interpreter for every x86-64 syscall number: TRACE for the table's
// syscalls (when their argument matches hold), ALLOW for all others.
func TestFilterTracesExactlyTheTable(t *testing.T) {
	insns, err := BuildFilter(false)
	require.NoError(t, err)
	for nr := int32(0); nr < 1024; nr++ {
		e, intercepted := syscalls.Lookup(uintptr(nr))
		var args [6]uint64
		got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, nr, args)
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if intercepted && len(e.Match) == 0 {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "syscall %d (%s): got %v, want %v", nr, syscalls.Name(uintptr(nr)), got, want)

		// Calls with argument matches are traced exactly when a match holds,
		// and only the low 32 bits count where the kernel reads an int.
		for _, m := range e.Match {
			args := [6]uint64{}
			args[m.Index] = m.Value
			got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, nr, args)
			require.NoError(t, err)
			assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL, "%s with arg%d=%#x", e.Name, m.Index, m.Value)
			if m.Low32 {
				args[m.Index] |= 0xdead << 32
				got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, nr, args)
				require.NoError(t, err)
				assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL, "%s with garbage in arg%d's upper half", e.Name, m.Index)
			}
		}
	}
}

// TestFilterTracesForeignArch: a 32-bit syscall (int 0x80) is traced, so
// the sentry sees what it cannot model.
func TestFilterTracesForeignArch(t *testing.T) {
	insns, err := BuildFilter(false)
	require.NoError(t, err)
	got, err := filterAction(insns, 0x40000003 /* AUDIT_ARCH_I386 */, 20, [6]uint64{})
	require.NoError(t, err)
	assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL)
}

// filterAction runs the compiled filter on one syscall, as the kernel would.
func filterAction(insns []bpf.Instruction, arch uint32, nr int32, args [6]uint64) (linux.BPFAction, error) {
	p, err := bpf.Compile(insns, false)
	if err != nil {
		return 0, err
	}
	d := linux.SeccompData{Nr: nr, Arch: arch}
	d.Args = args
	buf := make([]byte, d.SizeBytes())
	ret, err := bpf.Exec[bpf.NativeEndian](p, seccomp.DataAsBPFInput(&d, buf))
	return linux.BPFAction(ret), err
}

// TestFdAccessFilter: the filter added for a pagemap or mem fd traces the
// reads and writes on that fd (whatever the upper half of the argument)
// but pread64/pwrite64 (the main filter's), and allows everything else,
// foreign ABIs included (the main filter decides those).
func TestFdAccessFilter(t *testing.T) {
	insns, err := fdAccessFilter(5)
	require.NoError(t, err)
	for _, c := range []struct {
		arch  uint32
		nr    int32
		fd    uint64
		trace bool
	}{
		{linux.AUDIT_ARCH_X86_64, 0, 5, true},              // read
		{linux.AUDIT_ARCH_X86_64, 1, 5, true},              // write
		{linux.AUDIT_ARCH_X86_64, 0, 0xdead<<32 | 5, true}, // an int: low 32 bits
		{linux.AUDIT_ARCH_X86_64, 0, 6, false},
		{linux.AUDIT_ARCH_X86_64, 17, 5, false}, // pread64: the main filter's
		{linux.AUDIT_ARCH_X86_64, 19, 5, true},  // readv
		{linux.AUDIT_ARCH_X86_64, 296, 5, true}, // pwritev
		{linux.AUDIT_ARCH_X86_64, 327, 5, true}, // preadv2
		{linux.AUDIT_ARCH_X86_64, 3, 5, false},  // close
		{linux.AUDIT_ARCH_X86_64, 32, 5, true},  // dup
		{linux.AUDIT_ARCH_X86_64, 292, 5, true}, // dup3
		{0x40000003, 3, 5, false},               // i386 read
	} {
		got, err := filterAction(insns, c.arch, c.nr, [6]uint64{c.fd})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if c.trace {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "arch %#x nr %d fd %#x", c.arch, c.nr, c.fd)
	}
	// fcntl only for the commands that copy the fd.
	for cmd, trace := range map[uint64]bool{0 /* F_DUPFD */ : true, 0x406 /* F_DUPFD_CLOEXEC */ : true, 3 /* F_GETFL */ : false} {
		got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, 72, [6]uint64{5, cmd})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_ALLOW
		if trace {
			want = linux.SECCOMP_RET_TRACE
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "fcntl cmd %#x", cmd)
	}
}
