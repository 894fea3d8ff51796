package mm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MapsLine is one line of /proc/PID/maps.
type MapsLine struct {
	Start, End uint64
	// Perms is the four-character permission field ("rw-p", "r-xs").
	Perms string
	// Offset is the byte offset field.
	Offset uint64
	// DevMajor and DevMinor are the device field.
	DevMajor, DevMinor uint32
	// Inode is the inode field.
	Inode uint64
	// Path is the name field ("" when empty), e.g. "/usr/bin/cat",
	// "[heap]", "[anon:x]", "/dev/zero (deleted)".
	Path string
}

// mapsPadColumn is where the kernel starts the name: the header is padded
// to 25 + sizeof(void *) * 6 - 1 columns, then one space.
const mapsPadColumn = 25 + 8*6 - 1

// String formats l exactly as the kernel prints it (show_map_vma), without
// the newline.
func (l MapsLine) String() string {
	s := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d ", l.Start, l.End, l.Perms, l.Offset, l.DevMajor, l.DevMinor, l.Inode)
	if l.Path == "" {
		return s
	}
	if len(s) < mapsPadColumn+1 {
		s += strings.Repeat(" ", mapsPadColumn+1-len(s))
	}
	return s + l.Path
}

// ParseMaps parses the text of /proc/PID/maps.
func ParseMaps(text string) ([]MapsLine, error) {
	var out []MapsLine
	for i, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		l, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("maps line %d %q: %w", i+1, line, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseMapsLine parses one line of /proc/PID/maps (also the header line of
// each VMA's block in /proc/PID/smaps).
func ParseMapsLine(line string) (MapsLine, error) { return parseMapsLine(line) }

// nextField splits s at its first space, and drops the spaces after it.
func nextField(s string) (field, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i+1:], " ")
}

func parseMapsLine(line string) (MapsLine, error) {
	var l MapsLine
	rng, rest := nextField(line)
	perms, rest := nextField(rest)
	off, rest := nextField(rest)
	dev, rest := nextField(rest)
	ino, rest := nextField(rest)
	l.Path = rest
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return l, fmt.Errorf("bad range %q", rng)
	}
	var err error
	if l.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return l, err
	}
	if l.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return l, err
	}
	if len(perms) != 4 || strings.Trim(perms[:3], "rwx-") != "" || (perms[3] != 'p' && perms[3] != 's') {
		return l, fmt.Errorf("bad perms %q", perms)
	}
	l.Perms = perms
	if l.Offset, err = strconv.ParseUint(off, 16, 64); err != nil {
		return l, err
	}
	maj, min, ok := strings.Cut(dev, ":")
	if !ok {
		return l, fmt.Errorf("bad device %q", dev)
	}
	ma, err := strconv.ParseUint(maj, 16, 32)
	if err != nil {
		return l, err
	}
	mi, err := strconv.ParseUint(min, 16, 32)
	if err != nil {
		return l, err
	}
	l.DevMajor, l.DevMinor = uint32(ma), uint32(mi)
	if l.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
		return l, err
	}
	if l.Start >= l.End || !pageAligned(l.Start) || !pageAligned(l.End) {
		return l, fmt.Errorf("bad range %q", rng)
	}
	return l, nil
}

// Prot returns the PROT_* bits of the perms field.
func (l MapsLine) Prot() Prot {
	var p Prot
	if l.Perms[0] == 'r' {
		p |= ProtRead
	}
	if l.Perms[1] == 'w' {
		p |= ProtWrite
	}
	if l.Perms[2] == 'x' {
		p |= ProtExec
	}
	return p
}

// Shared reports whether the perms field says 's' (VM_MAYSHARE).
func (l MapsLine) Shared() bool { return l.Perms[3] == 's' }

// FromMaps builds an address space from /proc/PID/maps lines (at exec).
// What maps does not show is guessed:
//   - flags: the access bits, VM_MAYREAD|MAYWRITE|MAYEXEC, VM_MAYSHARE
//     (and VM_SHARED, VM_MAYWRITE only if writable) for 's' lines,
//     VM_ACCOUNT for writable private lines, VM_GROWSDOWN for [stack];
//   - anonymous private pgoff = Start>>PageShift, an anon_vma for
//     writable ones (they have most likely been written);
//   - mm->start_brk/brk span the [heap] lines, mm->start_stack is the
//     last byte of the [stack] line (callers that know better use SetBrk
//     and SetStackStart);
//   - files are identified by device, inode and path (FileID 0) and
//     opened read-only unless mapped shared and writable.
//
// Adjacent lines the model would merge are kept apart by giving them
// distinct anon_vmas, since the host did not merge them.
func FromMaps(lines []MapsLine) *AddressSpace {
	as := NewAddressSpace()
	var prev *VMA
	heapSeen := false
	for _, l := range lines {
		v := vmaFromLine(l)
		switch l.Path {
		case "[heap]":
			if !heapSeen {
				as.startBrk = l.Start
				heapSeen = true
			}
			as.brk = l.End
		case "[stack]":
			as.startStack = l.End - 1
		}
		if v.Backing.Kind == BackingAnon && v.Flags&VMWrite != 0 {
			v.AnonVMA = as.newAnonVMA()
		}
		if prev != nil && canMerge(prev, &v) {
			if prev.AnonVMA == 0 {
				// prev is already in the tree: re-insert it with the new
				// anon_vma.
				nv := *prev
				nv.AnonVMA = as.newAnonVMA()
				as.remove(prev)
				as.insert(&nv)
				prev = &nv
			}
			if v.AnonVMA == 0 || v.AnonVMA == prev.AnonVMA {
				v.AnonVMA = as.newAnonVMA()
			}
		}
		nv := v
		as.insert(&nv)
		prev = &nv
	}
	return as
}

