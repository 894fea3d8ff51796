package hostmm

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"madvisor/mm"
)

// TestPatchVmFlags: the hidden flags' mnemonics follow the model, in the
// kernel's order (by bit, unknown ones by their kernel bit); the others
// stay as the host shows them.
func TestPatchVmFlags(t *testing.T) {
	all := mm.VMWipeOnFork | mm.VMMaybeGuard | mm.VMSealed
	rw := mm.VMRead | mm.VMWrite
	for _, c := range []struct {
		line          string
		flags, hidden mm.VMFlags
		want          string
	}{
		{"VmFlags: rd wr mr mw me ac sd um ", rw | mm.VMAccount | all, all, "VmFlags: rd wr mr mw me gu ac wf sd um sl "},
		{"VmFlags: rd wr mr mw me gu ac wf ", rw | mm.VMAccount, all, "VmFlags: rd wr mr mw me ac "},
		{"VmFlags: rd wr mr mw me gu ac wf ", rw | mm.VMAccount | mm.VMSealed, mm.VMSealed, "VmFlags: rd wr mr mw me gu ac wf sl "},
		{"VmFlags: rd ", mm.VMRead | mm.VMSealed, 0, "VmFlags: rd "},
		// VM_NOHUGEPAGE goes before VM_DROPPABLE's "dp".
		{"VmFlags: rd wr mr mw me nr wf dd dp ", rw | mm.VMNoHugePage, mm.VMNoHugePage,
			"VmFlags: rd wr mr mw me nr wf dd nh dp "},
		// Linux 6.1 prints VM_LOCKONFAULT as "??".
		{"VmFlags: rd lo ?? ac ", mm.VMRead | mm.VMLocked | mm.VMLockOnFault | mm.VMAccount, mm.VMLockOnFault,
			"VmFlags: rd lo lf ac "},
		// An emulated guard piece: PROT_NONE on the host, the access
		// flags and VM_ACCOUNT from the model.
		{"VmFlags: mr mw me ", rw | mm.VMExec | mm.VMMaybeGuard | mm.VMAccount, all | mm.VMAccessFlags | mm.VMAccount,
			"VmFlags: rd wr ex mr mw me gu ac "},
	} {
		assert.Equal(t, c.want, patchVmFlags(c.line, c.flags, c.hidden), "%q flags %#x hidden %#x", c.line, c.flags, c.hidden)
	}
}

// TestPatchSmaps: per model VMA, the header from the model, Size exact,
// kB counters summed over the host blocks in proportion to their overlap,
// page sizes and other lines from the first block, VmFlags patched; a
// VMA the host does not have (yet) is left out.
func TestPatchSmaps(t *testing.T) {
	lines, err := mm.ParseMaps(`00400000-00402000 r-xp 00000000 08:01 1234 /bin/x
00402000-00404000 rw-p 00000000 00:00 0
00500000-00501000 rw-p 00000000 00:00 0
`)
	require.NoError(t, err)
	as := mm.FromMaps(lines)
	require.NoError(t, as.SetFlags(0x402000, 0x404000, mm.VMSealed, 0))
	// The host splits the sealed VMA (a PROT_NONE guard piece, say) and
	// lacks the third.
	host := ParseSmaps(`00400000-00402000 r-xp 00000000 08:01 1234                               /bin/x
Size:                  8 kB
Rss:                   8 kB
KernelPageSize:        4 kB
THPeligible:    0
VmFlags: rd ex mr mw me 
00402000-00403000 rw-p 00000000 00:00 0 
Size:                  4 kB
Rss:                   4 kB
Pss:                   3 kB
KernelPageSize:        4 kB
VmFlags: rd wr mr mw me ac 
00403000-00404000 ---p 00000000 00:00 0 
Size:                  4 kB
Rss:                   0 kB
Pss:                   2 kB
KernelPageSize:        4 kB
VmFlags: mr mw me ac 
`)
	want := lines[0].String() + `
Size:                  8 kB
Rss:                   8 kB
KernelPageSize:        4 kB
THPeligible:    0
VmFlags: rd ex mr mw me 
` + lines[1].String() + `
Size:                  8 kB
Rss:                   4 kB
Pss:                   5 kB
KernelPageSize:        4 kB
VmFlags: rd wr mr mw me ac sl 
`
	assert.Equal(t, want, patchSmaps(as, host, mm.VMSealed|mm.VMMaybeGuard))
}

// TestPatchSmapsGuardFirst: a VMA whose first page is an emulated guard
// (a PROT_NONE piece on the host, without VM_ACCOUNT) takes its VmFlags
// from the host block after it, the access flags from the model.
func TestPatchSmapsGuardFirst(t *testing.T) {
	lines, err := mm.ParseMaps("00402000-00404000 rw-p 00000000 00:00 0\n")
	require.NoError(t, err)
	as := mm.FromMaps(lines)
	require.NoError(t, as.AddGuards(0x402000, 0x403000))
	hostText := `00402000-00403000 ---p 00000000 00:00 0 
Size:                  4 kB
VmFlags: mr mw me 
00403000-00404000 rw-p 00000000 00:00 0 
Size:                  4 kB
VmFlags: rd wr mr mw me ac 
`
	host := ParseSmaps(hostText)
	want := lines[0].String() + `
Size:                  8 kB
VmFlags: rd wr mr mw me gu ac 
`
	assert.Equal(t, want, patchSmaps(as, host, mm.VMSealed|mm.VMMaybeGuard))

	// VM_LOCKONFAULT from the model: a 6.1 host prints "??" for it.
	require.NoError(t, as.SetFlags(0x402000, 0x404000, mm.VMLocked|mm.VMLockOnFault, 0))
	host = ParseSmaps(strings.ReplaceAll(strings.ReplaceAll(hostText, "me ac", "me lo ?? ac"), "me \n", "me lo \n"))
	want = strings.Replace(want, "me gu ac", "me gu lo lf ac", 1)
	assert.Equal(t, want, patchSmaps(as, host, mm.VMSealed|mm.VMMaybeGuard))
}

// TestViewWrite writes the maps view of this process into a file: the
// model's lines.
func TestViewWrite(t *testing.T) {
	pid := os.Getpid()
	lines, err := ReadMaps(pid)
	require.NoError(t, err)
	as := mm.FromMaps(lines)
	f, err := os.CreateTemp(t.TempDir(), "maps")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, View{Tid: pid, FD: int(f.Fd()), Pid: pid}.Write(as, 0))
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	var want strings.Builder
	for _, l := range as.Maps() {
		fmt.Fprintln(&want, l.String())
	}
	assert.Equal(t, want.String(), string(got))
}
