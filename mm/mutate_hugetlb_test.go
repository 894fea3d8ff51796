package mm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/lockdep"
)

// TestHugeTLBSplitsAtHugePages: a hugetlb VMA splits only at a huge page
// boundary, whatever asks for the split (hugetlb_vm_op_split): EINVAL
// and nothing changed otherwise (fuzzer seed 2004: mseal inside one).
func TestHugeTLBSplitsAtHugePages(t *testing.T) {
	const huge = HugePMDSize
	start := uint64(base) // 2 MiB aligned
	hugetlb := func(t *testing.T) *AddressSpace {
		as := NewAddressSpace()
		v := NewMmap(start, 2*huge, ProtRead|ProtWrite, false, Backing{Kind: BackingAnon}, 0, false)
		v.Flags |= VMHugeTLB
		require.NoError(t, as.Map(v))
		return as
	}
	count := func(as *AddressSpace) int { return len(as.VMAs()) }

	as := hugetlb(t)
	assert.Equal(t, unix.EINVAL, as.Mseal(start+pg(1), pg(4), 0), "mseal inside")
	assert.Equal(t, unix.EINVAL, as.Unmap(start+pg(1), start+pg(2)), "munmap inside")
	assert.Equal(t, unix.EINVAL, as.Protect(start, start+pg(1), ProtRead), "mprotect of a head")
	assert.Equal(t, 1, count(as), "nothing split")

	m := NewMM(hugetlb(t))
	h := lockdep.NewHolder("madvise", 1)
	res := m.Madvise(h, start+huge-pg(1), pg(1), unix.MADV_RANDOM, DefaultMadviseEnv())
	assert.Equal(t, unix.EINVAL, res.Err, "a flag advice on a piece")
	assert.Equal(t, 1, count(m.AS))

	as = hugetlb(t)
	require.NoError(t, as.Mseal(start+huge, huge, 0), "at a huge page boundary")
	assert.Equal(t, 2, count(as))
}
