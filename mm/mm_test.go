package mm

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const base = 0x7f0000000000

func pg(n uint64) uint64 { return n * PageSize }

// at returns the address of page n from base.
func at(n uint64) uint64 { return base + pg(n) }

func anonMap(startPage, pages uint64, prot Prot) VMA {
	return NewMmap(at(startPage), pg(pages), prot, false, Backing{}, 0, false)
}

var fileA = Backing{Kind: BackingFile, DevMajor: 0xfe, Inode: 42, Path: "/data/a", FileID: 1}

// span is a compact view of a VMA for comparisons: page range relative to
// base and perms.
type span struct {
	lo, hi uint64
	perms  string
}

func spans(as *AddressSpace) []span {
	var out []span
	for _, l := range as.Maps() {
		out = append(out, span{(l.Start - base) / PageSize, (l.End - base) / PageSize, l.Perms})
	}
	return out
}

// op is one step of a table test.
type op func(t *testing.T, as *AddressSpace)

func mapOp(v VMA) op {
	return func(t *testing.T, as *AddressSpace) { require.NoError(t, as.Map(v), "Map(%v)", v) }
}

func protOp(lo, hi uint64, p Prot) op {
	return func(t *testing.T, as *AddressSpace) {
		require.NoError(t, as.Protect(at(lo), at(hi), p), "Protect(%d, %d, %s)", lo, hi, p)
	}
}

func touchOp(lo, hi uint64) op {
	return func(t *testing.T, as *AddressSpace) { as.PrepareAnonVMA(at(lo), at(hi)) }
}

func unmapOp(lo, hi uint64) op {
	return func(t *testing.T, as *AddressSpace) { require.NoError(t, as.Unmap(at(lo), at(hi))) }
}

func flagsOp(lo, hi uint64, set, clear VMFlags) op {
	return func(t *testing.T, as *AddressSpace) { require.NoError(t, as.SetFlags(at(lo), at(hi), set, clear)) }
}

func remapOp(oldLo, oldPages, newLo, newPages uint64) op {
	return func(t *testing.T, as *AddressSpace) {
		require.NoError(t, as.Remap(at(oldLo), pg(oldPages), at(newLo), pg(newPages)))
	}
}

func runOps(t *testing.T, ops []op) *AddressSpace {
	t.Helper()
	as := NewAddressSpace()
	for i, o := range ops {
		o(t, as)
		require.NoError(t, as.Validate(), "after op %d", i)
	}
	return as
}

