package mm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestScaleMaxMapCount(t *testing.T) {
	const n = DefaultMaxMapCount
	start := time.Now()
	as := NewAddressSpace()
	// n one-page VMAs, alternating prot so that they do not merge.
	for i := uint64(0); i < n; i++ {
		p := ProtRead
		if i%2 == 1 {
			p |= ProtWrite
		}
		require.NoError(t, as.Map(anonMap(i, 1, p)))
	}
	require.Equal(t, n, as.Len())
	require.NoError(t, as.Validate())
	assert.Equal(t, uint64(n), as.Stats().TotalPages)

	// Lookups.
	for i := uint64(0); i < n; i++ {
		v, ok := as.Find(at(i) + 123)
		require.True(t, ok)
		require.Equal(t, at(i), v.Start)
	}
	_, ok := as.Find(at(n))
	assert.False(t, ok)
	v, ok := as.FindNext(at(n) - 1)
	require.True(t, ok)
	assert.Equal(t, at(n-1), v.Start)

	// A range walk visits exactly the k VMAs of the range.
	k := 0
	as.Walk(at(1000), at(1010), func(v VMA) bool { k++; return true })
	assert.Equal(t, 10, k)

	// Merge everything: one mprotect over all of it.
	require.NoError(t, as.Protect(at(0), at(n), ProtRead|ProtWrite))
	require.NoError(t, as.Validate())
	assert.Equal(t, 1, as.Len())

	// Split it back into n VMAs, one madvise per odd page.
	for i := uint64(1); i < n; i += 2 {
		require.NoError(t, as.SetFlags(at(i), at(i+1), VMDontDump, 0))
	}
	require.Equal(t, n, as.Len())
	require.NoError(t, as.Validate())

	// At vm.max_map_count, no split is allowed, but whole-VMA changes that
	// merge are.
	require.NoError(t, as.Map(anonMap(n+10, 3, ProtRead)))
	assert.Equal(t, unix.ENOMEM, as.Protect(at(n+11), at(n+12), ProtNone))
	assert.Equal(t, unix.EAGAIN, as.MadviseFlags(at(n+11), at(n+12), VMDontDump, 0))
	require.NoError(t, as.SetFlags(at(1), at(2), 0, VMDontDump))
	assert.Equal(t, n-1, as.Len())

	// Fork and unmap everything.
	c := as.Fork()
	require.NoError(t, c.Validate())
	assert.Equal(t, as.Len(), c.Len())
	require.NoError(t, as.Unmap(at(0), at(n+20)))
	assert.Equal(t, 0, as.Len())
	require.NoError(t, as.Validate())
	assert.Equal(t, Stats{}, as.Stats())

	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("scale test took %v, want seconds", d)
	}
	t.Logf("scale test: %v", time.Since(start))
}

func BenchmarkFind(b *testing.B) {
	as := NewAddressSpace()
	for i := uint64(0); i < DefaultMaxMapCount; i++ {
		require.NoError(b, as.Map(anonMap(2*i, 1, ProtRead)))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as.Find(at(uint64(i%DefaultMaxMapCount) * 2))
	}
}

func BenchmarkSplitMerge(b *testing.B) {
	as := NewAddressSpace()
	require.NoError(b, as.Map(anonMap(0, DefaultMaxMapCount, ProtRead)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := uint64(i%(DefaultMaxMapCount-2)) + 1
		_ = as.Protect(at(p), at(p+1), ProtNone)
		_ = as.Protect(at(p), at(p+1), ProtRead)
	}
}
