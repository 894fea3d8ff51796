package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUffdReleased: the VMAs the host no longer has registered are
// unregistered and merge with their neighbours; the others stay.
func TestUffdReleased(t *testing.T) {
	none := func(uint64) bool { return false }
	tests := []struct {
		name string
		// setup maps and registers; registered is the host's answer.
		setup       func(t *testing.T, as *AddressSpace)
		registered  func(start uint64) bool
		wantLen     int
		wantArmed   []uint64 // pages where the armed VMAs start
		wantRemain  bool
		wantChanged bool
	}{
		{"middle page merges back", func(t *testing.T, as *AddressSpace) {
			require.NoError(t, as.Map(anonMap(0, 3, ProtRead|ProtWrite)))
			require.NoError(t, as.SetUffd(at(1), at(2), true))
		}, none, 1, nil, false, true},
		{"neighbours differ: the flag alone", func(t *testing.T, as *AddressSpace) {
			require.NoError(t, as.Map(anonMap(0, 3, ProtRead|ProtWrite)))
			require.NoError(t, as.Protect(at(0), at(1), ProtRead))
			require.NoError(t, as.Protect(at(2), at(3), ProtRead))
			require.NoError(t, as.SetUffd(at(1), at(2), true))
		}, none, 3, nil, false, true},
		{"another userfaultfd's VMA stays", func(t *testing.T, as *AddressSpace) {
			require.NoError(t, as.Map(anonMap(0, 3, ProtRead|ProtWrite)))
			require.NoError(t, as.SetUffd(at(0), at(1), true))
			require.NoError(t, as.SetUffd(at(2), at(3), true))
		}, func(start uint64) bool { return start == at(2) }, 2, []uint64{2}, true, true},
		{"still registered", func(t *testing.T, as *AddressSpace) {
			require.NoError(t, as.Map(anonMap(0, 3, ProtRead|ProtWrite)))
			require.NoError(t, as.SetUffd(at(1), at(2), true))
		}, func(uint64) bool { return true }, 3, []uint64{1}, true, false},
		{"nothing registered", func(t *testing.T, as *AddressSpace) {
			require.NoError(t, as.Map(anonMap(0, 3, ProtRead|ProtWrite)))
		}, none, 1, nil, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := NewAddressSpace()
			tc.setup(t, as)
			remain, changed := as.UffdReleased(tc.registered)
			assert.Equal(t, tc.wantRemain, remain, "remain")
			assert.Equal(t, tc.wantChanged, changed, "changed")
			assert.Equal(t, tc.wantLen, as.Len(), "VMAs: %v", as.VMAs())
			var armed []uint64
			for _, v := range as.VMAs() {
				if v.UffdArmed {
					armed = append(armed, (v.Start-at(0))/PageSize)
				}
			}
			assert.Equal(t, tc.wantArmed, armed, "armed VMAs")
			require.NoError(t, as.Validate())
		})
	}
}
