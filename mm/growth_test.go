package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// growthSpace maps below (if any) and a 4-page grows-down VMA at page 600.
func growthSpace(t *testing.T, below *VMA) *AddressSpace {
	as := NewAddressSpace()
	if below != nil {
		require.NoError(t, as.Map(*below))
	}
	stack := anonMap(600, 4, ProtRead|ProtWrite)
	stack.Flags |= VMGrowsDown
	require.NoError(t, as.Map(stack))
	return as
}

func TestGrowDown(t *testing.T) {
	gap := StackGuardGap >> PageShift
	accessible := anonMap(10, 2, ProtRead)
	inaccessible := anonMap(590, 2, ProtNone)
	lowStack := anonMap(590, 2, ProtRead|ProtWrite)
	lowStack.Flags |= VMGrowsDown
	for _, tc := range []struct {
		name     string
		below    *VMA
		newStart uint64 // page
		want     bool
	}{
		{"no neighbour", nil, 500, true},
		{"not lower", nil, 600, false},
		{"far above an accessible VMA", &accessible, 12 + gap, true},
		{"inside the guard gap of an accessible VMA", &accessible, 12 + gap - 1, false},
		{"up to an inaccessible VMA", &inaccessible, 592, true},
		{"over the VMA below", &inaccessible, 591, false},
		{"up to a grows-down VMA", &lowStack, 592, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := growthSpace(t, tc.below)
			assert.Equal(t, tc.want, as.GrowDown(at(600), at(tc.newStart)))
			require.NoError(t, as.Validate())
			v, ok := as.Find(at(603))
			require.True(t, ok)
			if tc.want {
				assert.Equal(t, at(tc.newStart), v.Start)
				assert.Equal(t, at(tc.newStart)>>PageShift, v.PgOff, "pgoff moves with the start")
				assert.NotZero(t, v.AnonVMA, "growth attaches an anon_vma")
			} else {
				assert.Equal(t, at(600), v.Start)
			}
		})
	}
}

func TestGrowDownOnlyGrowsDownVMAs(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(600, 4, ProtRead|ProtWrite)))
	assert.False(t, as.GrowDown(at(600), at(590)))
	assert.Empty(t, as.GrowsDownStarts())
}

func TestGrowsDownBelow(t *testing.T) {
	below := anonMap(500, 2, ProtRead)
	as := growthSpace(t, &below)
	for _, tc := range []struct {
		name   string
		lo, hi uint64 // pages
		want   []uint64
	}{
		{"in the hole below", 550, 551, []uint64{at(600)}},
		{"across the VMA's start", 599, 601, []uint64{at(600)}},
		{"inside the VMA", 600, 602, nil},
		{"above it", 700, 710, nil},
		{"below the VMA before it", 400, 500, nil},
		{"from the VMA before it", 501, 503, []uint64{at(600)}},
		{"empty", 550, 550, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, as.GrowsDownBelow(at(tc.lo), at(tc.hi)))
		})
	}
	assert.Equal(t, []uint64{at(600)}, as.GrowsDownStarts())
	// A split keeps the index: only the lowest piece has space below.
	require.NoError(t, as.SetFlags(at(602), at(603), VMDontDump, 0))
	require.NoError(t, as.Validate())
	assert.Equal(t, []uint64{at(600)}, as.GrowsDownStarts())
	c := as.Clone()
	require.NoError(t, c.Validate())
	assert.Equal(t, []uint64{at(600)}, c.GrowsDownStarts())
}

// The checker adopts growth the kernel could have made, and nothing else.
func TestSyncGrowsDownOnlyLegalGrowth(t *testing.T) {
	below := anonMap(590, 2, ProtRead) // accessible: a guard gap applies
	as := growthSpace(t, &below)
	host := as.Maps()
	host[1].Start = at(595)
	assert.Equal(t, 0, as.SyncGrowsDown(host), "growth into the guard gap is a difference, not growth")
	assert.NotEmpty(t, DiffMaps(as.Maps(), host))

	as = growthSpace(t, nil)
	host = as.Maps()
	host[0].Start = at(590)
	host[0].Perms = "r--p"
	assert.Equal(t, 0, as.SyncGrowsDown(host), "other access bits: not growth")
}