func TestSplitMerge(t *testing.T) {
	rw, r, none := ProtRead|ProtWrite, ProtRead, ProtNone
	for _, tc := range []struct {
		name string
		ops  []op
		want []span
	}{
		{
			name: "adjacent anon mmaps merge",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(2, 2, rw))},
			want: []span{{0, 4, "rw-p"}},
		},
		{
			name: "different prot does not merge",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(2, 2, r))},
			want: []span{{0, 2, "rw-p"}, {2, 4, "r--p"}},
		},
		{
			name: "mprotect middle splits in three",
			ops:  []op{mapOp(anonMap(0, 6, rw)), protOp(2, 4, none)},
			want: []span{{0, 2, "rw-p"}, {2, 4, "---p"}, {4, 6, "rw-p"}},
		},
		{
			name: "mprotect middle NONE then RW re-merges (untouched)",
			ops:  []op{mapOp(anonMap(0, 6, rw)), protOp(2, 4, none), protOp(2, 4, rw)},
			want: []span{{0, 6, "rw-p"}},
		},
		{
			name: "mprotect middle NONE then RW re-merges (touched)",
			ops:  []op{mapOp(anonMap(0, 6, rw)), touchOp(0, 6), protOp(2, 4, none), protOp(2, 4, rw)},
			want: []span{{0, 6, "rw-p"}},
		},
		{
			name: "PROT_NONE|NORESERVE then prefix RW",
			ops: []op{
				mapOp(NewMmap(at(0), pg(8), none, false, Backing{}, 0, true)),
				protOp(0, 2, rw),
			},
			want: []span{{0, 2, "rw-p"}, {2, 8, "---p"}},
		},
		{
			name: "PROT_NONE|NORESERVE, prefix RW, rest RW merges",
			ops: []op{
				mapOp(NewMmap(at(0), pg(8), none, false, Backing{}, 0, true)),
				protOp(0, 2, rw), protOp(2, 8, rw),
			},
			want: []span{{0, 8, "rw-p"}},
		},
		{
			// A written VMA keeps VM_ACCOUNT when made PROT_NONE; it no
			// longer merges with a PROT_NONE neighbour: two ---p lines.
			name: "VM_ACCOUNT hidden state splits equal perms (touched)",
			ops: []op{
				mapOp(anonMap(0, 2, rw)), touchOp(0, 2), mapOp(anonMap(2, 6, none)),
				protOp(0, 2, none),
			},
			want: []span{{0, 2, "---p"}, {2, 8, "---p"}},
		},
		{
			// Never written: VM_ACCOUNT is dropped, and the two merge.
			name: "VM_ACCOUNT dropped when untouched",
			ops: []op{
				mapOp(anonMap(0, 2, rw)), mapOp(anonMap(2, 6, none)),
				protOp(0, 2, none),
			},
			want: []span{{0, 8, "---p"}},
		},
		{
			name: "mprotect prefix merges into previous VMA",
			ops:  []op{mapOp(anonMap(0, 2, r)), mapOp(anonMap(2, 4, rw)), protOp(2, 3, r)},
			want: []span{{0, 3, "r--p"}, {3, 6, "rw-p"}},
		},
		{
			name: "mprotect suffix merges into next VMA",
			ops:  []op{mapOp(anonMap(0, 4, rw)), mapOp(anonMap(4, 2, r)), protOp(3, 4, r)},
			want: []span{{0, 3, "rw-p"}, {3, 6, "r--p"}},
		},
		{
			name: "MAP_FIXED over the middle re-merges",
			ops:  []op{mapOp(anonMap(0, 6, rw)), mapOp(anonMap(2, 2, rw))},
			want: []span{{0, 6, "rw-p"}},
		},
		{
			name: "munmap middle",
			ops:  []op{mapOp(anonMap(0, 6, rw)), unmapOp(2, 4)},
			want: []span{{0, 2, "rw-p"}, {4, 6, "rw-p"}},
		},
		{
			name: "munmap across VMAs and holes",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(3, 2, r)), mapOp(anonMap(6, 2, rw)), unmapOp(1, 7)},
			want: []span{{0, 1, "rw-p"}, {7, 8, "rw-p"}},
		},
		{
			name: "madvise flag middle splits, reverting merges",
			ops:  []op{mapOp(anonMap(0, 6, rw)), flagsOp(2, 4, VMDontCopy, 0), flagsOp(0, 6, 0, VMDontCopy)},
			want: []span{{0, 6, "rw-p"}},
		},
		{
			name: "file mappings with contiguous offsets merge",
			ops: []op{
				mapOp(NewMmap(at(0), pg(2), r, false, fileA, 0, false)),
				mapOp(NewMmap(at(2), pg(2), r, false, fileA, 2, false)),
			},
			want: []span{{0, 4, "r--p"}},
		},
		{
			name: "file mappings with a pgoff jump do not merge",
			ops: []op{
				mapOp(NewMmap(at(0), pg(2), r, false, fileA, 0, false)),
				mapOp(NewMmap(at(2), pg(2), r, false, fileA, 3, false)),
			},
			want: []span{{0, 2, "r--p"}, {2, 4, "r--p"}},
		},
		{
			name: "two opens of one file do not merge",
			ops: []op{
				mapOp(NewMmap(at(0), pg(2), r, false, fileA, 0, false)),
				mapOp(NewMmap(at(2), pg(2), r, false, func() Backing { b := fileA; b.FileID = 2; return b }(), 2, false)),
			},
			want: []span{{0, 2, "r--p"}, {2, 4, "r--p"}},
		},
		{
			name: "shared anon mappings never merge with each other",
			ops: []op{
				mapOp(NewMmap(at(0), pg(2), rw, true, SharedAnonBacking(0, 1, 7), 0, false)),
				mapOp(NewMmap(at(2), pg(2), rw, true, SharedAnonBacking(0, 1, 8), 0, false)),
			},
			want: []span{{0, 2, "rw-s"}, {2, 4, "rw-s"}},
		},
		{
			name: "shared anon split re-merges",
			ops: []op{
				mapOp(NewMmap(at(0), pg(4), rw, true, SharedAnonBacking(0, 1, 7), 0, false)),
				protOp(1, 2, r), protOp(1, 2, rw),
			},
			want: []span{{0, 4, "rw-s"}},
		},
		{
			name: "VM_SPECIAL never merges",
			ops: []op{
				mapOp(func() VMA { v := anonMap(0, 2, rw); v.Flags |= VMIO; return v }()),
				mapOp(func() VMA { v := anonMap(2, 2, rw); v.Flags |= VMIO; return v }()),
			},
			want: []span{{0, 2, "rw-p"}, {2, 4, "rw-p"}},
		},
		{
			name: "untouched anon moved next to a neighbour merges (pgoff reset)",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(10, 2, rw)), remapOp(10, 2, 2, 2)},
			want: []span{{0, 4, "rw-p"}},
		},
		{
			name: "touched anon moved next to a neighbour keeps pgoff: no merge",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(10, 2, rw)), touchOp(10, 12), remapOp(10, 2, 2, 2)},
			want: []span{{0, 2, "rw-p"}, {2, 4, "rw-p"}},
		},
		{
			name: "touched anon moved back re-merges",
			ops: []op{
				mapOp(anonMap(0, 4, rw)), touchOp(0, 4),
				remapOp(2, 2, 10, 2), remapOp(10, 2, 2, 2),
			},
			want: []span{{0, 4, "rw-p"}},
		},
		{
			name: "separately faulted halves have different anon_vmas",
			ops: []op{
				mapOp(anonMap(0, 6, rw)), protOp(2, 4, none),
				touchOp(0, 2), touchOp(4, 6), protOp(2, 4, rw),
			},
			want: []span{{0, 4, "rw-p"}, {4, 6, "rw-p"}},
		},
		{
			name: "mremap shrink in place",
			ops:  []op{mapOp(anonMap(0, 6, rw)), remapOp(0, 6, 0, 2)},
			want: []span{{0, 2, "rw-p"}},
		},
		{
			name: "mremap grow in place",
			ops:  []op{mapOp(anonMap(0, 2, rw)), remapOp(0, 2, 0, 5)},
			want: []span{{0, 5, "rw-p"}},
		},
		{
			name: "mremap grow in place up to a compatible VMA merges",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(5, 2, rw)), unmapOp(2, 5), remapOp(0, 2, 0, 5)},
			want: []span{{0, 7, "rw-p"}},
		},
		{
			name: "mremap move part of a VMA",
			ops:  []op{mapOp(anonMap(0, 6, rw)), touchOp(0, 6), remapOp(2, 2, 20, 3)},
			want: []span{{0, 2, "rw-p"}, {4, 6, "rw-p"}, {20, 23, "rw-p"}},
		},
		{
			name: "mremap move over an existing mapping",
			ops:  []op{mapOp(anonMap(0, 2, rw)), mapOp(anonMap(20, 4, r)), touchOp(0, 2), remapOp(0, 2, 21, 2)},
			want: []span{{20, 21, "r--p"}, {21, 23, "rw-p"}, {23, 24, "r--p"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := runOps(t, tc.ops)
			assert.Equal(t, tc.want, spans(as), "got spans, want spans")
		})
	}
}

