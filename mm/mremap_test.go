package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestPartialFailures: calls that fail part-way keep what the kernel
// keeps (checked on the 6.18 host, tests/testdata/madv_partial.c).
func TestPartialFailures(t *testing.T) {
	sealedTail := func(t *testing.T) *AddressSpace {
		as := NewAddressSpace()
		require.NoError(t, as.Map(anonRW(0, 4)))
		require.NoError(t, as.Mseal(at(2), pg(2), 0))
		return as
	}
	starts := func(as *AddressSpace) []uint64 {
		var out []uint64
		for _, v := range as.VMAs() {
			out = append(out, v.Start)
		}
		return out
	}
	fixed := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	tests := []struct {
		name    string
		call    func(as *AddressSpace) error
		wantErr error
		want    []uint64 // the VMA starts after the call
	}{
		{"munmap splits, then meets the seal", func(as *AddressSpace) error { return as.Unmap(at(1), at(3)) },
			unix.EPERM, []uint64{at(0), at(1), at(2)}},
		{"munmap from a VMA's start", func(as *AddressSpace) error { return as.Unmap(at(0), at(3)) },
			unix.EPERM, []uint64{at(0), at(2)}},
		{"mremap shrink across the seal", func(as *AddressSpace) error {
			_, _, err := as.Mremap(at(0), pg(4), pg(1), 0, 0, 0)
			return err
		}, unix.EPERM, []uint64{at(0), at(1), at(2)}},
		{"mremap MREMAP_FIXED shrink: the target goes first", func(as *AddressSpace) error {
			require.NoError(t, as.Map(anonRW(10, 1)))
			_, _, err := as.Mremap(at(0), pg(4), pg(1), fixed, at(10), 0)
			return err
		}, unix.EPERM, []uint64{at(0), at(1), at(2)}},
		{"mremap moves the VMAs before the seal", func(as *AddressSpace) error {
			require.NoError(t, as.Protect(at(1), at(2), ProtRead))
			_, _, err := as.Mremap(at(0), pg(4), pg(4), fixed, at(10), 0)
			return err
		}, unix.EPERM, []uint64{at(2), at(10), at(11)}},
		{"mremap of a hole before the seal", func(as *AddressSpace) error {
			require.NoError(t, as.Unmap(at(0), at(2)))
			_, _, err := as.Mremap(at(0), pg(4), pg(1), 0, 0, 0)
			return err
		}, unix.EFAULT, []uint64{at(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := sealedTail(t)
			assert.Equal(t, tt.wantErr, tt.call(as))
			assert.Equal(t, tt.want, starts(as))
			assert.NoError(t, as.Validate())
		})
	}
}

// TestMremapMultiAndDuplicate: a move of several VMAs keeps their gaps (a
// gap at the start is EFAULT); old_len 0 duplicates a shared mapping.
func TestMremapMultiAndDuplicate(t *testing.T) {
	fixed := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 4)))
	require.NoError(t, as.Unmap(at(1), at(2)))
	require.NoError(t, as.Protect(at(3), at(4), ProtRead))
	got, _, err := as.Mremap(at(0), pg(4), pg(4), fixed, at(10), 0)
	require.NoError(t, err)
	assert.Equal(t, at(10), got)
	var ranges [][2]uint64
	for _, v := range as.VMAs() {
		ranges = append(ranges, [2]uint64{v.Start, v.End})
	}
	assert.Equal(t, [][2]uint64{{at(10), at(11)}, {at(12), at(13)}, {at(13), at(14)}}, ranges)

	_, _, err = as.Mremap(at(9), pg(3), pg(3), fixed, at(20), 0)
	assert.Equal(t, unix.EFAULT, err, "a gap at the start")

	sh := NewAddressSpace()
	require.NoError(t, sh.Map(NewMmap(at(0), pg(2), ProtRead|ProtWrite, true, Backing{Kind: BackingAnon}, 0, false)))
	got, _, err = sh.Mremap(at(1), 0, pg(1), fixed, at(10), 0)
	require.NoError(t, err)
	assert.Equal(t, at(10), got)
	v, ok := sh.Find(at(10))
	require.True(t, ok)
	assert.Equal(t, uint64(1), v.PgOff, "the duplicate maps the same pages")
	assert.Equal(t, 2, sh.Len())

	pr := NewAddressSpace()
	require.NoError(t, pr.Map(anonRW(0, 1)))
	_, _, err = pr.Mremap(at(0), 0, pg(1), fixed, at(10), 0)
	assert.Equal(t, unix.EINVAL, err, "old_len 0 of a private mapping")
}

// TestMremapShrinkPastTheTop: a shrink whose old_len reaches past the top
// of the address space (or wraps) fails as do_vmi_munmap does, EINVAL,
// after the MREMAP_FIXED target was unmapped (mmfuzz seed 9).
func TestMremapShrinkPastTheTop(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 0x40)))
	huge := uint64(0xfffff00000000000)
	_, _, err := as.Mremap(at(0x10), huge, pg(2), unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, at(0x30), 0)
	assert.Equal(t, unix.EINVAL, err)
	var got [][2]uint64
	for _, v := range as.VMAs() {
		got = append(got, [2]uint64{v.Start, v.End})
	}
	assert.Equal(t, [][2]uint64{{at(0), at(0x30)}, {at(0x32), at(0x40)}}, got, "the target is unmapped, nothing else")

	_, _, err = as.Mremap(at(0x10), huge, pg(2), 0, 0, 0)
	assert.Equal(t, unix.EINVAL, err, "in place too")
}

