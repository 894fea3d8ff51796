package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/lockdep"
)

// TestMseal checks the model's mseal (for hosts without it) against
// do_mseal's checks and effect.
func TestMseal(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 6)))
	require.NoError(t, as.Map(anonRW(8, 2)))
	assert.Equal(t, unix.EINVAL, as.Mseal(at(0), pg(1), 1), "flags")
	assert.Equal(t, unix.EINVAL, as.Mseal(at(0)+1, pg(1), 0), "unaligned")
	assert.Equal(t, unix.EINVAL, as.Mseal(at(0), ^uint64(0), 0), "len rounds to 0")
	assert.NoError(t, as.Mseal(at(0), 0, 0), "len 0")
	assert.Equal(t, unix.ENOMEM, as.Mseal(at(4), pg(6), 0), "a gap")
	assert.Equal(t, 2, as.Len(), "a failed mseal seals nothing")

	require.NoError(t, as.Mseal(at(2), pg(2)-1, 0))
	v, _ := as.Find(at(2))
	assert.Equal(t, at(2), v.Start)
	assert.Equal(t, at(4), v.End)
	assert.NotZero(t, v.Flags&VMSealed)
	assert.Equal(t, 4, as.Len())
	first, ok := as.FirstSealed(at(0), at(10))
	assert.True(t, ok)
	assert.Equal(t, at(2), first)
	_, ok = as.FirstSealed(at(4), at(10))
	assert.False(t, ok)

	// The host of an emulated mseal shows no split.
	assert.Len(t, as.HostMaps(VMSealed, false), 2)
	assert.Len(t, as.Maps(), 4)
	assert.Equal(t, unix.EPERM, as.Unmap(at(3), at(5)))
	require.NoError(t, as.Validate())
}

// TestHostMapsKeepsHostBoundaries: a boundary the host keeps (SplitApart)
// is not merged away by HostMaps, even between VMAs that differ in nothing
// the model knows.
func TestHostMapsKeepsHostBoundaries(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 4)))
	as.PrepareAnonVMA(at(0), at(4))
	as.SplitApart(at(2))
	require.Len(t, as.Maps(), 2)
	assert.Len(t, as.HostMaps(VMSealed, false), 2)
	require.NoError(t, as.Mseal(at(0), pg(1), 0))
	assert.Len(t, as.Maps(), 3)
	assert.Len(t, as.HostMaps(VMSealed, false), 2)
}

// TestRemapDontUnmap: the pages move, the old range stays mapped, unlocked
// and (moved whole) without its anon_vma.
func TestRemapDontUnmap(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(with(anonRW(0, 4), VMLocked)))
	require.NoError(t, as.Map(anonMap(10, 1, ProtNone)))
	as.PrepareAnonVMA(at(0), at(4))
	require.NoError(t, as.RemapDontUnmap(at(0), pg(4), at(20)))
	old, ok := as.Find(at(0))
	require.True(t, ok)
	assert.Equal(t, at(4), old.End)
	assert.Zero(t, old.Flags&VMLockedMask)
	assert.Zero(t, old.AnonVMA)
	moved, ok := as.Find(at(20))
	require.True(t, ok)
	assert.Equal(t, at(24), moved.End)
	assert.NotZero(t, moved.Flags&VMLocked)
	assert.NotZero(t, moved.AnonVMA)
	require.NoError(t, as.Validate())
}

// TestProtAllows: x86's access_error as Prot.Allows models it.
func TestProtAllows(t *testing.T) {
	assert.True(t, ProtRead.Allows(ProtRead))
	assert.False(t, ProtRead.Allows(ProtWrite))
	assert.True(t, ProtRead.Allows(ProtExec), "a fetch needs any access bit")
	assert.True(t, (ProtRead | ProtWrite).Allows(ProtWrite))
	assert.True(t, ProtWrite.Allows(ProtRead))
	assert.False(t, ProtNone.Allows(ProtRead))
}

// TestMsealPkeyDeniesWrite: "not writable (no VM_WRITE, or a pkey denies
// write)": a sealed writable anonymous VMA whose pkey denies writes refuses
// discards.
func TestMsealPkeyDeniesWrite(t *testing.T) {
	withLockdep(t, lockdep.Panic)
	m := newMM(t, with(anonRW(0, 4), VMSealed))
	h := lockdep.NewHolder("madvise", 1)
	got := madviseChecked(t, m, h, 0, 1, unix.MADV_DONTNEED, envWith())
	assert.Equal(t, unix.Errno(0), got.Err)
	denied := envWith(func(e *MadviseEnv) { e.PkeyDeniesWrite = func(uint64) bool { return true } })
	got = madviseChecked(t, m, h, 0, 1, unix.MADV_DONTNEED, denied)
	assert.Equal(t, unix.EPERM, got.Err)
	got = madviseChecked(t, m, h, 0, 1, unix.MADV_COLD, denied)
	assert.Equal(t, unix.Errno(0), got.Err, "not a discard")
}