func TestAccountHiddenFlag(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 4, ProtNone)))
	v, ok := as.Find(at(0))
	require.True(t, ok)
	assert.Zero(t, v.Flags&VMAccount, "PROT_NONE mapping: got ACCOUNT set")
	require.NoError(t, as.Protect(at(0), at(4), ProtRead|ProtWrite))
	v, _ = as.Find(at(0))
	assert.NotZero(t, v.Flags&VMAccount, "made writable: want ACCOUNT")
	as.PrepareAnonVMA(at(0), at(4))
	require.NoError(t, as.Protect(at(0), at(4), ProtRead))
	v, _ = as.Find(at(0))
	assert.NotZero(t, v.Flags&VMAccount, "touched and made read-only: want ACCOUNT kept")
	require.NoError(t, as.Validate())

	nr := NewAddressSpace()
	require.NoError(t, nr.Map(NewMmap(at(0), pg(4), ProtNone, false, Backing{}, 0, true)))
	require.NoError(t, nr.Protect(at(0), at(1), ProtRead|ProtWrite))
	v, _ = nr.Find(at(0))
	assert.Zero(t, v.Flags&VMAccount, "NORESERVE made writable: got ACCOUNT")
	assert.NotZero(t, v.Flags&VMNoReserve)
	require.NoError(t, nr.Validate())
}

