package sentry

import (
	"testing"

	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"madvisor/hostmm"
	"madvisor/syscalls"
)

// TestFilterTracesExactlyTheTable runs the compiled filter through a BPF
// interpreter for every x86-64 syscall number: TRACE for the table's
// syscalls (when their argument matches hold), ALLOW for all others.
func TestFilterTracesExactlyTheTable(t *testing.T) {
	insns, err := BuildFilter(false, false, false)
	require.NoError(t, err)
	always := map[uintptr]syscalls.Entry{}
	for _, e := range syscalls.Intercepted() {
		always[e.Nr] = e
	}
	for nr := int32(0); nr < 1024; nr++ {
		e, intercepted := always[uintptr(nr)]
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
	insns, err := BuildFilter(false, false, false)
	require.NoError(t, err)
	got, err := filterAction(insns, 0x40000003 /* AUDIT_ARCH_I386 */, 20, [6]uint64{})
	require.NoError(t, err)
	assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL)
}

// TestFilterTracesX32: every x32 call is traced (the sentry refuses them),
// as are its own stops, which carry hostmm.TraceData.
func TestFilterTracesX32(t *testing.T) {
	for _, det := range []bool{false, true} {
		insns, err := BuildFilter(false, det, false)
		require.NoError(t, err)
		for _, nr := range []int32{x32SyscallBit | 11, x32SyscallBit | 1, x32SyscallBit | 600} {
			got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, nr, [6]uint64{})
			require.NoError(t, err)
			assert.Equal(t, linux.SECCOMP_RET_TRACE|hostmm.TraceData, got, "nr %#x", nr)
		}
		got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, unix.SYS_MUNMAP, [6]uint64{})
		require.NoError(t, err)
		assert.Equal(t, linux.SECCOMP_RET_TRACE|hostmm.TraceData, got, "munmap")
	}
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

// TestFilterHostAdvice: with hostAdvice, madvise runs untraced exactly
// for the host-answered advice (the whole register equal), and is traced
// for every other advice.
func TestFilterHostAdvice(t *testing.T) {
	insns, err := BuildFilter(false, false, true)
	require.NoError(t, err)
	untraced := map[uint64]bool{}
	for _, a := range syscalls.HostAnsweredAdvice {
		untraced[uint64(a)] = true
	}
	for advice := uint64(0); advice < 128; advice++ {
		got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, unix.SYS_MADVISE, [6]uint64{0, 4096, advice})
		require.NoError(t, err)
		want := linux.SECCOMP_RET_TRACE
		if untraced[advice] {
			want = linux.SECCOMP_RET_ALLOW
		}
		assert.Equal(t, want, got&linux.SECCOMP_RET_ACTION_FULL, "advice %d", advice)
		got, err = filterAction(insns, linux.AUDIT_ARCH_X86_64, unix.SYS_MADVISE, [6]uint64{0, 4096, advice | 1<<32})
		require.NoError(t, err)
		assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL, "advice %d with garbage above", advice)
	}
	got, err := filterAction(insns, linux.AUDIT_ARCH_X86_64, unix.SYS_MUNMAP, [6]uint64{})
	require.NoError(t, err)
	assert.Equal(t, linux.SECCOMP_RET_TRACE, got&linux.SECCOMP_RET_ACTION_FULL, "munmap still traced")
}
