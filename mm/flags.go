package mm

import (
	"fmt"
	"math/bits"
	"strings"
)

// PageSize is the size of a base page on x86-64.
const PageSize = 4096

// PageShift is log2(PageSize).
const PageShift = 12

// Prot is a set of PROT_* bits as passed to mmap(2) and mprotect(2).
type Prot uint32

// PROT_* bits (x86-64 values).
const (
	ProtNone  Prot = 0x0
	ProtRead  Prot = 0x1
	ProtWrite Prot = 0x2
	ProtExec  Prot = 0x4
)

// Allows reports whether a VMA with protection p lets a page fault of the
// access kind a (ProtRead, ProtWrite or ProtExec) through to the page
// table, as x86's access_error decides: a write needs VM_WRITE; a read or
// an instruction fetch, any access bit.
func (p Prot) Allows(a Prot) bool {
	if a&ProtWrite != 0 {
		return p&ProtWrite != 0
	}
	return p != ProtNone
}

// String renders p the way /proc/PID/maps renders the first three perms
// characters ("r-x").
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// VMFlags mirrors the kernel's vm_flags_t: one bit per VM_* flag. The values
// are the kernel's (include/linux/mm.h, x86-64) so that they can be compared
// with what the kernel reports, but nothing outside mm should depend on them.
type VMFlags uint64

// VM_* flags.
const (
	VMRead        VMFlags = 0x00000001
	VMWrite       VMFlags = 0x00000002
	VMExec        VMFlags = 0x00000004
	VMShared      VMFlags = 0x00000008
	VMMayRead     VMFlags = 0x00000010
	VMMayWrite    VMFlags = 0x00000020
	VMMayExec     VMFlags = 0x00000040
	VMMayShare    VMFlags = 0x00000080
	VMGrowsDown   VMFlags = 0x00000100
	VMPFNMap      VMFlags = 0x00000400
	VMMaybeGuard  VMFlags = 0x00000800
	VMLocked      VMFlags = 0x00002000
	VMIO          VMFlags = 0x00004000
	VMSeqRead     VMFlags = 0x00008000
	VMRandRead    VMFlags = 0x00010000
	VMDontCopy    VMFlags = 0x00020000
	VMDontExpand  VMFlags = 0x00040000
	VMLockOnFault VMFlags = 0x00080000
	VMAccount     VMFlags = 0x00100000
	VMNoReserve   VMFlags = 0x00200000
	VMHugeTLB     VMFlags = 0x00400000
	VMWipeOnFork  VMFlags = 0x02000000
	VMDontDump    VMFlags = 0x04000000
	VMMixedMap    VMFlags = 0x10000000
	VMHugePage    VMFlags = 0x20000000
	VMNoHugePage  VMFlags = 0x40000000
	VMMergeable   VMFlags = 0x80000000
	VMDroppable   VMFlags = 1 << 40
	VMSealed      VMFlags = 1 << 42
)

// Flag groups used by the kernel.
const (
	// VMAccessFlags are the bits mprotect changes.
	VMAccessFlags = VMRead | VMWrite | VMExec
	// VMMayFlags are the upper bounds mprotect checks against.
	VMMayFlags = VMMayRead | VMMayWrite | VMMayExec | VMMayShare
	// VMSpecial marks mappings that never merge (and that most madvise
	// advice refuses): VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP.
	VMSpecial = VMIO | VMDontExpand | VMPFNMap | VMMixedMap
	// VMLockedMask is what mlock sets and fork clears in the child.
	VMLockedMask = VMLocked | VMLockOnFault
	// VMSticky flags are ignored when deciding whether two VMAs merge, and
	// the merged VMA carries their union (VM_MAYBE_GUARD in the ~6.19
	// tree; VM_SOFTDIRTY is not modelled).
	VMSticky = VMMaybeGuard
)

