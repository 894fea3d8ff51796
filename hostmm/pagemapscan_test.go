package hostmm

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// TestPagemapScanCategory: pagemap_page_category from an entry.
func TestPagemapScanCategory(t *testing.T) {
	var s pagemapScan
	const wpBit, softDirty = 1 << 57, 1 << 55
	for _, c := range []struct {
		entry uint64
		guard bool
		want  uint64
	}{
		{0, false, 0},
		{abi.PM_PRESENT, false, abi.PAGE_IS_PRESENT | abi.PAGE_IS_WRITTEN},
		{abi.PM_PRESENT | wpBit, false, abi.PAGE_IS_PRESENT},
		{abi.PM_PRESENT | abi.PM_FILE_SHARED | softDirty, false, abi.PAGE_IS_PRESENT | abi.PAGE_IS_WRITTEN | abi.PAGE_IS_FILE | abi.PAGE_IS_SOFT_DIRTY},
		{abi.PM_SWAP, false, abi.PAGE_IS_SWAPPED | abi.PAGE_IS_WRITTEN},
		{softDirty, true, abi.PAGE_IS_SWAPPED | abi.PAGE_IS_WRITTEN | abi.PAGE_IS_GUARD},
	} {
		assert.Equal(t, c.want, s.category(c.entry, c.guard), "entry %#x guard %v", c.entry, c.guard)
	}
}

// TestPagemapScanOutput: the filters, regions merged while contiguous
// and alike, and the vec_len and max_pages limits.
func TestPagemapScanOutput(t *testing.T) {
	const p, sw, g = abi.PAGE_IS_PRESENT, abi.PAGE_IS_SWAPPED, abi.PAGE_IS_GUARD
	s := pagemapScan{mask: 0, anyof: p | g, ret: p | g, vecLen: 2, maxPages: 3}
	assert.True(t, s.output(0x1000, p))
	assert.True(t, s.output(0x2000, p))
	assert.True(t, s.output(0x3000, sw), "filtered out")
	assert.True(t, s.output(0x4000, sw|g))
	assert.False(t, s.output(0x5000, g), "max_pages")
	assert.Equal(t, []pageRegion{{0x1000, 0x3000, p}, {0x4000, 0x5000, g}}, s.regions)

	s = pagemapScan{inverted: p, mask: p, ret: p, vecLen: 1}
	assert.True(t, s.output(0x1000, 0), "not present, inverted")
	assert.True(t, s.output(0x2000, p), "present, inverted: filtered out")
	assert.False(t, s.output(0x3000, 0), "vec full")
	assert.Equal(t, []pageRegion{{0x1000, 0x2000, 0}}, s.regions)
}

// TestPagemapScan scans pages of this process: the touched page present,
// the model's guard page a guard, regions and walk_end written back; bad
// arguments are EINVAL.
func TestPagemapScan(t *testing.T) {
	base, as := guardedModel(t, 3, 2)
	tr := newMemTracee(0x10000, 0x1000)
	const vec, argAddr = 0x10100, 0x10000
	a := PagemapScanArgs{Size: abi.PMScanArgSize, Start: base, End: base + 3*mm.PageSize, Vec: vec, VecLen: 8,
		Anyof: abi.PAGE_IS_PRESENT | abi.PAGE_IS_GUARD, Ret: abi.PAGE_IS_PRESENT | abi.PAGE_IS_GUARD}
	require.Equal(t, int64(2), PagemapScan(tr, os.Getpid(), as, argAddr, a))
	get := func(addr uint64) uint64 { return binary.LittleEndian.Uint64(tr.mem[addr-tr.base:]) }
	assert.Equal(t, []uint64{base, base + mm.PageSize, abi.PAGE_IS_PRESENT}, []uint64{get(vec), get(vec + 8), get(vec + 16)})
	assert.Equal(t, []uint64{base + 2*mm.PageSize, base + 3*mm.PageSize, abi.PAGE_IS_GUARD}, []uint64{get(vec + 24), get(vec + 32), get(vec + 40)})
	assert.Equal(t, base+3*mm.PageSize, get(argAddr+32), "walk_end")

	a.VecLen = 1
	require.Equal(t, int64(1), PagemapScan(tr, os.Getpid(), as, argAddr, a))
	assert.Equal(t, base+2*mm.PageSize, get(argAddr+32), "walk_end: the page that found the vec full")

	for _, bad := range []func(*PagemapScanArgs){
		func(a *PagemapScanArgs) { a.Size = 88 },
		func(a *PagemapScanArgs) { a.Ret = 0 },
		func(a *PagemapScanArgs) { a.Mask = 1 << 9 },
		func(a *PagemapScanArgs) { a.Start++ },
		func(a *PagemapScanArgs) { a.End = a.Start - 1 },
		func(a *PagemapScanArgs) { a.Vec = 0 },
	} {
		b := a
		bad(&b)
		assert.Equal(t, -int64(unix.EINVAL), PagemapScan(tr, os.Getpid(), as, argAddr, b), "%+v", b)
	}
}

// TestDecodePagemapScanArgs: struct pm_scan_arg's fields by offset.
func TestDecodePagemapScanArgs(t *testing.T) {
	b := make([]byte, abi.PMScanArgSize)
	for i := range 12 {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(i+1))
	}
	assert.Equal(t, PagemapScanArgs{Size: 1, Flags: 2, Start: 3, End: 4, Vec: 6, VecLen: 7, MaxPages: 8,
		Inverted: 9, Mask: 10, Anyof: 11, Ret: 12}, DecodePagemapScanArgs(b))
}