func TestProtectErrors(t *testing.T) {
	ro := fileA
	ro.Writable = false
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 2, ProtRead)))
	require.NoError(t, as.Map(NewMmap(at(2), pg(2), ProtRead, true, ro, 0, false)))
	require.NoError(t, as.Map(anonMap(6, 2, ProtRead)))

	// EACCES on the read-only shared file; the VMA before it is changed.
	assert.Equal(t, unix.EACCES, as.Protect(at(0), at(4), ProtRead|ProtWrite))
	v, _ := as.Find(at(0))
	assert.Equal(t, ProtRead|ProtWrite, v.Prot())

	// ENOMEM at a hole, the part before it changed.
	assert.Equal(t, unix.ENOMEM, as.Protect(at(6), at(9), ProtNone))
	v, _ = as.Find(at(6))
	assert.Equal(t, ProtNone, v.Prot())
	// ENOMEM when start is unmapped, nothing changed.
	assert.Equal(t, unix.ENOMEM, as.Protect(at(5), at(7), ProtRead))
	v, _ = as.Find(at(6))
	assert.Equal(t, ProtNone, v.Prot())

	// Sealed: EPERM.
	require.NoError(t, as.SetFlags(at(0), at(2), VMSealed, 0))
	assert.Equal(t, unix.EPERM, as.Protect(at(0), at(1), ProtNone))
	assert.Equal(t, unix.EPERM, as.Unmap(at(1), at(3)))
	assert.Equal(t, unix.EPERM, as.Map(anonMap(0, 1, ProtRead)))
	require.NoError(t, as.Validate())
	assert.Equal(t, 3, as.Len())
}

func TestMadviseWalkGaps(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 2, ProtRead)))
	require.NoError(t, as.Map(anonMap(4, 2, ProtRead)))
	assert.Equal(t, unix.ENOMEM, as.SetFlags(at(1), at(5), VMDontDump, 0))
	require.NoError(t, as.Validate())
	var got []VMFlags
	as.Walk(at(0), at(6), func(v VMA) bool {
		got = append(got, v.Flags&VMDontDump)
		return true
	})
	assert.Equal(t, []VMFlags{0, VMDontDump, VMDontDump, 0}, got)
}

func TestMaxMapCount(t *testing.T) {
	as := NewAddressSpace()
	as.MaxMapCount = 3
	require.NoError(t, as.Map(anonMap(0, 10, ProtRead)))
	require.NoError(t, as.Map(anonMap(20, 10, ProtRead)))
	require.NoError(t, as.Map(anonMap(40, 10, ProtRead)))
	assert.Equal(t, unix.ENOMEM, as.SetFlags(at(1), at(2), VMDontDump, 0))
	assert.Equal(t, unix.EAGAIN, as.MadviseFlags(at(1), at(2), VMDontDump, 0))
	assert.Equal(t, unix.ENOMEM, as.Unmap(at(1), at(2)))
	assert.Equal(t, unix.ENOMEM, as.Protect(at(0), at(1), ProtNone))
	// A whole-VMA change needs no split.
	require.NoError(t, as.Protect(at(0), at(10), ProtNone))
	// Unmapping a prefix needs no extra VMA.
	require.NoError(t, as.Unmap(at(20), at(21)))
	require.NoError(t, as.Validate())
	assert.Equal(t, 3, as.Len())
}

func TestNamesAndUffd(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 6, ProtRead|ProtWrite)))
	require.NoError(t, as.SetName(at(2), at(4), "buf"))
	require.NoError(t, as.Validate())
	ls := as.Maps()
	require.Len(t, ls, 3)
	assert.Equal(t, "[anon:buf]", ls[1].Path)
	require.NoError(t, as.SetName(at(0), at(6), "buf"))
	assert.Equal(t, 1, as.Len(), "same name everywhere: want one VMA")

	require.NoError(t, as.SetUffd(at(0), at(1), true))
	assert.Equal(t, 2, as.Len())
	require.NoError(t, as.SetUffd(at(0), at(1), false))
	assert.Equal(t, 1, as.Len())
	require.NoError(t, as.Validate())

	require.NoError(t, as.Map(NewMmap(at(10), pg(2), ProtRead, false, fileA, 0, false)))
	assert.Equal(t, unix.EBADF, as.SetName(at(10), at(12), "x"))

	require.NoError(t, as.Map(NewMmap(at(20), pg(2), ProtRead, true, SharedAnonBacking(0, 1, 99), 0, false)))
	require.NoError(t, as.SetName(at(20), at(22), "shm"))
	l := as.Maps()[len(as.Maps())-1]
	assert.Equal(t, "[anon_shmem:shm]", l.Path)
}

