package hostmm

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// The PROCMAP_QUERY ioctl (6.11) answered from the model, for the maps fd
// of the sentry's /proc view (a memfd, on which the host has no such
// ioctl) or a host before 6.11: fs/proc/task_mmu.c do_procmap_query: the
// VMA covering the address (or, with PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
// the next one), the access and file-backed filters, start, end, flags,
// page size, offset, device, inode and name. No build ID is reported
// (build_id_size 0).

// procmapQueryFlags are the query_flags the kernel knows.
const procmapQueryFlags = abi.PROCMAP_QUERY_VMA_READABLE | abi.PROCMAP_QUERY_VMA_WRITABLE |
	abi.PROCMAP_QUERY_VMA_EXECUTABLE | abi.PROCMAP_QUERY_VMA_SHARED |
	abi.PROCMAP_QUERY_COVERING_OR_NEXT_VMA | abi.PROCMAP_QUERY_FILE_BACKED_VMA

// ProcmapQuery answers PROCMAP_QUERY with the struct procmap_query at
// tr's argAddr from the model as, and returns the ioctl's result.
//
// Preconditions: as is locked by the caller.
func ProcmapQuery(tr Tracee, as *mm.AddressSpace, argAddr uint64) int64 {
	var b [abi.ProcmapQuerySize]byte
	if tr.ReadMem(argAddr, b[:8]) != nil {
		return -int64(unix.EFAULT)
	}
	size := binary.LittleEndian.Uint64(b[:])
	if size < 24 { // offsetofend(struct procmap_query, query_addr)
		return -int64(unix.EINVAL)
	}
	// A shorter (older) struct is read and written up to its size; a
	// longer one up to the fields known here.
	n := min(size, abi.ProcmapQuerySize)
	if tr.ReadMem(argAddr, b[:n]) != nil {
		return -int64(unix.EFAULT)
	}
	var q abi.ProcmapQuery
	if _, err := binary.Decode(b[:], binary.LittleEndian, &q); err != nil {
		panic(err) // b is the struct's size
	}
	name, errno := answerProcmapQuery(as, &q)
	if errno != 0 {
		return -int64(errno)
	}
	if len(name) > 0 && tr.WriteMem(q.VMANameAddr, name) != nil {
		return -int64(unix.EFAULT)
	}
	if _, err := binary.Encode(b[:], binary.LittleEndian, &q); err != nil {
		panic(err)
	}
	if tr.WriteMem(argAddr, b[:n]) != nil {
		return -int64(unix.EFAULT)
	}
	return 0
}

// answerProcmapQuery fills the answer fields of q from the model, and
// returns the name to write at q.VMANameAddr (none when the VMA has no
// name or the caller asked for none).
func answerProcmapQuery(as *mm.AddressSpace, q *abi.ProcmapQuery) ([]byte, unix.Errno) {
	if q.QueryFlags&^procmapQueryFlags != 0 || (q.VMANameSize != 0) != (q.VMANameAddr != 0) ||
		(q.BuildIDSize != 0) != (q.BuildIDAddr != 0) {
		return nil, unix.EINVAL
	}
	v, ok := findQueried(as, q.QueryAddr, q.QueryFlags)
	if !ok {
		return nil, unix.ENOENT
	}
	l := as.MapsLineOf(v)
	// PROCMAP_QUERY_VMA_READABLE/WRITABLE/EXECUTABLE are PROT_READ/
	// WRITE/EXEC's bits.
	vf := uint64(l.Prot())
	if l.Shared() {
		vf |= abi.PROCMAP_QUERY_VMA_SHARED
	}
	q.VMAStart, q.VMAEnd, q.VMAFlags = v.Start, v.End, vf
	q.VMAPageSize = mm.PageSize
	if v.Flags&mm.VMHugeTLB != 0 {
		q.VMAPageSize = mm.HugePMDSize
	}
	q.VMAOffset, q.Inode = l.Offset, l.Inode
	q.DevMajor, q.DevMinor = l.DevMajor, l.DevMinor
	q.BuildIDSize = 0
	if q.VMANameSize == 0 {
		return nil, 0
	}
	if len(l.Path) == 0 {
		q.VMANameSize = 0
		return nil, 0
	}
	name := append([]byte(l.Path), 0)
	if uint32(len(name)) > q.VMANameSize {
		return nil, unix.ENAMETOOLONG
	}
	q.VMANameSize = uint32(len(name))
	return name, 0
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
		if v.Start > addr && flags&abi.PROCMAP_QUERY_COVERING_OR_NEXT_VMA == 0 {
			return mm.VMA{}, false
		}
		p := v.Prot()
		switch {
		case flags&abi.PROCMAP_QUERY_VMA_READABLE != 0 && p&mm.ProtRead == 0,
			flags&abi.PROCMAP_QUERY_VMA_WRITABLE != 0 && p&mm.ProtWrite == 0,
			flags&abi.PROCMAP_QUERY_VMA_EXECUTABLE != 0 && p&mm.ProtExec == 0,
			flags&abi.PROCMAP_QUERY_VMA_SHARED != 0 && v.Flags&mm.VMMayShare == 0,
			flags&abi.PROCMAP_QUERY_FILE_BACKED_VMA != 0 && v.Backing.Kind != mm.BackingFile && v.Backing.Kind != mm.BackingSharedAnon:
			if flags&abi.PROCMAP_QUERY_COVERING_OR_NEXT_VMA == 0 {
				return mm.VMA{}, false
			}
			addr = v.End
			continue
		}
		return v, true
	}
}
