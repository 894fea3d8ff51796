package mm

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const craftedMaps = `00400000-00401000 r--p 00000000 08:01 1234                               /usr/bin/prog
00401000-00402000 r-xp 00001000 08:01 1234                               /usr/bin/prog
00402000-00403000 rw-p 00002000 08:01 1234                               /usr/bin/prog
00403000-00404000 rw-p 00000000 00:00 0 
01000000-01021000 rw-p 00000000 00:00 0                                  [heap]
7f0000000000-7f0000001000 rw-s 00000000 00:01 5678                       /dev/zero (deleted)
7f0000001000-7f0000002000 rw-s 00001000 00:01 5678                       /dev/zero (deleted)
7f0000002000-7f0000003000 rw-s 00000000 00:01 5679                       [anon_shmem:pool]
7f0000003000-7f0000004000 rw-p 00000000 00:00 0                          [anon:arena]
7f0000004000-7f0000005000 rw-p 00000000 00:00 0 
7f0000005000-7f0000006000 r--p 00000000 00:00 0 
7f0000006000-7f0000007000 r--s 00000000 08:01 99                         /tmp/with space (deleted)
7f0000007000-7f0000008000 ---p 00000000 00:00 0 
7f0000008000-7f0000009000 ---p 00000000 00:00 0 
7f0000009000-7f000000a000 r--p 00000000 08:01 100                        /memfd:x (deleted)
7f000000a000-7f000000b000 r--p 00001000 08:01 100                        /memfd:x (deleted)
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
7ffc00100000-7ffc00104000 r--p 00000000 00:00 0                          [vvar]
7ffc00104000-7ffc00106000 r--p 00000000 00:00 0                          [vvar_vclock]
7ffc00106000-7ffc00108000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`

func roundTrip(t *testing.T, text string) {
	t.Helper()
	want, err := ParseMaps(text)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	as := FromMaps(want)
	require.NoError(t, as.Validate())
	got := as.Maps()
	assert.Empty(t, DiffMaps(got, want), "model vs host")
	// Formatting reproduces the kernel's text byte for byte.
	var b strings.Builder
	for _, l := range got {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	assert.Equal(t, text, b.String())
}

func TestMapsRoundTripCrafted(t *testing.T) {
	roundTrip(t, craftedMaps)
}

func TestMapsRoundTripSelf(t *testing.T) {
	text, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	roundTrip(t, string(text))
}

func TestMapsRoundTripCat(t *testing.T) {
	out, err := exec.Command("cat", "/proc/self/maps").Output()
	if err != nil {
		t.Skipf("cat: %v", err)
	}
	roundTrip(t, string(out))
}

func TestParseMapsErrors(t *testing.T) {
	for _, bad := range []string{
		"zz-1000 r--p 00000000 00:00 0",
		"1000-2000 r--q 00000000 00:00 0",
		"1000-2000 r--p 0000g000 00:00 0",
		"1000-2000 r--p 00000000 0000 0",
		"1000-2000 r--p 00000000 00:00 x",
		"2000-1000 r--p 00000000 00:00 0",
		"1000-1800 r--p 00000000 00:00 0",
	} {
		_, err := ParseMaps(bad + "\n")
		assert.Error(t, err, "ParseMaps(%q): got no error", bad)
	}
}

func TestFromMapsGuesses(t *testing.T) {
	ls, err := ParseMaps(craftedMaps)
	require.NoError(t, err)
	as := FromMaps(ls)
	sb, b := as.Brk()
	assert.Equal(t, [2]uint64{0x01000000, 0x01021000}, [2]uint64{sb, b})
	st, _ := as.Find(0x7ffc00000000)
	assert.NotZero(t, st.Flags&VMGrowsDown)
	v, _ := as.Find(0x7f0000003000)
	assert.Equal(t, "arena", v.Name)
	v, _ = as.Find(0x7f0000002000)
	assert.Equal(t, BackingSharedAnon, v.Backing.Kind)
	assert.Equal(t, "pool", v.Name)
	v, _ = as.Find(0x7f0000006000)
	assert.Equal(t, BackingFile, v.Backing.Kind)
	assert.Equal(t, "/tmp/with space (deleted)", v.Backing.Path)
	assert.Zero(t, v.Flags&(VMShared|VMMayWrite), "read-only shared file")
	v, _ = as.Find(0x7ffc00106000)
	assert.Equal(t, BackingVDSO, v.Backing.Kind)
	// The model can act on what it built: a new anon mapping next to the
	// plain rw-p one merges.
	require.NoError(t, as.Map(NewMmap(0x00404000, PageSize, ProtRead|ProtWrite, false, Backing{}, 0, false)))
	require.NoError(t, as.Validate())
	v, _ = as.Find(0x00403000)
	assert.Equal(t, uint64(0x00405000), v.End)
}
