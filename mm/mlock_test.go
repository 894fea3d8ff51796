package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// vmaLock is a VMA's page range (from base) and lock bits.
type vmaLock struct {
	lo, hi uint64
	bits   VMFlags
}

func lockBits(as *AddressSpace) []vmaLock {
	var out []vmaLock
	for _, v := range as.VMAs() {
		out = append(out, vmaLock{(v.Start - base) / PageSize, (v.End - base) / PageSize, v.Flags & VMLockedMask})
	}
	return out
}

func TestMlock(t *testing.T) {
	onFault := VMLocked | VMLockOnFault
	droppable := anonMap(8, 2, ProtRead|ProtWrite)
	droppable.Flags |= VMDroppable | VMWipeOnFork | VMDontDump
	special := anonMap(10, 2, ProtRead|ProtWrite)
	special.Flags |= VMMixedMap | VMDontExpand
	// The space: [0,2) [hole] [4,8) droppable [8,10) special [10,12).
	tests := []struct {
		name    string
		setup   func(t *testing.T, as *AddressSpace)
		lo, hi  uint64
		lock    VMFlags
		wantErr error
		// want are the VMAs' page ranges and lock bits afterwards.
		want []vmaLock
	}{
		{
			name: "[VMA][hole]: the VMA is locked, then ENOMEM",
			lo:   0, hi: 4, lock: VMLocked, wantErr: unix.ENOMEM,
			want: []vmaLock{{0, 2, VMLocked}, {4, 8, 0}, {8, 10, 0}, {10, 12, 0}},
		},
		{
			name: "from the middle of a VMA into a hole: split at start",
			lo:   1, hi: 4, lock: onFault, wantErr: unix.ENOMEM,
			want: []vmaLock{{0, 1, 0}, {1, 2, onFault}, {4, 8, 0}, {8, 10, 0}, {10, 12, 0}},
		},
		{
			name: "start in a hole: nothing",
			lo:   2, hi: 5, lock: VMLocked, wantErr: unix.ENOMEM,
			want: []vmaLock{{0, 2, 0}, {4, 8, 0}, {8, 10, 0}, {10, 12, 0}},
		},
		{
			name: "munlock up to a hole",
			setup: func(t *testing.T, as *AddressSpace) {
				require.NoError(t, as.Mlock(at(0), at(2), VMLocked))
				require.NoError(t, as.Mlock(at(4), at(8), VMLocked))
			},
			lo: 1, hi: 6, lock: 0, wantErr: unix.ENOMEM,
			want: []vmaLock{{0, 1, VMLocked}, {1, 2, 0}, {4, 8, VMLocked}, {8, 10, 0}, {10, 12, 0}},
		},
		{
			name: "mlock after MLOCK_ONFAULT replaces the lock bits, and merges",
			setup: func(t *testing.T, as *AddressSpace) {
				require.NoError(t, as.Mlock(at(4), at(5), onFault))
			},
			lo: 4, hi: 6, lock: VMLocked,
			want: []vmaLock{{0, 2, 0}, {4, 6, VMLocked}, {6, 8, 0}, {8, 10, 0}, {10, 12, 0}},
		},
		{
			name: "droppable and VM_SPECIAL VMAs are passed over",
			lo:   4, hi: 12, lock: VMLocked,
			want: []vmaLock{{0, 2, 0}, {4, 8, VMLocked}, {8, 10, 0}, {10, 12, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := NewAddressSpace()
			require.NoError(t, as.Map(anonMap(0, 2, ProtRead|ProtWrite)))
			require.NoError(t, as.Map(anonMap(4, 4, ProtRead|ProtWrite)))
			require.NoError(t, as.Map(droppable))
			require.NoError(t, as.Map(special))
			if tc.setup != nil {
				tc.setup(t, as)
			}
			err := as.Mlock(at(tc.lo), at(tc.hi), tc.lock)
			if tc.wantErr != nil {
				assert.Equal(t, tc.wantErr, err)
			} else {
				assert.NoError(t, err)
			}
			require.NoError(t, as.Validate())
			assert.Equal(t, tc.want, lockBits(as))
		})
	}
}

func TestMlockChange(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 2, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(2, 2, ProtRead)))
	require.NoError(t, as.Map(anonMap(6, 2, ProtRead)))
	require.NoError(t, as.Mlock(at(0), at(2), VMLocked))

	addr, ok := as.MlockChange(at(0), at(8), VMLocked)
	assert.True(t, ok)
	assert.Equal(t, at(2), addr, "first VMA already locked: the second")
	addr, ok = as.MlockChange(at(1), at(8), 0)
	assert.True(t, ok)
	assert.Equal(t, at(1), addr, "munlock from inside the first VMA")
	_, ok = as.MlockChange(at(0), at(2), VMLocked)
	assert.False(t, ok, "nothing to change")
	_, ok = as.MlockChange(at(4), at(8), VMLocked)
	assert.False(t, ok, "start in a hole: the walk changes nothing")
	require.NoError(t, as.Mlock(at(2), at(4), VMLocked))
	_, ok = as.MlockChange(at(0), at(8), VMLocked)
	assert.False(t, ok, "the walk stops at the hole before page 6")
}

