package hostmm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// TestFaultAccess decodes the faulting instruction as the guard fault's
// si_code fix-up needs it.
func TestFaultAccess(t *testing.T) {
	const rip, addr, other = 0x401000, 0x7f0000001008, 0x7f0000005000
	for _, c := range []struct {
		name     string
		code     []byte
		rdi, at  uint64
		expected mm.Prot
	}{
		{"fetch", nil, 0, rip + 8, mm.ProtExec},
		{"unreadable", nil, 0, addr, mm.ProtRead},
		{"load mov rax,[rbx]", []byte{0x48, 0x8b, 0x03}, 0, addr, mm.ProtRead},
		{"store mov [rbx],rax", []byte{0x48, 0x89, 0x03}, 0, addr, mm.ProtWrite},
		{"rmw add [rbx],eax", []byte{0x01, 0x03}, 0, addr, mm.ProtWrite},
		{"cmp [rbx],eax", []byte{0x39, 0x03}, 0, addr, mm.ProtRead},
		{"movsb to rdi's page", []byte{0xa4}, addr, addr, mm.ProtWrite},
		{"movsb from rsi's page", []byte{0xa4}, other, addr, mm.ProtRead},
	} {
		assert.Equal(t, c.expected, FaultAccess(c.code, rip, c.rdi, c.at), c.name)
	}
}

// TestGuardAdvice: an install discards then protects each piece; a
// removal gives back only the piece's guard pages, with their VMA's
// protection.
func TestGuardAdvice(t *testing.T) {
	const start = 0x10000
	v := mm.VMA{Start: start, End: start + 8*mm.PageSize, Flags: mm.VMRead | mm.VMWrite}
	v.Guards = v.Guards.Add(1, 3).Add(5, 8)
	piece := []mm.MadviseRange{{Start: start + 2*mm.PageSize, End: start + 6*mm.PageSize, VMA: v}}

	tr := &fakeTracee{}
	NewBackend(tr, EmulationSet{EmulateGuard: true}).GuardAdvice(unix.MADV_GUARD_INSTALL, piece)
	assert.Equal(t, []string{
		call(unix.SYS_MADVISE, start+2*mm.PageSize, 4*mm.PageSize, unix.MADV_DONTNEED),
		call(unix.SYS_MPROTECT, start+2*mm.PageSize, 4*mm.PageSize, unix.PROT_NONE),
	}, tr.calls)

	tr = &fakeTracee{}
	NewBackend(tr, EmulationSet{EmulateGuard: true}).GuardAdvice(unix.MADV_GUARD_REMOVE, piece)
	rw := uint64(unix.PROT_READ | unix.PROT_WRITE)
	assert.Equal(t, []string{
		call(unix.SYS_MPROTECT, start+2*mm.PageSize, mm.PageSize, rw),
		call(unix.SYS_MPROTECT, start+5*mm.PageSize, mm.PageSize, rw),
	}, tr.calls)
}

// TestForkFix: a wipe-on-fork VMA is wiped in the child, and its guard
// runs (which the child does not inherit) unprotected first; a
// DONTCOPY VMA is not in the child at all.
func TestForkFix(t *testing.T) {
	const a = 0x10000
	wipe := mm.VMA{Start: a, End: a + 4*mm.PageSize, Flags: mm.VMRead | mm.VMWipeOnFork}
	wipe.Guards = wipe.Guards.Add(1, 2)
	dontCopy := mm.VMA{Start: a + 8*mm.PageSize, End: a + 9*mm.PageSize, Flags: mm.VMRead | mm.VMDontCopy | mm.VMWipeOnFork}
	emu := EmulationSet{EmulateGuard: true, EmulateWipeOnFork: true}
	fix := NewForkFix(emu, 0, []mm.VMA{wipe, dontCopy})
	if !assert.NotNil(t, fix) {
		return
	}
	tr := &fakeTracee{}
	assert.NoError(t, NewBackend(tr, emu).ApplyForkFix(fix))
	assert.Equal(t, []string{
		call(unix.SYS_MPROTECT, a+mm.PageSize, mm.PageSize, unix.PROT_READ),
		call(unix.SYS_MADVISE, a, 4*mm.PageSize, unix.MADV_DONTNEED),
	}, tr.calls)
	assert.Nil(t, NewForkFix(EmulationSet{}, 0, []mm.VMA{wipe}))
}
