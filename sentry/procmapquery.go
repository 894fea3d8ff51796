package sentry

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"madvisor/hostmm"
	"madvisor/mm"
)

// The PROCMAP_QUERY ioctl (6.11) while the sentry keeps the program's view
// of /proc: the program's maps fd is then the sentry's memfd (procview.go),
// on which the host has no such ioctl, and a host before 6.11 has none at
// all; so the query is answered from the model (fs/proc/task_mmu.c
// do_procmap_query): the VMA covering the address (or, with
// PROCMAP_QUERY_COVERING_OR_NEXT_VMA, the next one), the access and
// file-backed filters, start, end, flags, page size, offset, device,
// inode and name. No build ID is reported (build_id_size 0).

// PROCMAP_QUERY query_flags (include/uapi/linux/fs.h).
const (
	pmqVMAReadable       = 0x01
	pmqVMAWritable       = 0x02
	pmqVMAExecutable     = 0x04
	pmqVMAShared         = 0x08
	pmqCoveringOrNextVMA = 0x10
	pmqFileBackedVMA     = 0x20
	pmqArgSize           = 104 // sizeof(struct procmap_query)
)

// procmapQueryEntry answers PROCMAP_QUERY on a maps fd of the /proc view.
// It reports whether it set act. Engine thread only.
func (t *Task) procmapQueryEntry(act *action, si *syscallInfo) bool {
	fd, argAddr := int(int32(si.Args[0])), si.Args[2]
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", t.tid, fd))
	if err != nil {
		return false
	}
	// The view's memfd is named after the path the program opened ("self"
	// is read as the caller: the opener, unless the fd was inherited).
	path, ok := strings.CutPrefix(strings.TrimSuffix(link, " (deleted)"), "/memfd:")
	if !ok {
		path = link // the host's own maps file (a host without the ioctl)
	}
	target, file := t.procFileOf(path)
	if target == nil || target.tg.mm == nil || file != "maps" {
		return false
	}
	as := target.tg.mm
	act.locked = as
	act.emulate = func(hostmm.Tracee) int64 {
		var b [pmqArgSize]byte
		if t.readMem(argAddr, b[:8]) != nil {
			return -int64(unix.EFAULT)
		}
		size := binary.LittleEndian.Uint64(b[:])
		if size < 24 { // offsetofend(struct procmap_query, query_addr)
			return -int64(unix.EINVAL)
		}
		n := min(size, pmqArgSize)
		if t.readMem(argAddr, b[:n]) != nil {
			return -int64(unix.EFAULT)
		}
		flags, addr := binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
		// struct procmap_query: ... vma_name_size (u32) at 80,
		// build_id_size (u32) at 84, vma_name_addr at 88, build_id_addr at 96.
		nameSize, buildIDSize := binary.LittleEndian.Uint32(b[80:]), binary.LittleEndian.Uint32(b[84:])
		nameAddr, buildIDAddr := binary.LittleEndian.Uint64(b[88:]), binary.LittleEndian.Uint64(b[96:])
		if flags&^0x3f != 0 || (nameSize != 0) != (nameAddr != 0) || (buildIDSize != 0) != (buildIDAddr != 0) {
			return -int64(unix.EINVAL)
		}
		v, ok := findQueried(as.m.AS, addr, flags)
		if !ok {
			return -int64(unix.ENOENT)
		}
		l := as.m.AS.MapsLineOf(v)
		// PROCMAP_QUERY_VMA_READABLE/WRITABLE/EXECUTABLE are PROT_READ/
		// WRITE/EXEC's bits.
		vf := uint64(l.Prot())
		if l.Shared() {
			vf |= pmqVMAShared
		}
		put := func(off int, x uint64) { binary.LittleEndian.PutUint64(b[off:], x) }
		put(24, v.Start)
		put(32, v.End)
		put(40, vf)
		put(48, mm.PageSize)
		if v.Flags&mm.VMHugeTLB != 0 {
			put(48, mm.HugePMDSize)
		}
		put(56, l.Offset)
		put(64, l.Inode)
		binary.LittleEndian.PutUint32(b[72:], l.DevMajor)
		binary.LittleEndian.PutUint32(b[76:], l.DevMinor)
		binary.LittleEndian.PutUint32(b[84:], 0) // build_id_size
		if nameSize > 0 {
			name := append([]byte(l.Path), 0)
			if len(l.Path) == 0 {
				nameSize = 0
			} else if uint32(len(name)) > nameSize {
				return -int64(unix.ENAMETOOLONG)
			} else {
				if t.writeMem(nameAddr, name) != nil {
					return -int64(unix.EFAULT)
				}
				nameSize = uint32(len(name))
			}
			binary.LittleEndian.PutUint32(b[80:], nameSize)
		}
		if t.writeMem(argAddr, b[:n]) != nil {
			return -int64(unix.EFAULT)
		}
		return 0
	}
	return true
}

// findQueried is query_matching_vma: the VMA covering addr (or the next
// one with PROCMAP_QUERY_COVERING_OR_NEXT_VMA) that passes the filters,
// going on to later VMAs as the kernel does when one does not.
func findQueried(as *mm.AddressSpace, addr, flags uint64) (mm.VMA, bool) {
	for {
		v, ok := as.FindNext(addr)
		if !ok || v.Backing.Kind == mm.BackingVsyscall {
			return mm.VMA{}, false
		}
		if v.Start > addr && flags&pmqCoveringOrNextVMA == 0 {
			return mm.VMA{}, false
		}
		p := v.Prot()
		switch {
		case flags&pmqVMAReadable != 0 && p&mm.ProtRead == 0,
			flags&pmqVMAWritable != 0 && p&mm.ProtWrite == 0,
			flags&pmqVMAExecutable != 0 && p&mm.ProtExec == 0,
			flags&pmqVMAShared != 0 && v.Flags&mm.VMMayShare == 0,
			flags&pmqFileBackedVMA != 0 && v.Backing.Kind != mm.BackingFile && v.Backing.Kind != mm.BackingSharedAnon:
			if flags&pmqCoveringOrNextVMA == 0 {
				return mm.VMA{}, false
			}
			addr = v.End
			continue
		}
		return v, true
	}
}