func TestGuards(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 8, ProtRead|ProtWrite)))
	require.NoError(t, as.AddGuards(at(2), at(4)))
	require.NoError(t, as.Validate())
	assert.Equal(t, 1, as.Len(), "guards must not split")
	v, _ := as.Find(at(0))
	assert.True(t, v.IsGuard(at(2)) && v.IsGuard(at(3)) && !v.IsGuard(at(4)) && !v.IsGuard(at(1)))
	assert.NotZero(t, v.Flags&VMMaybeGuard)
	assert.NotZero(t, v.AnonVMA, "guard install on anon: want an anon_vma")
	assert.Equal(t, uint64(2), as.Stats().GuardPages)

	// Split by mprotect: guards follow their pages.
	require.NoError(t, as.Protect(at(3), at(5), ProtRead))
	require.NoError(t, as.Validate())
	lo, _ := as.Find(at(0))
	mid, _ := as.Find(at(3))
	assert.Equal(t, [][2]uint64{{2, 3}}, lo.Guards.Ranges())
	assert.Equal(t, [][2]uint64{{0, 1}}, mid.Guards.Ranges())
	// Merge back: union.
	require.NoError(t, as.Protect(at(3), at(5), ProtRead|ProtWrite))
	require.NoError(t, as.Validate())
	require.Equal(t, 1, as.Len())
	v, _ = as.Find(at(0))
	assert.Equal(t, [][2]uint64{{2, 4}}, v.Guards.Ranges())

	// Move: guards go with the pages.
	require.NoError(t, as.Remap(at(0), pg(8), at(100), pg(8)))
	require.NoError(t, as.Validate())
	v, ok := as.Find(at(100))
	require.True(t, ok)
	assert.Equal(t, [][2]uint64{{2, 4}}, v.Guards.Ranges())
	// Shrink drops the tail's guards; growing back does not restore them.
	require.NoError(t, as.Remap(at(100), pg(8), at(100), pg(3)))
	require.NoError(t, as.Remap(at(100), pg(3), at(100), pg(8)))
	require.NoError(t, as.Validate())
	v, _ = as.Find(at(100))
	assert.Equal(t, [][2]uint64{{2, 3}}, v.Guards.Ranges())

	// Remove: flag stays sticky.
	require.NoError(t, as.RemoveGuards(at(100), at(108)))
	v, _ = as.Find(at(100))
	assert.True(t, v.Guards.Empty())
	assert.NotZero(t, v.Flags&VMMaybeGuard)
	// munmap removes them; a new mapping is unguarded.
	require.NoError(t, as.AddGuards(at(100), at(101)))
	require.NoError(t, as.Unmap(at(100), at(101)))
	require.NoError(t, as.Map(anonMap(100, 1, ProtRead|ProtWrite)))
	v, _ = as.Find(at(100))
	assert.False(t, v.IsGuard(at(100)))
	require.NoError(t, as.Validate())

	// Errors.
	require.NoError(t, as.SetFlags(at(100), at(108), VMLocked, 0))
	assert.Equal(t, unix.EINVAL, as.AddGuards(at(100), at(101)))
	assert.NoError(t, as.RemoveGuards(at(100), at(101)))
	assert.Equal(t, unix.ENOMEM, as.RemoveGuards(at(99), at(101)))
}

