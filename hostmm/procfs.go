package hostmm

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// Readers of the host's /proc files of a tracee: its maps, smaps, stat,
// status and fdinfo, and the PROCMAP_QUERY ioctl on its maps.

// ReadMaps reads and parses /proc/PID/maps.
func ReadMaps(pid int) ([]mm.MapsLine, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	return mm.ParseMaps(string(b))
}

// ReadStatLayout reads start_brk and start_stack from /proc/PID/stat
// (fields 47 and 28; the current break is not there).
func ReadStatLayout(pid int) (startBrk, startStack uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which may hold spaces: field 3 on.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	field := func(n int) uint64 {
		if n-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseUint(f[n-3], 10, 64)
		return v
	}
	return field(47), field(28), nil
}

// OpenForWriting reports whether process pid's fd was opened for writing
// (/proc/PID/fdinfo/FD flags).
func OpenForWriting(pid, fd int) bool {
	v, ok := FdinfoField(pid, fd, "flags")
	fl, err := strconv.ParseUint(v, 8, 64)
	return ok && err == nil && fl&unix.O_ACCMODE != unix.O_RDONLY
}

// FdinfoField returns the value of the "name:" line of /proc/PID/fdinfo/FD.
func FdinfoField(pid, fd int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// HasCapability reports whether thread tid has capability c in its
// effective set (/proc/TID/status CapEff).
func HasCapability(tid int, c int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return caps&(1<<uint(c)) != 0
		}
	}
	return false
}

// SmapsBlock is one VMA's block of /proc/PID/smaps: its maps line and the
// lines that follow it ("Size:   4 kB", "VmFlags: rd wr ...").
type SmapsBlock struct {
	Line   mm.MapsLine
	Fields []string
}

// ParseSmaps splits the text of /proc/PID/smaps into its VMAs' blocks.
func ParseSmaps(text string) []SmapsBlock {
	var out []SmapsBlock
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		if ml, err := mm.ParseMapsLine(l); err == nil {
			out = append(out, SmapsBlock{Line: ml})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Fields = append(out[len(out)-1].Fields, l)
		}
	}
	return out
}

// SmapsField returns the value of the "name:" line of the block of
// /proc/PID/smaps whose VMA holds addr.
func SmapsField(pid int, addr uint64, name string) (string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return "", false
	}
	return smapsFieldIn(ParseSmaps(string(raw)), addr, name)
}

func smapsFieldIn(blocks []SmapsBlock, addr uint64, name string) (string, bool) {
	for _, b := range blocks {
		if b.Line.Start <= addr && addr < b.Line.End {
			for _, f := range b.Fields {
				if v, ok := strings.CutPrefix(f, name+":"); ok {
					return strings.TrimSpace(v), true
				}
			}
			return "", false
		}
	}
	return "", false
}

// FlagsFromSmaps sets on the model's VMAs the flags in mask that the
// host's smaps shows for them (the maps text shows only the access bits
// and sharing).
//
// Preconditions: the model is write-locked or not shared yet.
func FlagsFromSmaps(as *mm.AddressSpace, pid int, mask mm.VMFlags) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return
	}
	for _, b := range ParseSmaps(string(raw)) {
		for _, f := range b.Fields {
			if v, ok := strings.CutPrefix(f, "VmFlags:"); ok {
				if set := parseHostVmFlags(v) & mask; set != 0 {
					as.SetFlags(b.Line.Start, b.Line.End, set, 0)
				}
			}
		}
	}
}

// DriverFlags returns the driver-set flags (mm.DriverFlags) of process
// pid's VMA at addr, read from its VmFlags line in /proc/PID/smaps (rare:
// only device and anon-inode mappings ask; the file costs a page-table
// walk per VMA).
func DriverFlags(pid int, addr uint64) (mm.VMFlags, bool) {
	v, ok := SmapsField(pid, addr, "VmFlags")
	return mm.ParseVmFlags(v) & mm.DriverFlags, ok
}

// VMFlagsAt returns the flags of process pid's VMA at addr, read from its
// VmFlags line in /proc/PID/smaps.
func VMFlagsAt(pid int, addr uint64) (mm.VMFlags, bool) {
	v, ok := SmapsField(pid, addr, "VmFlags")
	return parseHostVmFlags(v), ok
}

// parseHostVmFlags is mm.ParseVmFlags for a host's line: Linux 6.1 has no
// mnemonic for VM_LOCKONFAULT and prints "??" beside "lo" (the only
// unnamed flag a locked VMA of a program shows there).
func parseHostVmFlags(v string) mm.VMFlags {
	f := mm.ParseVmFlags(v)
	if f&mm.VMLocked != 0 && slices.Contains(strings.Fields(v), "??") {
		f |= mm.VMLockOnFault
	}
	return f
}

// MapsLineAt returns the host's /proc/PID/maps line containing addr: the
// identity of mappings the sentry cannot name otherwise (SysV shm, the
// shmem file of a shared anonymous mapping). One PROCMAP_QUERY, or the
// maps text on hosts without it (before 6.11).
func MapsLineAt(pid int, addr uint64) (mm.MapsLine, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return mm.MapsLine{}, false
	}
	defer f.Close()
	var name [4096]byte
	q, errno := QueryVMA(f, addr, name[:])
	switch errno {
	case 0:
		return queryMapsLine(q, name[:]), true
	case unix.ENOENT:
		return mm.MapsLine{}, false
	}
	lines, err := ReadMaps(pid)
	if err != nil {
		return mm.MapsLine{}, false
	}
	for _, l := range lines {
		if l.Start <= addr && addr < l.End {
			return l, true
		}
	}
	return mm.MapsLine{}, false
}

