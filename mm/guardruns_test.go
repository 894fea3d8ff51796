package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuardedStackAbove: only an unmapped address below a grows-down VMA
// whose lowest page is a guard page names that VMA.
func TestGuardedStackAbove(t *testing.T) {
	for _, tc := range []struct {
		name      string
		guards    GuardSet
		growsDown bool
		addr      uint64 // page
		want      bool
	}{
		{"lowest page guarded", GuardSet{}.Add(0, 1), true, 590, true},
		{"right below", GuardSet{}.Add(0, 2), true, 599, true},
		{"inside the VMA", GuardSet{}.Add(0, 1), true, 600, false},
		{"lowest page not guarded", GuardSet{}.Add(1, 2), true, 590, false},
		{"no guards", GuardSet{}, true, 590, false},
		{"not grows-down", GuardSet{}.Add(0, 1), false, 590, false},
		{"above the VMA", GuardSet{}.Add(0, 1), true, 700, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := NewAddressSpace()
			v := anonMap(600, 4, ProtRead|ProtWrite)
			if tc.growsDown {
				v.Flags |= VMGrowsDown
			}
			v.Guards = tc.guards
			require.NoError(t, as.Map(v))
			got, ok := as.GuardedStackAbove(at(tc.addr))
			assert.Equal(t, tc.want, ok)
			if tc.want {
				assert.Equal(t, at(600), got.Start)
			}
		})
	}
}
