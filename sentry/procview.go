package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// The program's own view of /proc, kept while the sentry emulates a kernel
// feature (Sandbox.procView): the host's /proc/PID/maps shows the host's
// VMAs, which an emulation changes (a seal the host never saw does not
// split a VMA there), so an open of the maps file of a process under the
// sandbox is answered with the model's text, which is what the emulated
// kernel prints. The program gets a memfd holding that text, named after
// the path it opened; it reads it like the real file. The text is written
// at the open and again after every change of the model while the file is
// open (viewFile), so a program that rewinds and re-reads it sees the
// current VMAs. pagemap, mem, PAGEMAP_SCAN and PROCMAP_QUERY are answered
// per call (guardemu.go, pagemapscan.go, procmapquery.go).

// procViewEntry answers open/openat/openat2 of a maps file the model
// knows; any other open runs natively. Engine thread only.
func (t *Task) procViewEntry(act *action, si *syscallInfo) {
	a := si.Args
	var pathAddr, flags uint64
	switch si.Nr {
	case unix.SYS_OPEN:
		pathAddr, flags = a[0], a[1]
	case unix.SYS_OPENAT:
		pathAddr, flags = a[1], a[2]
	case unix.SYS_OPENAT2:
		pathAddr = a[1]
		var how [8]byte // struct open_how begins with the u64 flags
		if t.readMem(a[2], how[:]) != nil {
			return
		}
		flags = binary.LittleEndian.Uint64(how[:])
	default:
		return
	}
	p, err := t.readString(pathAddr, unix.PathMax)
	if err != nil || flags&(unix.O_PATH|unix.O_DIRECTORY) != 0 {
		return
	}
	target, file := t.procFileOf(p)
	if target == nil || target.tg.mm == nil {
		return
	}
	switch {
	case file == "pagemap" || file == "mem":
		if t.s.emulating(hostmm.EmulateGuard) {
			// The host's file, with read(2)/write(2) on it trapped
			// (fdtrap.go).
			act.emulate = func(tr hostmm.Tracee) int64 {
				fd, err := tr.Inject(uintptr(si.Nr), a[0], a[1], a[2], a[3], a[4], a[5])
				if err != nil {
					return -int64(unix.EINTR)
				}
				if fd >= 0 {
					t.trapFileAccess(tr, int(fd))
				}
				return fd
			}
		}
		return
	case flags&unix.O_ACCMODE != unix.O_RDONLY:
		return
	}
	as, pid := target.tg.mm, target.tg.pid
	act.locked = as
	act.emulate = func(tr hostmm.Tracee) int64 {
		mfdFlags := uint64(0)
		if flags&unix.O_CLOEXEC != 0 {
			mfdFlags = unix.MFD_CLOEXEC
		}
		fd, err := tr.Inject(unix.SYS_MEMFD_CREATE, pathAddr, mfdFlags)
		if err != nil {
			return -int64(unix.EINTR)
		}
		if fd < 0 {
			return fd
		}
		v := viewFile{tid: t.tid, fd: int(fd), link: "/memfd:" + p + " (deleted)", pid: pid, smaps: file == "smaps"}
		if err := t.s.writeView(as, v); err != nil {
			t.s.logf("pid %d: writing the model's maps for %s: %v", t.tg.pid, p, err)
		}
		as.views = append(as.views, v)
		return fd
	}
}

// procFileOf returns the task whose maps, smaps, pagemap or mem file p
// names, if it is a process under the sandbox, and which file:
// /proc/self/F, /proc/thread-self/F, /proc/PID/F and /proc/PID/task/TID/F
// (absolute paths only).
func (t *Task) procFileOf(p string) (*Task, string) {
	p = path.Clean(p)
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return nil, ""
	}
	parts := strings.Split(rest, "/")
	file := parts[len(parts)-1]
	switch file {
	case "maps", "smaps", "pagemap", "mem":
	default:
		return nil, ""
	}
	parts = parts[:len(parts)-1]
	if len(parts) == 3 && parts[1] == "task" {
		parts = parts[2:] // a thread: its process's mm
	}
	if len(parts) != 1 {
		return nil, ""
	}
	switch parts[0] {
	case "self", "thread-self":
		return t, file
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil {
		return nil, ""
	}
	if target := t.s.eng.tasks[pid]; target != nil && !target.dead {
		return target, file
	}
	return nil, ""
}

