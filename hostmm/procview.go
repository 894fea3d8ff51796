package hostmm

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"madvisor/mm"
)

// The text of the program's own view of /proc/PID/maps and smaps, kept by
// the sentry while it emulates a kernel feature: the model's VMAs, which
// is what the emulated kernel prints, with what only the host knows (the
// stack's extent, smaps' counters) taken from the host.

// View is a maps or smaps file of the /proc view that a program holds
// open: a memfd in thread Tid's file table, showing process Pid's model.
type View struct {
	Tid, FD int
	Pid     int
	Smaps   bool
}

// Write writes the current text of v: the model's maps, or its smaps with
// the VmFlags mnemonics of hidden (the emulated flags) from the model.
//
// Preconditions: as is locked by the caller.
func (v View) Write(as *mm.AddressSpace, hidden mm.VMFlags) error {
	text := mapsText(as, v.Pid)
	if v.Smaps {
		text = smapsText(as, v.Pid, hidden)
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/fd/%d", v.Tid, v.FD), []byte(text), 0)
}

// mapsText is the model's /proc/PID/maps, with the stack's extent taken
// from the host (page faults grow it without a syscall).
func mapsText(as *mm.AddressSpace, pid int) string {
	if host, err := ReadMaps(pid); err == nil {
		as.SyncGrowsDown(host)
	}
	var b strings.Builder
	for _, l := range as.Maps() {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// smapsText is /proc/PID/smaps as the emulated kernel prints it: per model
// VMA, the host's blocks over its range (an emulation may split a model VMA
// in several host VMAs, e.g. PROT_NONE guard pieces, or a seal may split
// what the host keeps whole): the header from the model, Size exact, the
// other kB counters summed over the host blocks in proportion to their
// overlap (exact when the host blocks lie inside the VMA), and VmFlags from
// the host block at the VMA's start with the emulated flags (hidden) set
// from the model.
func smapsText(as *mm.AddressSpace, pid int, hidden mm.VMFlags) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return ""
	}
	return patchSmaps(as, ParseSmaps(string(raw)), hidden)
}

// patchSmaps is smapsText on the host's parsed smaps.
func patchSmaps(as *mm.AddressSpace, blocks []SmapsBlock, hidden mm.VMFlags) string {
	var b strings.Builder
	lines := as.Maps()
	for _, line := range lines {
		var over []*SmapsBlock
		for i := range blocks {
			if blocks[i].Line.Start < line.End && line.Start < blocks[i].Line.End {
				over = append(over, &blocks[i])
			}
		}
		if len(over) == 0 {
			continue // not on the host (yet): as a racing unmap would
		}
		v, _ := as.Find(line.Start)
		b.WriteString(line.String())
		b.WriteByte('\n')
		sums := map[string]float64{}
		for _, blk := range over {
			lo, hi := max(blk.Line.Start, line.Start), min(blk.Line.End, line.End)
			frac := float64(hi-lo) / float64(blk.Line.End-blk.Line.Start)
			for _, f := range blk.Fields {
				if name, val, ok := strings.Cut(f, ":"); ok && strings.HasSuffix(f, " kB") {
					kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(val, " kB")), 10, 64)
					sums[name] += float64(kb) * frac
				}
			}
		}
		// VmFlags: from the first host block that is not an emulated
		// guard piece (PROT_NONE on the host: no access, and without an
		// anon_vma no VM_ACCOUNT either), the access flags always from
		// the model, and VM_ACCOUNT from it too when every block is a
		// guard piece. VM_HUGEPAGE and VM_NOHUGEPAGE always come from
		// the model too (since 6.7 a MAP_STACK mapping is VM_NOHUGEPAGE,
		// on 6.1 it is not), and VM_LOCKONFAULT where the host prints it
		// as "??" (6.1; see patchVmFlags).
		always := hidden | mm.VMAccessFlags | mm.VMHugePage | mm.VMNoHugePage
		flagsFrom, fromModel := over[0], always|mm.VMAccount
		for _, blk := range over {
			if !v.IsGuard(max(blk.Line.Start, line.Start)) {
				flagsFrom, fromModel = blk, always
				break
			}
		}
		hostFlags := ""
		for _, f := range flagsFrom.Fields {
			if strings.HasPrefix(f, "VmFlags:") {
				hostFlags = f
			}
		}
		for _, f := range over[0].Fields {
			name, _, _ := strings.Cut(f, ":")
			switch {
			case name == "VmFlags":
				b.WriteString(patchVmFlags(hostFlags, v.Flags, fromModel))
			case name == "Size":
				fmt.Fprintf(&b, "%-16s%8d kB", "Size:", (line.End-line.Start)>>10)
			case strings.HasSuffix(name, "PageSize") || !strings.HasSuffix(f, " kB"):
				b.WriteString(f)
			default:
				fmt.Fprintf(&b, "%-16s%8d kB", name+":", uint64(sums[name]+0.5))
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// patchVmFlags rewrites a "VmFlags:" line so the mnemonics of the hidden
// flags follow the model's flags, in the kernel's order (by flag bit).
func patchVmFlags(line string, flags, hidden mm.VMFlags) string {
	if slices.Contains(strings.Fields(line), "??") {
		hidden |= mm.VMLockOnFault
	}
	var out []string
	for _, m := range strings.Fields(strings.TrimPrefix(line, "VmFlags:")) {
		// "??" is an old kernel's name for a flag it cannot print (6.1:
		// VM_LOCKONFAULT); the model supplies the flags 6.18 names.
		if m != "??" && mm.ParseVmFlags(m)&hidden == 0 {
			out = append(out, m)
		}
	}
	for add := mm.VMFlags(1); add != 0 && add <= flags; add <<= 1 {
		name := mm.VmFlagMnemonic(add)
		if flags&hidden&add == 0 || name == "" {
			continue
		}
		at := len(out)
		for i, m := range out {
			if vmFlagBit(m) > add {
				at = i
				break
			}
		}
		out = append(out[:at], append([]string{name}, out[at:]...)...)
	}
	return "VmFlags: " + strings.Join(out, " ") + " "
}

// vmFlagBit is the flag of a VmFlags mnemonic, for ordering (0 if unknown;
// a few the model does not keep are placed by their kernel bit).
func vmFlagBit(m string) mm.VMFlags {
	if f := mm.ParseVmFlags(m); f != 0 {
		return f
	}
	switch m {
	case "dp":
		return mm.VMDroppable // printed, but not a mnemonic the model parses
	case "sd":
		return 1 << 27
	case "um":
		return 1 << 32
	case "uw":
		return 1 << 33
	}
	return 0
}
