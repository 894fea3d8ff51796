package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

func TestGrowthCandidates(t *testing.T) {
	const pg = mm.PageSize
	as := mm.NewAddressSpace()
	stack := mm.NewMmap(0x7f0000000000, 8*pg, mm.ProtRead|mm.ProtWrite, false, mm.Backing{}, 0x7f0000000000>>mm.PageShift, false)
	stack.Flags |= mm.VMGrowsDown
	require.NoError(t, as.Map(stack))
	below := uint64(0x7f0000000000 - 4*pg)
	for _, tc := range []struct {
		name string
		nr   uintptr
		r    Regs
		want bool
	}{
		{"madvise below", unix.SYS_MADVISE, Regs{below, 8 * pg, unix.MADV_DONTNEED}, true},
		{"madvise inside", unix.SYS_MADVISE, Regs{0x7f0000000000, pg, unix.MADV_DONTNEED}, false},
		{"mlock below", unix.SYS_MLOCK, Regs{below, pg}, true},
		{"mmap hint", unix.SYS_MMAP, Regs{below, pg, 1, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, false},
		{"mmap fixed below", unix.SYS_MMAP, Regs{below, pg, 1, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}, true},
		{"fork", unix.SYS_FORK, Regs{}, true},
		{"thread", unix.SYS_CLONE, Regs{unix.CLONE_VM | unix.CLONE_THREAD}, false},
		{"process_madvise", unix.SYS_PROCESS_MADVISE, Regs{}, true},
		{"personality", unix.SYS_PERSONALITY, Regs{abi.READ_IMPLIES_EXEC}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := GrowthCandidates(as, tc.nr, tc.r)
			if tc.want {
				assert.Equal(t, []uint64{0x7f0000000000}, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

// fakePersona is a Host with a personality.
type fakePersona struct {
	Host
	p uint32
}

func (f *fakePersona) Personality() uint32     { return f.p }
func (f *fakePersona) SetPersonality(p uint32) { f.p = p }

func TestReadImpliesExec(t *testing.T) {
	h := &fakePersona{}
	personalityUpdate(nil, h, [6]uint64{abi.READ_IMPLIES_EXEC}, 0)
	assert.Equal(t, mm.ProtRead|mm.ProtExec, readImpliesExec(h, mm.ProtRead))
	assert.Equal(t, mm.ProtWrite, readImpliesExec(h, mm.ProtWrite), "only PROT_READ implies exec")
	personalityUpdate(nil, h, [6]uint64{0xffffffff}, abi.READ_IMPLIES_EXEC)
	assert.Equal(t, uint32(abi.READ_IMPLIES_EXEC), h.p, "0xffffffff only queries")
	personalityUpdate(nil, h, [6]uint64{0}, abi.READ_IMPLIES_EXEC)
	assert.Equal(t, mm.ProtRead, readImpliesExec(h, mm.ProtRead))
}

func TestRemapFilePagesUpdate(t *testing.T) {
	const pg = mm.PageSize
	as := mm.NewAddressSpace()
	file := mm.Backing{Kind: mm.BackingFile, DevMajor: 8, Inode: 7, Path: "/f", Writable: true, FileID: 99}
	require.NoError(t, as.Map(mm.NewMmap(0x10000000, 4*pg, mm.ProtRead|mm.ProtWrite, true, file, 0, false)))
	got := remapFilePagesUpdate(as, nil, [6]uint64{0x10000000 + pg + 5, pg, 0, 3, 0}, 0)
	assert.Equal(t, []Span{{0x10000000 + pg, 0x10000000 + 2*pg}}, got)
	require.NoError(t, as.Validate())
	assert.Equal(t, 3, as.Len())
	v, ok := as.Find(0x10000000 + pg)
	require.True(t, ok)
	assert.Equal(t, uint64(3), v.PgOff)
	// Back at its own offset, it merges again.
	remapFilePagesUpdate(as, nil, [6]uint64{0x10000000 + pg, pg, 0, 1, 0}, 0)
	require.NoError(t, as.Validate())
	assert.Equal(t, 1, as.Len())
}