// mapsText is the model's /proc/PID/maps, with the stack's extent taken
// from the host (page faults grow it without a syscall).
func mapsText(as *AddressSpace, pid int) string {
	if host, err := readMaps(pid); err == nil {
		as.m.AS.SyncGrowsDown(host)
	}
	var b strings.Builder
	for _, l := range as.m.AS.Maps() {
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
// the host block at the VMA's start with the emulated flags set from the
// model.
func (s *Sandbox) smapsText(as *AddressSpace, pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return ""
	}
	blocks := parseSmaps(string(raw))
	hidden := s.emulatedFlags()
	var b strings.Builder
	lines := as.m.AS.Maps()
	for _, line := range lines {
		var over []*smapsBlock
		for i := range blocks {
			if blocks[i].line.Start < line.End && line.Start < blocks[i].line.End {
				over = append(over, &blocks[i])
			}
		}
		if len(over) == 0 {
			continue // not on the host (yet): as a racing unmap would
		}
		v, _ := as.m.AS.Find(line.Start)
		b.WriteString(line.String())
		b.WriteByte('\n')
		sums := map[string]float64{}
		for _, blk := range over {
			lo, hi := max(blk.line.Start, line.Start), min(blk.line.End, line.End)
			frac := float64(hi-lo) / float64(blk.line.End-blk.line.Start)
			for _, f := range blk.fields {
				if name, val, ok := strings.Cut(f, ":"); ok && strings.HasSuffix(f, " kB") {
					kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(val, " kB")), 10, 64)
					sums[name] += float64(kb) * frac
				}
			}
		}
		for _, f := range over[0].fields {
			name, _, _ := strings.Cut(f, ":")
			switch {
			case name == "VmFlags":
				b.WriteString(patchVmFlags(f, v.Flags, hidden))
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

// smapsBlock is one VMA's block of /proc/PID/smaps.
type smapsBlock struct {
	line   mm.MapsLine
	fields []string
}

func parseSmaps(text string) []smapsBlock {
	var out []smapsBlock
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		if ml, err := mm.ParseMapsLine(l); err == nil {
			out = append(out, smapsBlock{line: ml})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].fields = append(out[len(out)-1].fields, l)
		}
	}
	return out
}

// patchVmFlags rewrites a "VmFlags:" line so the mnemonics of the hidden
// (emulated) flags follow the model's flags, in the kernel's order (by
// flag bit).
func patchVmFlags(line string, flags, hidden mm.VMFlags) string {
	var out []string
	for _, m := range strings.Fields(strings.TrimPrefix(line, "VmFlags:")) {
		if mm.ParseVmFlags(m)&hidden == 0 {
			out = append(out, m)
		}
	}
	for _, add := range []struct {
		flag mm.VMFlags
		name string
	}{{mm.VMWipeOnFork, "wf"}, {mm.VMMaybeGuard, "gu"}, {mm.VMSealed, "sl"}} {
		if flags&hidden&add.flag == 0 {
			continue
		}
		at := len(out)
		for i, m := range out {
			if vmFlagBit(m) > add.flag {
				at = i
				break
			}
		}
		out = append(out[:at], append([]string{add.name}, out[at:]...)...)
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
	case "sd":
		return 1 << 27
	case "um":
		return 1 << 32
	case "uw":
		return 1 << 33
	}
	return 0
}

// viewFile is a maps or smaps file of the /proc view that a program holds
// open: a memfd in thread tid's file table, showing process pid's model.
// A program may read it again after lseek (mremap_test re-reads its maps
// fd), so its text follows the model: it is rewritten after every change.
type viewFile struct {
	tid, fd int
	link    string // the memfd's /proc/TID/fd link while it is ours
	pid     int
	smaps   bool
}

// writeView writes the current text of v.
func (s *Sandbox) writeView(as *AddressSpace, v viewFile) error {
	text := mapsText(as, v.pid)
	if v.smaps {
		text = s.smapsText(as, v.pid)
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/fd/%d", v.tid, v.fd), []byte(text), 0)
}

// refreshViews rewrites the open view files of as after a change of its
// model, and forgets those the program closed. Engine thread only.
func (s *Sandbox) refreshViews(as *AddressSpace) {
	if as == nil || len(as.views) == 0 {
		return
	}
	kept := as.views[:0]
	for _, v := range as.views {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", v.tid, v.fd))
		if err != nil || link != v.link || s.writeView(as, v) != nil {
			continue
		}
		kept = append(kept, v)
	}
	as.views = kept
}

// smapsField returns the value of the "name:" line of the block of
// /proc/PID/smaps whose VMA holds addr.
func smapsField(pid int, addr uint64, name string) (string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return "", false
	}
	for _, b := range parseSmaps(string(raw)) {
		if b.line.Start <= addr && addr < b.line.End {
			for _, f := range b.fields {
				if v, ok := strings.CutPrefix(f, name+":"); ok {
					return strings.TrimSpace(v), true
				}
			}
			return "", false
		}
	}
	return "", false
}