var vmFlagNames = map[VMFlags]string{
	VMRead:        "READ",
	VMWrite:       "WRITE",
	VMExec:        "EXEC",
	VMShared:      "SHARED",
	VMMayRead:     "MAYREAD",
	VMMayWrite:    "MAYWRITE",
	VMMayExec:     "MAYEXEC",
	VMMayShare:    "MAYSHARE",
	VMGrowsDown:   "GROWSDOWN",
	VMPFNMap:      "PFNMAP",
	VMMaybeGuard:  "MAYBE_GUARD",
	VMLocked:      "LOCKED",
	VMIO:          "IO",
	VMSeqRead:     "SEQ_READ",
	VMRandRead:    "RAND_READ",
	VMDontCopy:    "DONTCOPY",
	VMDontExpand:  "DONTEXPAND",
	VMLockOnFault: "LOCKONFAULT",
	VMAccount:     "ACCOUNT",
	VMNoReserve:   "NORESERVE",
	VMHugeTLB:     "HUGETLB",
	VMWipeOnFork:  "WIPEONFORK",
	VMDontDump:    "DONTDUMP",
	VMMixedMap:    "MIXEDMAP",
	VMHugePage:    "HUGEPAGE",
	VMNoHugePage:  "NOHUGEPAGE",
	VMMergeable:   "MERGEABLE",
	VMDroppable:   "DROPPABLE",
	VMSealed:      "SEALED",
}

// String prints the set bits by name, lowest first, joined by '|'
// ("READ|WRITE|MAYREAD|..."); unknown bits are printed in hex; no bits is
// "0".
func (f VMFlags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for rest := f; rest != 0; {
		bit := VMFlags(1) << bits.TrailingZeros64(uint64(rest))
		rest &^= bit
		if name, ok := vmFlagNames[bit]; ok {
			parts = append(parts, name)
		} else {
			parts = append(parts, fmt.Sprintf("%#x", uint64(bit)))
		}
	}
	return strings.Join(parts, "|")
}

// ProtToVM converts PROT_* bits to VM_READ/WRITE/EXEC (calc_vm_prot_bits
// without pkeys).
func ProtToVM(p Prot) VMFlags {
	var f VMFlags
	if p&ProtRead != 0 {
		f |= VMRead
	}
	if p&ProtWrite != 0 {
		f |= VMWrite
	}
	if p&ProtExec != 0 {
		f |= VMExec
	}
	return f
}

// VMToProt extracts the PROT_* bits from f.
func VMToProt(f VMFlags) Prot {
	var p Prot
	if f&VMRead != 0 {
		p |= ProtRead
	}
	if f&VMWrite != 0 {
		p |= ProtWrite
	}
	if f&VMExec != 0 {
		p |= ProtExec
	}
	return p
}

// smapsMnemonics are the two-letter names /proc/PID/smaps prints on its
// VmFlags line (show_smap_vma_flags) for the flags the model keeps.
var smapsMnemonics = map[string]VMFlags{
	"rd": VMRead, "wr": VMWrite, "ex": VMExec, "sh": VMShared,
	"mr": VMMayRead, "mw": VMMayWrite, "me": VMMayExec, "ms": VMMayShare,
	"gd": VMGrowsDown, "pf": VMPFNMap, "lo": VMLocked, "io": VMIO,
	"sr": VMSeqRead, "rr": VMRandRead, "dc": VMDontCopy, "de": VMDontExpand,
	"lf": VMLockOnFault, "ac": VMAccount, "nr": VMNoReserve, "ht": VMHugeTLB,
	"wf": VMWipeOnFork, "dd": VMDontDump, "mm": VMMixedMap, "hg": VMHugePage,
	"nh": VMNoHugePage, "mg": VMMergeable, "sl": VMSealed, "gu": VMMaybeGuard,
}

// VmFlagMnemonic returns the smaps mnemonic of the single flag f ("" for
// a flag the model does not keep or print).
func VmFlagMnemonic(f VMFlags) string {
	for m, v := range smapsMnemonics {
		if v == f {
			return m
		}
	}
	return ""
}

// ParseVmFlags parses the value of a smaps "VmFlags:" line. Mnemonics the
// model does not keep are ignored.
func ParseVmFlags(s string) VMFlags {
	var f VMFlags
	for _, m := range strings.Fields(s) {
		f |= smapsMnemonics[m]
	}
	return f
}

// DriverFlags are the flags a driver's mmap handler may set on a mapping
// of a device or an anon inode (remap_pfn_range, vm_insert_page...), which
// the model cannot derive from the mmap call.
const DriverFlags = VMIO | VMPFNMap | VMMixedMap | VMDontExpand | VMDontDump | VMDontCopy
