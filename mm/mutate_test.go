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

// TestHostSiblingsShareAnonVMA: VMAs split by a flag only the model has
// (an emulated WIPEONFORK) are one VMA on the host, with one anon_vma:
// the model gives the pieces the same one, whichever asks first.
func TestHostSiblingsShareAnonVMA(t *testing.T) {
	for _, hidden := range []VMFlags{0, VMWipeOnFork} {
		as := NewAddressSpace()
		as.HiddenFlags = hidden
		require.NoError(t, as.Map(anonRW(0, 8)))
		require.NoError(t, as.SetFlags(at(3), at(8), VMWipeOnFork, 0))
		as.PrepareAnonVMA(at(4), at(5)) // the second piece first
		as.PrepareAnonVMA(at(0), at(1))
		vs := as.VMAs()
		require.Len(t, vs, 2)
		require.NotZero(t, vs[0].AnonVMA)
		if hidden != 0 {
			assert.Equal(t, vs[0].AnonVMA, vs[1].AnonVMA, "one host VMA, one anon_vma")
		} else {
			assert.NotEqual(t, vs[0].AnonVMA, vs[1].AnonVMA, "two host VMAs of different flags")
		}
	}
}
