package hostmm

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

const smapsSample = `00400000-00402000 r-xp 00000000 08:01 1234                               /bin/x
Size:                  8 kB
Rss:                   8 kB
VmFlags: rd ex mr mw me 
00402000-00403000 rw-p 00000000 00:00 0 
Size:                  4 kB
ProtectionKey:         3
VmFlags: rd wr mr mw me ac 
`

// TestParseSmaps: a block per maps line, holding the lines up to the next.
func TestParseSmaps(t *testing.T) {
	blocks := ParseSmaps(smapsSample)
	require.Len(t, blocks, 2)
	assert.Equal(t, mm.MapsLine{Start: 0x400000, End: 0x402000, Perms: "r-xp", DevMajor: 8, DevMinor: 1, Inode: 1234, Path: "/bin/x"}, blocks[0].Line)
	assert.Equal(t, []string{"Size:                  8 kB", "Rss:                   8 kB", "VmFlags: rd ex mr mw me "}, blocks[0].Fields)
	assert.Equal(t, uint64(0x402000), blocks[1].Line.Start)
	assert.Len(t, blocks[1].Fields, 3)
	assert.Empty(t, ParseSmaps("Size: 4 kB\n"), "fields before any block")
}

// TestSmapsField: the field of the block holding the address, if it has
// one.
func TestSmapsField(t *testing.T) {
	blocks := ParseSmaps(smapsSample)
	for _, c := range []struct {
		addr  uint64
		name  string
		want  string
		found bool
	}{
		{0x401fff, "Rss", "8 kB", true},
		{0x402000, "ProtectionKey", "3", true},
		{0x400000, "ProtectionKey", "", false},
		{0x403000, "Size", "", false},
	} {
		got, ok := smapsFieldIn(blocks, c.addr, c.name)
		assert.Equal(t, c.found, ok, "%#x %s", c.addr, c.name)
		assert.Equal(t, c.want, got, "%#x %s", c.addr, c.name)
	}
}

// TestQueryMapsLine: a PROCMAP_QUERY answer as the maps line it describes.
func TestQueryMapsLine(t *testing.T) {
	q := abi.ProcmapQuery{VMAStart: 0x1000, VMAEnd: 0x3000, VMAOffset: 0x2000, Inode: 9, DevMajor: 8, DevMinor: 2,
		VMAFlags: abi.PROCMAP_QUERY_VMA_READABLE | abi.PROCMAP_QUERY_VMA_EXECUTABLE | abi.PROCMAP_QUERY_VMA_SHARED, VMANameSize: 5}
	got := queryMapsLine(q, []byte("/lib\x00junk"))
	assert.Equal(t, mm.MapsLine{Start: 0x1000, End: 0x3000, Perms: "r-xs", Offset: 0x2000, DevMajor: 8, DevMinor: 2, Inode: 9, Path: "/lib"}, got)
	q.VMAFlags, q.VMANameSize = abi.PROCMAP_QUERY_VMA_WRITABLE, 0
	got = queryMapsLine(q, nil)
	assert.Equal(t, "-w-p", got.Perms)
	assert.Empty(t, got.Path)
}

// TestHostReaders reads this process's /proc files: its maps (and the
// line at an address, by PROCMAP_QUERY or the text), the boundaries of
// a mapping, its stat layout, an fd's mode and its capabilities.
func TestHostReaders(t *testing.T) {
	pid := os.Getpid()
	b, err := unix.Mmap(-1, 0, 3*int(mm.PageSize), unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(b)
	require.NoError(t, unix.Mprotect(b[mm.PageSize:2*mm.PageSize], unix.PROT_READ|unix.PROT_WRITE))
	base := uint64(uintptr(unsafe.Pointer(&b[0])))

	lines, err := ReadMaps(pid)
	require.NoError(t, err)
	assert.NotEmpty(t, lines)
	l, ok := MapsLineAt(pid, base+mm.PageSize+8)
	require.True(t, ok)
	assert.Equal(t, mm.MapsLine{Start: base + mm.PageSize, End: base + 2*mm.PageSize, Perms: "rw-p"}, l)

	// The host VMAs around the middle page: it, and a neighbour on each
	// side (which may have merged with others: only their ends count).
	vmas := HostVMAsIn(pid, base+mm.PageSize, base+2*mm.PageSize)
	require.Len(t, vmas, 3)
	assert.Equal(t, [2]uint64{base + mm.PageSize, base + 2*mm.PageSize}, vmas[1])
	assert.Equal(t, base+mm.PageSize, vmas[0][1])
	assert.Equal(t, base+2*mm.PageSize, vmas[2][0])

	startBrk, startStack, err := ReadStatLayout(pid)
	require.NoError(t, err)
	assert.NotZero(t, startBrk)
	assert.NotZero(t, startStack)

	f, err := os.CreateTemp(t.TempDir(), "w")
	require.NoError(t, err)
	defer f.Close()
	assert.True(t, OpenForWriting(pid, int(f.Fd())))
	r, err := os.Open(f.Name())
	require.NoError(t, err)
	defer r.Close()
	assert.False(t, OpenForWriting(pid, int(r.Fd())))
	pos, ok := FdinfoField(pid, int(r.Fd()), "pos")
	assert.True(t, ok)
	assert.Equal(t, "0", pos)

	var hdr unix.CapUserHeader
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	var data [2]unix.CapUserData
	require.NoError(t, unix.Capget(&hdr, &data[0]))
	assert.Equal(t, data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0, HasCapability(unix.Gettid(), unix.CAP_SYS_ADMIN))
	assert.Equal(t, data[1].Effective&(1<<(unix.CAP_CHECKPOINT_RESTORE-32)) != 0, HasCapability(unix.Gettid(), unix.CAP_CHECKPOINT_RESTORE))
}

// TestFlagsFromSmaps: the model takes the masked flags the host's smaps
// shows (here VM_LOCKED of an mlocked mapping), and no others.
func TestFlagsFromSmaps(t *testing.T) {
	b, err := unix.Mmap(-1, 0, int(mm.PageSize), unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(b)
	if err := unix.Mlock(b); err != nil {
		t.Skipf("mlock: %v", err)
	}
	base := uint64(uintptr(unsafe.Pointer(&b[0])))
	lines, err := ReadMaps(os.Getpid())
	require.NoError(t, err)
	as := mm.FromMaps(lines)
	FlagsFromSmaps(as, os.Getpid(), mm.VMLocked)
	v, ok := as.Find(base)
	require.True(t, ok)
	assert.NotZero(t, v.Flags&mm.VMLocked)
	f, ok := DriverFlags(os.Getpid(), base)
	assert.True(t, ok)
	assert.Zero(t, f)
}

// TestParseHostVmFlags: Linux 6.1 prints VM_LOCKONFAULT as "??".
func TestParseHostVmFlags(t *testing.T) {
	assert.Equal(t, mm.VMRead|mm.VMLocked|mm.VMLockOnFault|mm.VMAccount, parseHostVmFlags(" rd lo ?? ac "))
	assert.Equal(t, mm.VMRead|mm.VMLocked|mm.VMLockOnFault, parseHostVmFlags(" rd lo lf "))
	assert.Equal(t, mm.VMRead, parseHostVmFlags(" rd ?? "))
}