func vmaFromLine(l MapsLine) VMA {
	v := VMA{Start: l.Start, End: l.End, PgOff: l.Offset >> PageShift}
	f := ProtToVM(l.Prot()) | VMMayRead | VMMayWrite | VMMayExec
	if l.Shared() {
		f |= VMMayShare
		if l.Perms[1] == 'w' {
			f |= VMShared
		} else {
			f &^= VMMayWrite
		}
	} else if f&VMWrite != 0 {
		f |= VMAccount
	}
	file := func(kind BackingKind) Backing {
		return Backing{Kind: kind, DevMajor: l.DevMajor, DevMinor: l.DevMinor, Inode: l.Inode, Path: l.Path, Writable: l.Shared() && l.Perms[1] == 'w'}
	}
	switch {
	case l.Path == "[vdso]":
		v.Backing.Kind = BackingVDSO
		f |= VMDontExpand
	case l.Path == "[vvar]":
		v.Backing.Kind = BackingVVar
		f |= VMIO | VMPFNMap | VMDontDump | VMDontExpand
	case l.Path == "[vvar_vclock]":
		v.Backing.Kind = BackingVVarVClock
		f |= VMIO | VMPFNMap | VMDontDump | VMDontExpand
	case l.Path == "[vsyscall]":
		v.Backing.Kind = BackingVsyscall
	case l.Inode == 0 && (l.Path == "" || l.Path == "[heap]" || l.Path == "[stack]" || strings.HasPrefix(l.Path, "[anon:")):
		v.Backing.Kind = BackingAnon
		v.PgOff = l.Start >> PageShift
		if l.Path == "[stack]" {
			f |= VMGrowsDown
		}
		if name, ok := strings.CutPrefix(l.Path, "[anon:"); ok {
			v.Name = strings.TrimSuffix(name, "]")
		}
	case strings.HasPrefix(l.Path, "[anon_shmem:"):
		v.Backing = file(BackingSharedAnon)
		v.Backing.Path = "/dev/zero (deleted)"
		v.Backing.Writable = true
		v.Name = strings.TrimSuffix(strings.TrimPrefix(l.Path, "[anon_shmem:"), "]")
	case l.Path == "/dev/zero" && !l.Shared():
		v.Backing = file(BackingAnon)
	case l.Path == "/dev/zero (deleted)" && l.Shared():
		v.Backing = file(BackingSharedAnon)
		v.Backing.Writable = true
	default:
		v.Backing = file(BackingFile)
	}
	if v.Backing.Kind == BackingSharedAnon && f&VMMayShare != 0 {
		f |= VMShared | VMMayWrite
	}
	v.Flags = f
	return v
}

// Maps renders the address space as the kernel would print
// /proc/PID/maps (show_map_vma, get_vma_name).
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Maps() []MapsLine {
	out := make([]MapsLine, 0, as.tree.Len())
	as.tree.Ascend(func(v *VMA) bool {
		out = append(out, as.mapsLine(v))
		return true
	})
	return out
}

// HostMaps renders the maps the host shows when features are emulated:
// the flags in hidden exist only in the model (VM_SEALED when mseal is
// emulated), so VMAs that differ only in them are one VMA on the host;
// with guardsProtNone, guard pages are PROT_NONE pieces on the host (guard
// markers emulated), which split their VMA there.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) HostMaps(hidden VMFlags, guardsProtNone bool) []MapsLine {
	if hidden == 0 && !guardsProtNone {
		return as.Maps()
	}
	var pieces []VMA
	as.tree.Ascend(func(v *VMA) bool {
		nv := *v
		nv.Flags &^= hidden
		if !guardsProtNone || nv.Guards.Empty() {
			pieces = append(pieces, nv)
			return true
		}
		at := nv.Start
		cut := func(end uint64, guard bool) {
			if at >= end {
				return
			}
			p := nv
			p.Start, p.End = at, end
			p.PgOff = nv.PgOff + (at-nv.Start)>>PageShift
			p.Guards = GuardSet{}
			if guard {
				p.Flags &^= VMAccessFlags
			}
			pieces = append(pieces, p)
			at = end
		}
		for _, r := range nv.Guards.Ranges() {
			cut(nv.Start+r[0]<<PageShift, false)
			cut(nv.Start+r[1]<<PageShift, true)
		}
		cut(nv.End, false)
		return true
	})
	var out []MapsLine
	var cur VMA
	for i := range pieces {
		nv := &pieces[i]
		// A boundary the host keeps for a reason the model cannot see
		// (SplitApart) stays.
		if len(out) > 0 && !as.keptApartOnHost(nv.Start, hidden) && canMerge(&cur, nv) {
			cur.End = nv.End
			out[len(out)-1] = as.mapsLine(&cur)
			continue
		}
		cur = *nv
		out = append(out, as.mapsLine(&cur))
	}
	return out
}