func TestFork(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 4, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(10, 4, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(20, 4, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(30, 4, ProtRead|ProtWrite)))
	require.NoError(t, as.AddGuards(at(1), at(2)))
	require.NoError(t, as.SetFlags(at(10), at(14), VMDontCopy, 0))
	require.NoError(t, as.AddGuards(at(21), at(22)))
	require.NoError(t, as.SetFlags(at(20), at(24), VMWipeOnFork, 0))
	require.NoError(t, as.SetFlags(at(30), at(34), VMLocked, 0))
	require.NoError(t, as.SetUffd(at(30), at(31), true))
	as.SetBrk(at(40), at(41))
	require.NoError(t, as.Validate())

	c := as.Fork()
	require.NoError(t, c.Validate())
	// [0,4) [20,24) [30,31) [31,34): the uffd split stays in the child.
	assert.Equal(t, 4, c.Len(), "DONTCOPY VMA: want absent")
	_, ok := c.Find(at(10))
	assert.False(t, ok)
	v, _ := c.Find(at(0))
	assert.Equal(t, [][2]uint64{{1, 2}}, v.Guards.Ranges(), "guards inherited")
	pv, _ := as.Find(at(0))
	assert.NotZero(t, v.AnonVMA)
	assert.NotEqual(t, pv.AnonVMA, v.AnonVMA, "child gets its own anon_vma")
	w, _ := c.Find(at(20))
	assert.True(t, w.Guards.Empty(), "WIPEONFORK: no guards")
	assert.Zero(t, w.AnonVMA, "WIPEONFORK: no anon_vma")
	l, _ := c.Find(at(31))
	assert.Zero(t, l.Flags&VMLockedMask, "mlock not inherited")
	assert.False(t, l.UffdArmed)
	assert.Equal(t, uint64(0), c.Stats().LockedPages)
	sb, b := c.Brk()
	assert.Equal(t, [2]uint64{at(40), at(41)}, [2]uint64{sb, b})

	// The child's changes do not touch the parent.
	require.NoError(t, c.RemoveGuards(at(0), at(4)))
	pv, _ = as.Find(at(0))
	assert.Equal(t, [][2]uint64{{1, 2}}, pv.Guards.Ranges())
}

// TestForkedAnonChain: in a child, a VMA whose anon_vma came through fork
// does not merge with a neighbour without one, nor lends it its anon_vma;
// in the parent the same change merges (mmfuzz seed 9 under
// --emulate=all; checked natively on 6.18).
func TestForkedAnonChain(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 8, ProtNone)))
	require.NoError(t, as.MadviseFlags(at(4), at(8), VMRandRead, 0))
	require.NoError(t, as.AddGuards(at(6), at(7))) // an anon_vma for [4,8)
	c := as.Fork()
	for _, m := range []*AddressSpace{as, c} {
		require.NoError(t, m.MadviseFlags(at(0), at(8), 0, VMRandRead))
		require.NoError(t, m.Validate())
	}
	assert.Equal(t, 1, as.Len(), "the parent merges")
	assert.Equal(t, 2, c.Len(), "the child's [4,8) has a forked chain")
	lo, _ := c.Find(at(0))
	assert.Zero(t, lo.AnonVMA)
	assert.Zero(t, lo.Flags&VMMaybeGuard, "no sticky flag from a merge that did not happen")
	hi, _ := c.Find(at(4))
	assert.True(t, hi.AnonChained)
}

// TestForkSealedHalves: the halves of a VMA mseal split share one
// anon_vma in the child too (the host has one VMA where mseal is
// emulated; natively the seal keeps them apart anyway).
func TestForkSealedHalves(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 8, rw)))
	require.NoError(t, as.SetFlags(at(0), at(8), VMLocked, 0))
	as.PrepareAnonVMA(at(0), at(8))
	require.NoError(t, as.Mseal(at(4), pg(4), 0))
	c := as.Fork()
	require.NoError(t, c.Validate())
	lo, _ := c.Find(at(0))
	hi, _ := c.Find(at(4))
	assert.NotZero(t, lo.AnonVMA)
	assert.Equal(t, lo.AnonVMA, hi.AnonVMA)
	p, _ := as.Find(at(0))
	assert.NotEqual(t, p.AnonVMA, lo.AnonVMA)
}

