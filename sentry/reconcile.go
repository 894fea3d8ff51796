package sentry

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procmapQuery is struct procmap_query, the PROCMAP_QUERY ioctl on
// /proc/PID/maps (Linux 6.11+): one VMA by address, without reading the
// whole maps text.
type procmapQuery struct {
	Size, QueryFlags, QueryAddr uint64
	VMAStart, VMAEnd, VMAFlags  uint64
	VMAPageSize, VMAOffset      uint64
	Inode                       uint64
	DevMajor, DevMinor          uint32
	VMANameSize, BuildIDSize    uint32
	VMANameAddr, BuildIDAddr    uint64
}

// ioctlProcmapQuery is _IOWR('f', 17, struct procmap_query).
const ioctlProcmapQuery = 0xc0000000 | uint64(unsafe.Sizeof(procmapQuery{}))<<16 | 'f'<<8 | 17

// reconcileEdges checks the edges of a range the model just changed against
// the host. Where the model merged across an edge but the host kept a
// boundary there, the kernel saw something the sentry cannot (the
// anon_vmas page faults attach), and the model is split to match.
//
// Preconditions: as is write-locked by t.
func (t *Task) reconcileEdges(as *AddressSpace, start, end uint64) {
	var edges []uint64
	for _, e := range [2]uint64{start, end} {
		if v, ok := as.model.Find(e); ok && v.Start < e {
			edges = append(edges, e)
		}
	}
	if len(edges) == 0 {
		return
	}
	for _, e := range t.hostBoundaries(edges) {
		as.model.SplitApart(e)
	}
}

// hostBoundaries returns the addresses among addrs where the host has a VMA
// boundary (a VMA starts there, or nothing is mapped).
func (t *Task) hostBoundaries(addrs []uint64) []uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", t.tg.pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []uint64
	for _, a := range addrs {
		q := procmapQuery{Size: uint64(unsafe.Sizeof(procmapQuery{})), QueryAddr: a}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(ioctlProcmapQuery), uintptr(unsafe.Pointer(&q)))
		switch {
		case errno == 0:
			if q.VMAStart == a {
				out = append(out, a)
			}
		case errors.Is(errno, unix.ENOENT):
			out = append(out, a)
		default:
			// No PROCMAP_QUERY (before 6.11): read the maps text.
			return boundariesFromMaps(t.tg.pid, addrs)
		}
	}
	return out
}

func boundariesFromMaps(pid int, addrs []uint64) []uint64 {
	lines, err := readMaps(pid)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, a := range addrs {
		covered := false
		for _, l := range lines {
			if l.Start <= a && a < l.End {
				covered = l.Start != a
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}
