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

// TestSealCheck: what a seal makes of each memory syscall under mseal
// emulation (munmap, mmap MAP_FIXED, mremap: EPERM; mprotect: the VMAs
// before the first sealed one; brk: the unchanged break), and the
// arguments left to the host's own checks.
func TestSealCheck(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 6)))
	require.NoError(t, as.Map(anonRW(8, 2)))
	require.NoError(t, as.Map(anonRW(20, 4))) // the heap
	require.NoError(t, as.Mseal(at(2), pg(2), 0))
	require.NoError(t, as.Mseal(at(22), pg(1), 0))
	brk := at(23) + 10
	as.SetBrk(at(20), brk)
	before := as.Maps()

	refuse := SealVerdict{Action: SealRefuse}
	// The call split a VMA before the seal refused it.
	refuseSplit := SealVerdict{Action: SealRefuse, Replay: true}
	none := SealVerdict{}
	prot := uint64(unix.PROT_READ | unix.PROT_WRITE)
	fixed := uint64(unix.MAP_FIXED | unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
	tests := []struct {
		name string
		nr   uintptr
		args [6]uint64
		want SealVerdict
	}{
		{"munmap over a seal", unix.SYS_MUNMAP, [6]uint64{at(1), pg(2)}, refuseSplit},
		{"munmap length rounded up onto a seal", unix.SYS_MUNMAP, [6]uint64{at(1), pg(1) + 1}, refuseSplit},
		{"munmap from a VMA's start onto a seal", unix.SYS_MUNMAP, [6]uint64{at(0), pg(3)}, refuse},
		{"munmap from inside a seal", unix.SYS_MUNMAP, [6]uint64{at(3), pg(3)}, refuse},
		{"munmap beside a seal", unix.SYS_MUNMAP, [6]uint64{at(0), pg(2)}, none},
		{"munmap of a gap", unix.SYS_MUNMAP, [6]uint64{at(6), pg(2)}, none},
		// The host's EINVAL comes first.
		{"munmap unaligned", unix.SYS_MUNMAP, [6]uint64{at(2) + 1, pg(1)}, none},
		{"munmap length 0", unix.SYS_MUNMAP, [6]uint64{at(2), 0}, none},
		{"munmap length rounds to 0", unix.SYS_MUNMAP, [6]uint64{at(2), ^uint64(0)}, none},
		{"munmap wraps", unix.SYS_MUNMAP, [6]uint64{at(2), -at(1)}, none},

		{"mmap MAP_FIXED over a seal", unix.SYS_MMAP, [6]uint64{at(3), pg(4), prot, fixed, ^uint64(0), 0}, refuse},
		{"mmap MAP_FIXED beside a seal", unix.SYS_MMAP, [6]uint64{at(4), pg(4), prot, fixed, ^uint64(0), 0}, none},
		{"mmap MAP_FIXED_NOREPLACE over a seal", unix.SYS_MMAP,
			[6]uint64{at(3), pg(1), prot, unix.MAP_FIXED_NOREPLACE | unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}, none},
		{"mmap both FIXED flags over a seal", unix.SYS_MMAP,
			[6]uint64{at(3), pg(1), prot, fixed | unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0}, none},
		{"mmap hint over a seal", unix.SYS_MMAP, [6]uint64{at(3), pg(1), prot, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}, none},
		{"mmap MAP_FIXED unaligned", unix.SYS_MMAP, [6]uint64{at(3) + 1, pg(1), prot, fixed, ^uint64(0), 0}, none},

		{"mremap of a sealed range", unix.SYS_MREMAP, [6]uint64{at(2), pg(1), pg(4), unix.MREMAP_MAYMOVE}, refuse},
		{"mremap shrink into a seal", unix.SYS_MREMAP, [6]uint64{at(1), pg(2), pg(1)}, refuse},
		{"mremap old_len 0 of a sealed VMA", unix.SYS_MREMAP, [6]uint64{at(3), 0, pg(1), unix.MREMAP_MAYMOVE}, refuse},
		{"mremap old_len 0 elsewhere", unix.SYS_MREMAP, [6]uint64{at(4), 0, pg(1), unix.MREMAP_MAYMOVE}, none},
		{"mremap beside a seal", unix.SYS_MREMAP, [6]uint64{at(4), pg(2), pg(4), unix.MREMAP_MAYMOVE}, none},
		{"mremap MREMAP_FIXED onto a seal", unix.SYS_MREMAP,
			[6]uint64{at(8), pg(1), pg(2), unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, at(1)}, refuseSplit},
		{"mremap shrink across a seal", unix.SYS_MREMAP, [6]uint64{at(0), pg(4), pg(1)}, refuseSplit},
		{"mremap of a hole before a seal", unix.SYS_MREMAP, [6]uint64{at(6), pg(4), pg(1)}, none},
		{"mremap MREMAP_FIXED unaligned onto a sealed range", unix.SYS_MREMAP,
			[6]uint64{at(2), pg(1), pg(1), unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, at(8) + 1}, none},
		{"mremap moving several VMAs up to a seal", unix.SYS_MREMAP,
			[6]uint64{at(0), pg(4), pg(4), unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, at(30)}, refuseSplit},
		{"mremap MREMAP_FIXED beside a seal", unix.SYS_MREMAP,
			[6]uint64{at(8), pg(1), pg(2), unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, at(4)}, none},
		{"mremap new address ignored without MREMAP_FIXED", unix.SYS_MREMAP,
			[6]uint64{at(8), pg(1), pg(2), unix.MREMAP_MAYMOVE, at(2)}, none},
		{"mremap unaligned", unix.SYS_MREMAP, [6]uint64{at(2) + 1, pg(1), pg(2), unix.MREMAP_MAYMOVE}, none},

		{"mprotect up to a seal", unix.SYS_MPROTECT, [6]uint64{at(0), pg(6), unix.PROT_READ},
			SealVerdict{Action: SealProtectBefore, First: at(2), From: at(0)}},
		{"mprotect from inside a seal", unix.SYS_MPROTECT, [6]uint64{at(3), pg(2), unix.PROT_READ},
			SealVerdict{Action: SealProtectBefore, First: at(3), From: at(3)}},
		{"pkey_mprotect up to a seal", unix.SYS_PKEY_MPROTECT, [6]uint64{at(1), pg(2), unix.PROT_READ, 0},
			SealVerdict{Action: SealProtectBefore, First: at(2), From: at(1)}},
		// The host's own errors come first: a bad prot, a hole before the
		// seal, a prot beyond VM_MAY*.
		{"mprotect bad prot over a seal", unix.SYS_MPROTECT, [6]uint64{at(2), pg(1), 0x100}, none},
		{"mprotect PROT_GROWSDOWN over a seal", unix.SYS_MPROTECT,
			[6]uint64{at(2), pg(1), unix.PROT_READ | unix.PROT_GROWSDOWN}, none},
		{"mprotect across a hole to a seal", unix.SYS_MPROTECT, [6]uint64{at(4), pg(6), unix.PROT_READ}, none},
		{"mprotect beside a seal", unix.SYS_MPROTECT, [6]uint64{at(4), pg(2), unix.PROT_READ}, none},
		{"mprotect unaligned", unix.SYS_MPROTECT, [6]uint64{at(1) + 1, pg(2), unix.PROT_READ}, none},
		{"mprotect length 0", unix.SYS_MPROTECT, [6]uint64{at(2), 0, unix.PROT_READ}, none},

		// brk unmaps [PAGE_ALIGN(newbrk), PAGE_ALIGN(brk)).
		{"brk shrinks over a seal", unix.SYS_BRK, [6]uint64{at(21)}, SealVerdict{Action: SealBrkUnchanged, Brk: brk}},
		{"brk shrinks to the seal's start", unix.SYS_BRK, [6]uint64{at(22)}, SealVerdict{Action: SealBrkUnchanged, Brk: brk}},
		{"brk shrinks to just above the seal", unix.SYS_BRK, [6]uint64{at(22) + 1}, none},
		{"brk shrinks within its page", unix.SYS_BRK, [6]uint64{at(23) + 1}, none},
		{"brk(0)", unix.SYS_BRK, [6]uint64{0}, SealVerdict{Action: SealBrkUnchanged, Brk: brk}},
		{"brk unchanged", unix.SYS_BRK, [6]uint64{brk}, none},
		{"brk grows", unix.SYS_BRK, [6]uint64{at(30)}, none},

		{"another syscall", unix.SYS_MADVISE, [6]uint64{at(2), pg(1), unix.MADV_DONTNEED}, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sealCheck(as, tt.nr, tt.args)
			assert.Equal(t, tt.want, got, "got %+v, want %+v", got, tt.want)
		})
	}
	assert.Equal(t, before, as.Maps(), "SealCheck changes nothing")
}

// sealCheck runs the seal check of syscall nr on its registers, as the
// syscall table does.
func sealCheck(as *AddressSpace, nr uintptr, a [6]uint64) SealVerdict {
	switch nr {
	case unix.SYS_MUNMAP:
		return as.SealCheckMunmap(a[0], a[1])
	case unix.SYS_MMAP:
		return as.SealCheckMmap(a[0], a[1], a[3])
	case unix.SYS_MREMAP:
		return as.SealCheckMremap(a[0], a[1], a[2], a[3], a[4])
	case unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT:
		return as.SealCheckMprotect(a[0], a[1], a[2])
	case unix.SYS_BRK:
		return as.SealCheckBrk(a[0])
	}
	return SealVerdict{}
}