func TestLabels(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(anonMap(0, 4, ProtRead|ProtWrite)))
	require.NoError(t, as.Map(anonMap(10, 4, ProtRead|ProtWrite)))
	stack := anonMap(100, 8, ProtRead|ProtWrite)
	stack.Flags |= VMGrowsDown
	require.NoError(t, as.Map(stack))
	as.SetBrk(at(0), at(3)+100)
	as.SetStackStart(at(107) + 0x10)
	ls := as.Maps()
	require.Len(t, ls, 3)
	assert.Equal(t, "[heap]", ls[0].Path)
	assert.Equal(t, "", ls[1].Path)
	assert.Equal(t, "[stack]", ls[2].Path)
	// A VMA starting exactly at brk is not (vma_is_initial_heap: it
	// overlaps [start_brk, brk)); one byte past it, it is.
	as.SetBrk(at(0), at(10))
	assert.Equal(t, "", as.Maps()[1].Path)
	as.SetBrk(at(0), at(10)+1)
	assert.Equal(t, "[heap]", as.Maps()[1].Path)
	// One that ends where the heap starts is not (the bss below an empty
	// heap without ASLR).
	as.SetBrk(at(4), at(4))
	assert.Equal(t, "", as.Maps()[0].Path)
}

func TestSyncGrowsDown(t *testing.T) {
	as := NewAddressSpace()
	stack := anonMap(100, 8, ProtRead|ProtWrite)
	stack.Flags |= VMGrowsDown
	require.NoError(t, as.Map(stack))
	as.SetStackStart(at(107))
	require.NoError(t, as.AddGuards(at(104), at(105)))
	host := as.Maps()
	host[0].Start = at(96)
	assert.NotEmpty(t, DiffMaps(as.Maps(), host))
	assert.Equal(t, 1, as.SyncGrowsDown(host))
	require.NoError(t, as.Validate())
	assert.Empty(t, DiffMaps(as.Maps(), host))
	v, _ := as.Find(at(96))
	assert.True(t, v.IsGuard(at(104)), "guard stays on its page")
	assert.Equal(t, at(96)>>PageShift, v.PgOff)
}

func TestGuardSet(t *testing.T) {
	var s GuardSet
	s = s.Add(5, 7).Add(1, 2).Add(2, 3).Add(10, 12).Add(6, 11)
	assert.Equal(t, [][2]uint64{{1, 3}, {5, 12}}, s.Ranges())
	assert.Equal(t, uint64(9), s.Pages())
	s = s.Remove(6, 8)
	assert.Equal(t, [][2]uint64{{1, 3}, {5, 6}, {8, 12}}, s.Ranges())
	assert.Equal(t, [][2]uint64{{0, 1}, {3, 5}}, s.Slice(5, 10).Ranges())
	assert.True(t, s.Contains(8) && !s.Contains(7) && s.Contains(1) && !s.Contains(12))
	assert.NoError(t, s.valid(12))
	assert.Error(t, s.valid(11))
}

func TestVMFlagsString(t *testing.T) {
	assert.Equal(t, "READ|WRITE|MAYREAD|ACCOUNT|SEALED", (VMRead | VMWrite | VMMayRead | VMAccount | VMSealed).String())
	assert.Equal(t, "0", VMFlags(0).String())
	assert.Equal(t, "0x200", VMFlags(0x200).String())
}

func ExampleDiffMaps() {
	a, _ := ParseMaps("00400000-00401000 r--p 00000000 08:01 7 /bin/x\n00401000-00402000 r-xp 00001000 08:01 7 /bin/x\n")
	b, _ := ParseMaps("00400000-00402000 r--p 00000000 08:01 7 /bin/x\n")
	fmt.Print(DiffMaps(a, b))
	// Output:
	// maps differ at line 1:
	//   model: 00400000-00401000 r--p 00000000 08:01 7                                  /bin/x
	//   host:  00400000-00402000 r--p 00000000 08:01 7                                  /bin/x
	// model:
	// > 00400000-00401000 r--p 00000000 08:01 7                                  /bin/x
	//   00401000-00402000 r-xp 00001000 08:01 7                                  /bin/x
	// host:
	// > 00400000-00402000 r--p 00000000 08:01 7                                  /bin/x
}

func TestSharedAnonWithoutInodeNeverMerges(t *testing.T) {
	as := NewAddressSpace()
	require.NoError(t, as.Map(NewMmap(at(0), pg(2), ProtRead, true, Backing{}, 0, false)))
	require.NoError(t, as.Map(NewMmap(at(2), pg(2), ProtRead, true, Backing{}, 0, false)))
	require.NoError(t, as.Validate())
	assert.Equal(t, 2, as.Len())
	assert.Equal(t, "r--s", as.Maps()[0].Perms)
}