// TestLearnMovedPgOff: a moved private /dev/zero VMA takes the host's
// pgoff (and an anon_vma) when a fault the model did not see kept it;
// other VMAs are not asked.
func TestLearnMovedPgOff(t *testing.T) {
	as := NewAddressSpace()
	zero := Backing{Kind: BackingAnon, Path: "/dev/zero", Inode: 4}
	require.NoError(t, as.Map(NewMmap(at(0), pg(2), ProtRead|ProtWrite, false, zero, 0xb, false)))
	require.NoError(t, as.Map(anonRW(4, 2)))
	asked := 0
	host := func() (uint64, bool) { asked++; return 0x33, true }
	assert.True(t, as.LearnMovedPgOff(at(0), host))
	v, _ := as.Find(at(0))
	assert.Equal(t, uint64(0x33), v.PgOff)
	assert.NotZero(t, v.AnonVMA)
	assert.False(t, as.LearnMovedPgOff(at(0), host), "it has an anon_vma now")
	assert.False(t, as.LearnMovedPgOff(at(4), host), "plain anonymous memory shows no pgoff")
	assert.Equal(t, 1, asked)
	require.NoError(t, as.Validate())
}

// TestDontUnmapUnlocksWholeVMA: MREMAP_DONTUNMAP clears VM_LOCKED on the
// whole old VMA, without splitting it (dontunmap_complete; mmfuzz seed
// 1221, checked on 6.18).
func TestDontUnmapUnlocksWholeVMA(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 16)))
	require.NoError(t, as.SetFlags(at(0), at(16), VMLocked, 0))
	require.NoError(t, as.RemapDontUnmap(at(4), pg(2), at(32)))
	v, _ := as.Find(at(0))
	assert.Equal(t, [2]uint64{at(0), at(16)}, [2]uint64{v.Start, v.End}, "no split")
	assert.Zero(t, v.Flags&VMLockedMask)
	moved, _ := as.Find(at(32))
	assert.NotZero(t, moved.Flags&VMLocked, "the moved range keeps its lock")
	assert.Equal(t, uint64(2), as.Stats().LockedPages)
	require.NoError(t, as.Validate())
}

// TestMremapCharge: a move or an expansion of a VM_ACCOUNT VMA is charged
// |new_len - old_len| (new_len with MREMAP_DONTUNMAP), and the host's
// overcommit policy may refuse it with ENOMEM after MREMAP_FIXED's target
// and a shrink's tail are gone (6.18; fuzzer seed 1221).
func TestMremapCharge(t *testing.T) {
	fixed := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	var asked []uint64
	enough := func(pages uint64) bool { asked = append(asked, pages); return pages < 1000 }
	setup := func(t *testing.T) *AddressSpace {
		as := NewAddressSpace()
		as.EnoughMemory = enough
		v := anonRW(10, 8) // private writable: VM_ACCOUNT
		require.NotZero(t, v.Flags&VMAccount)
		require.NoError(t, as.Map(v))
		require.NoError(t, as.Map(anonMap(30, 1, ProtRead))) // not accounted
		asked = nil
		return as
	}
	ranges := func(as *AddressSpace) [][2]uint64 {
		var got [][2]uint64
		for _, v := range as.VMAs() {
			got = append(got, [2]uint64{v.Start, v.End})
		}
		return got
	}
	t.Run("shrink then move, large old_len", func(t *testing.T) {
		as := setup(t)
		_, _, err := as.Mremap(at(12), pg(2000), pg(1), fixed, at(2), 0)
		assert.Equal(t, unix.ENOMEM, err)
		assert.Equal(t, []uint64{1999}, asked)
		// The tail from at(13) on is gone, at(30) with it; the source
		// page stays.
		assert.Equal(t, [][2]uint64{{at(10), at(13)}}, ranges(as))
	})
	t.Run("shrink then move, small old_len", func(t *testing.T) {
		as := setup(t)
		ret, _, err := as.Mremap(at(12), pg(4), pg(1), fixed, at(2), 0)
		require.NoError(t, err)
		assert.Equal(t, at(2), ret)
		assert.Equal(t, []uint64{3}, asked)
	})
	t.Run("expand in place", func(t *testing.T) {
		as := setup(t)
		as.EnoughMemory = func(pages uint64) bool { asked = append(asked, pages); return false }
		_, _, err := as.Mremap(at(10), pg(8), pg(10), 0, 0, 0)
		assert.Equal(t, unix.ENOMEM, err)
		assert.Equal(t, []uint64{2}, asked)
		assert.Equal(t, at(18), as.VMAs()[0].End, "not expanded")
	})
	t.Run("not accounted", func(t *testing.T) {
		as := setup(t)
		_, _, err := as.Mremap(at(30), pg(2000), pg(1), fixed, at(2), 0)
		require.NoError(t, err)
		assert.Empty(t, asked)
	})
}

// TestMultiMoveStopsAtDevZero: a multi-VMA move stops with EFAULT at a
// private /dev/zero VMA (vma_multi_allowed), the VMAs before it moved.
func TestMultiMoveStopsAtDevZero(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonRW(0, 1)))
	zero := anonMap(1, 1, rw)
	zero.Backing = Backing{Kind: BackingAnon, Path: "/dev/zero", DevMajor: 1, DevMinor: 5, Inode: 4}
	require.NoError(t, as.Map(zero))
	fixed := uint64(unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED)
	_, _, err := as.Mremap(at(0), pg(2), pg(2), fixed, at(10), 0)
	assert.Equal(t, unix.EFAULT, err)
	var starts []uint64
	for _, v := range as.VMAs() {
		starts = append(starts, v.Start)
	}
	assert.Equal(t, []uint64{at(1), at(10)}, starts)

	// Alone, it moves.
	_, _, err = as.Mremap(at(1), pg(1), pg(1), fixed, at(20), 0)
	assert.NoError(t, err)
}