func (as *AddressSpace) mapsLine(v *VMA) MapsLine {
	perms := []byte(v.Prot().String() + "p")
	if v.Flags&VMMayShare != 0 {
		perms[3] = 's'
	}
	l := MapsLine{Start: v.Start, End: v.End, Perms: string(perms)}
	b := &v.Backing
	if b.HasVMFile() {
		l.Offset = v.PgOff << PageShift
		l.DevMajor, l.DevMinor, l.Inode = b.DevMajor, b.DevMinor, b.Inode
		if v.Name != "" {
			l.Path = "[anon_shmem:" + v.Name + "]"
		} else {
			l.Path = b.Path
		}
		return l
	}
	switch b.Kind {
	case BackingVDSO:
		l.Path = "[vdso]"
	case BackingVVar:
		l.Path = "[vvar]"
	case BackingVVarVClock:
		l.Path = "[vvar_vclock]"
	case BackingVsyscall:
		l.Path = "[vsyscall]"
	default:
		switch {
		case v.Start < as.brk && v.End > as.startBrk:
			// The kernel's test (vma_is_initial_heap): the VMA
			// overlaps [start_brk, brk). So neither a VMA that ends
			// where the heap starts (the bss right below it, when
			// ASLR is off) nor one that starts at the break (a
			// mapping placed right after the heap) is [heap].
			l.Path = "[heap]"
		case v.Start <= as.startStack && v.End >= as.startStack:
			l.Path = "[stack]"
		case v.Name != "":
			l.Path = "[anon:" + v.Name + "]"
		}
	}
	return l
}

// DiffMaps compares the model's maps lines with the host's. It returns ""
// when they are equal, else a description of the first difference with up
// to three lines of context on each side of it, from both views.
func DiffMaps(model, host []MapsLine) string {
	i := 0
	for i < len(model) && i < len(host) && model[i] == host[i] {
		i++
	}
	if i == len(model) && i == len(host) {
		return ""
	}
	var b strings.Builder
	switch {
	case i == len(model):
		fmt.Fprintf(&b, "maps differ at line %d: model has no line, host has %q\n", i+1, host[i].String())
	case i == len(host):
		fmt.Fprintf(&b, "maps differ at line %d: model has %q, host has no line\n", i+1, model[i].String())
	default:
		fmt.Fprintf(&b, "maps differ at line %d:\n  model: %s\n  host:  %s\n", i+1, model[i].String(), host[i].String())
	}
	ctx := func(name string, ls []MapsLine) {
		fmt.Fprintf(&b, "%s:\n", name)
		lo, hi := max(0, i-3), min(len(ls), i+4)
		for j := lo; j < hi; j++ {
			mark := "  "
			if j == i {
				mark = "> "
			}
			fmt.Fprintf(&b, "%s%s\n", mark, ls[j].String())
		}
		if i >= len(ls) {
			b.WriteString("> (end)\n")
		}
	}
	ctx("model", model)
	ctx("host", host)
	return b.String()
}

// SyncGrowsDown adopts the host's growth of VM_GROWSDOWN VMAs: where the
// host's line holding a grows-down VMA's start begins lower, with the same
// access bits (under guard emulation, the host line of the VMA's lowest
// piece), the VMA grows down to it if GrowDown finds that growth one the
// kernel could have made. Anything else is left for DiffMaps to report.
// It returns the number of VMAs extended. Call it before DiffMaps.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SyncGrowsDown(host []MapsLine) int {
	n := 0
	for _, start := range as.GrowsDownStarts() {
		if l, ok := findLineHolding(host, start); ok && as.GrowDownTo(start, l) {
			n++
		}
	}
	return n
}

// findLineHolding returns the line of lines (sorted, not overlapping)
// that holds addr.
func findLineHolding(lines []MapsLine, addr uint64) (MapsLine, bool) {
	i := sort.Search(len(lines), func(i int) bool { return lines[i].End > addr })
	if i < len(lines) && lines[i].Start <= addr {
		return lines[i], true
	}
	return MapsLine{}, false
}

// MapsLineOf renders one VMA as /proc/PID/maps prints it.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) MapsLineOf(v VMA) MapsLine { return as.mapsLine(&v) }