func TestMlockAll(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 4, ProtRead|ProtWrite)))
	vdso := NewMmap(at(8), pg(2), ProtRead|ProtExec, false, Backing{Kind: BackingVDSO, Path: "[vdso]"}, 0, false)
	require.NoError(t, as.Map(vdso))
	require.NoError(t, as.Mlock(at(0), at(2), VMLocked|VMLockOnFault))

	as.MlockAll(VMLocked)
	require.NoError(t, as.Validate())
	assert.Equal(t, []vmaLock{{0, 4, VMLocked}, {8, 10, 0}}, lockBits(as),
		"MCL_CURRENT drops LOCKONFAULT (the halves merge); the vDSO stays unlocked")

	as.MlockAll(0)
	assert.Equal(t, []vmaLock{{0, 4, 0}, {8, 10, 0}}, lockBits(as), "munlockall")
}

func TestLockable(t *testing.T) {
	secret := NewMmap(at(0), pg(1), ProtRead|ProtWrite, true,
		Backing{Kind: BackingFile, DevMinor: 14, Inode: 9, Path: "/secretmem (deleted)", Writable: true}, 0, false)
	hugetlb := anonMap(0, 1, ProtRead)
	hugetlb.Flags |= VMHugeTLB
	for _, tc := range []struct {
		name string
		v    VMA
		want bool
	}{
		{"anon", anonMap(0, 1, ProtNone), true},
		{"file", NewMmap(at(0), pg(1), ProtRead, true, fileA, 0, false), true},
		{"secretmem", secret, false},
		{"hugetlb", hugetlb, false},
		{"vvar", NewMmap(at(0), pg(1), ProtRead, false, Backing{Kind: BackingVVar}, 0, false), false},
	} {
		assert.Equal(t, tc.want, tc.v.Lockable(), tc.name)
	}
}

func TestPopulated(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 2, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(2, 2, ProtRead)))
	require.NoError(t, as.Map(NewMmap(at(4), pg(2), ProtRead|ProtWrite, true, fileA, 0, false)))
	require.NoError(t, as.Map(anonMap(6, 2, ProtRead|ProtWrite)))
	require.NoError(t, as.Mlock(at(6), at(8), VMLocked|VMLockOnFault))

	as.Populated(at(0), at(8))
	require.NoError(t, as.Validate())
	for _, tc := range []struct {
		page uint64
		want bool
		why  string
	}{
		{0, true, "private writable: write faults"},
		{2, false, "read-only: read faults attach no anon_vma"},
		{4, false, "shared"},
		{6, false, "locked on fault: not populated"},
	} {
		v, ok := as.Find(at(tc.page))
		require.True(t, ok)
		assert.Equal(t, tc.want, v.AnonVMA != 0, "page %d: %s", tc.page, tc.why)
	}
}