// queryMapsLine is the maps line of a PROCMAP_QUERY answer whose name
// (vma_name_size bytes with the NUL) is in name.
func queryMapsLine(q abi.ProcmapQuery, name []byte) mm.MapsLine {
	perms := []byte("---p")
	for i, bit := range []uint64{abi.PROCMAP_QUERY_VMA_READABLE, abi.PROCMAP_QUERY_VMA_WRITABLE, abi.PROCMAP_QUERY_VMA_EXECUTABLE} {
		if q.VMAFlags&bit != 0 {
			perms[i] = "rwx"[i]
		}
	}
	if q.VMAFlags&abi.PROCMAP_QUERY_VMA_SHARED != 0 {
		perms[3] = 's'
	}
	n := int(q.VMANameSize)
	if n > 0 {
		n-- // the size counts the NUL
	}
	return mm.MapsLine{Start: q.VMAStart, End: q.VMAEnd, Perms: string(perms), Offset: q.VMAOffset,
		DevMajor: q.DevMajor, DevMinor: q.DevMinor, Inode: q.Inode, Path: string(name[:n])}
}

// QueryVMA asks PROCMAP_QUERY on an open /proc/PID/maps for the VMA
// containing addr; name, if not nil, receives its name (as maps prints it).
// ENOENT: nothing is mapped there; ENOTTY/EINVAL: no PROCMAP_QUERY.
func QueryVMA(f *os.File, addr uint64, name []byte) (abi.ProcmapQuery, unix.Errno) {
	q := abi.ProcmapQuery{Size: uint64(unsafe.Sizeof(abi.ProcmapQuery{})), QueryAddr: addr}
	if len(name) > 0 {
		q.VMANameSize = uint32(len(name))
		q.VMANameAddr = uint64(uintptr(unsafe.Pointer(&name[0])))
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), abi.PROCMAP_QUERY, uintptr(unsafe.Pointer(&q)))
	runtime.KeepAlive(name)
	return q, errno
}

// HostVMAsIn returns the [start, end) of each of process pid's host VMAs
// that overlaps [lo-1, hi+1), in address order: enough to tell, for every
// address in [lo, hi], whether a host VMA spans it.
func HostVMAsIn(pid int, lo, hi uint64) [][2]uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	return HostVMAsInFile(f, pid, lo, hi)
}

// HostVMAsInFile is HostVMAsIn through maps, process pid's
// /proc/PID/maps opened by the caller (and kept: an open costs more than
// the query).
func HostVMAsInFile(maps *os.File, pid int, lo, hi uint64) [][2]uint64 {
	f := maps
	var out [][2]uint64
	for addr := max(lo, 1) - 1; addr <= hi; {
		q := abi.ProcmapQuery{Size: uint64(unsafe.Sizeof(abi.ProcmapQuery{})), QueryAddr: addr,
			QueryFlags: abi.PROCMAP_QUERY_COVERING_OR_NEXT_VMA}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), abi.PROCMAP_QUERY, uintptr(unsafe.Pointer(&q)))
		switch {
		case errno == unix.ENOENT:
			return out
		case errno != 0:
			// No PROCMAP_QUERY (before 6.11): read the maps text.
			lines, err := ReadMaps(pid)
			if err != nil {
				return nil
			}
			out = out[:0]
			for _, l := range lines {
				if l.End >= lo && l.Start <= hi {
					out = append(out, [2]uint64{l.Start, l.End})
				}
			}
			return out
		case q.VMAStart > hi:
			return out
		}
		out = append(out, [2]uint64{q.VMAStart, q.VMAEnd})
		addr = q.VMAEnd
	}
	return out
}

// SignalState is a thread's signals from /proc/TID/status, as bit masks
// (bit n-1 for signal n).
type SignalState struct {
	Pending uint64 // its own pending signals (SigPnd)
	Shared  uint64 // its process's (ShdPnd)
	Blocked uint64 // SigBlk
	Ignored uint64 // SigIgn
	Caught  uint64 // SigCgt: a handler is set
}

// ReadSignalState reads thread tid's signal masks.
func ReadSignalState(tid int) (SignalState, bool) {
	var st SignalState
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return st, false
	}
	fields := map[string]*uint64{"SigPnd": &st.Pending, "ShdPnd": &st.Shared, "SigBlk": &st.Blocked,
		"SigIgn": &st.Ignored, "SigCgt": &st.Caught}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, cut := strings.Cut(line, ":")
		if p := fields[name]; cut && p != nil {
			v, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
			if err == nil {
				*p = v
				found++
			}
		}
	}
	return st, found == len(fields)
}

// PendingSignals reads thread tid's pending signals (its own and its
// process's) and its blocked mask.
func PendingSignals(tid int) (pending, blocked uint64, ok bool) {
	st, ok := ReadSignalState(tid)
	return st.Pending | st.Shared, st.Blocked, ok
}

// NamespaceTid reads thread tid's id in its innermost PID namespace (the
// last number of /proc/TID/status NSpid: the id the program sees).
func NamespaceTid(tid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(f[len(f)-1])
			return n, err == nil
		}
	}
	return 0, false
}

// Exiting reports whether thread tid is on its way out: SIGKILL pending
// (a fatal signal's group exit queues it to every thread), or past the
// start of its exit (PF_EXITING in /proc/TID/stat's flags), or gone.
func Exiting(tid int) bool {
	st, ok := ReadSignalState(tid)
	if !ok || (st.Pending|st.Shared)&(1<<(unix.SIGKILL-1)) != 0 {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(s[i+1:]) // field 3 (state) on
	if len(f) < 7 {
		return false
	}
	const pfExiting = 0x4
	flags, _ := strconv.ParseUint(f[6], 10, 64) // field 9
	return f[0] == "Z" || f[0] == "X" || flags&pfExiting != 0
}
