package sentry

import (
	"errors"
	"fmt"
	"madvisor/abi"
	"os"
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reconcileEdges checks the edges of a range the model just changed against
// the host. Whether the kernel merges two VMAs depends on their anon_vmas,
// which page faults attach and the sentry never sees; so where the model
// and the host disagree at an edge, the model follows the host.
//
// Preconditions: as is write-locked by t.
func (t *Task) reconcileEdges(as *AddressSpace, start, end uint64) {
	// Only edges with VMAs on both sides can differ: split where the model
	// merged, or merged where the model split.
	var spans, splits []uint64
	for _, e := range [2]uint64{start, end} {
		v, ok := as.m.AS.Find(e)
		if !ok {
			continue
		}
		if v.Start < e {
			spans = append(spans, e)
		} else if p, ok := as.m.AS.Find(e - 1); ok && p.End == e {
			splits = append(splits, e)
		}
	}
	if len(spans)+len(splits) == 0 {
		return
	}
	host := t.hostBoundaries(append(spans, splits...))
	for _, e := range spans {
		if slices.Contains(host, e) {
			as.m.AS.SplitApart(e)
		}
	}
	for _, e := range splits {
		if !slices.Contains(host, e) {
			as.m.AS.MergeAcross(e, t.s.emulatedFlags())
		}
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
		q, errno := queryVMA(f, a, nil)
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

// queryVMA asks PROCMAP_QUERY on an open /proc/PID/maps for the VMA
// containing addr; name, if not nil, receives its name (as maps prints it).
// ENOENT: nothing is mapped there; ENOTTY/EINVAL: no PROCMAP_QUERY.
func queryVMA(f *os.File, addr uint64, name []byte) (abi.ProcmapQuery, unix.Errno) {
	q := abi.ProcmapQuery{Size: uint64(unsafe.Sizeof(abi.ProcmapQuery{})), QueryAddr: addr}
	if len(name) > 0 {
		q.VMANameSize = uint32(len(name))
		q.VMANameAddr = uint64(uintptr(unsafe.Pointer(&name[0])))
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), abi.PROCMAP_QUERY, uintptr(unsafe.Pointer(&q)))
	runtime.KeepAlive(name)
	return q, errno
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
