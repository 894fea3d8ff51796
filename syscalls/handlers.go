package syscalls

import (
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// Host is what a model update may ask of the calling process.
type Host interface {
	MemReader
	// FileBacking returns the identity of the process's open file fd and
	// whether it is a regular file; withMode also reads its open mode
	// (Backing.Writable), which only a shared mapping needs.
	FileBacking(fd int, withMode bool) (b mm.Backing, regular bool, err error)
	// MapsLineAt returns the host's /proc/PID/maps line containing addr.
	MapsLineAt(addr uint64) (mm.MapsLine, bool)
	// VMFlags returns the VM_* flags of the host's VMA at addr (its
	// VmFlags line in /proc/PID/smaps: a page-table walk per VMA, so only
	// where a call's outcome cannot be told otherwise).
	VMFlags(addr uint64) (mm.VMFlags, bool)
	// DriverFlags returns the mm.DriverFlags of the host's VMA at addr,
	// for a mapping of a file that is not regular (a device, an anon inode
	// such as io_uring or perf_event), whose driver's mmap may set them.
	DriverFlags(addr uint64) (mm.VMFlags, bool)
}

// Update applies a syscall's effect to the model, given its arguments and
// the host's return value (negative errno on failure). It returns the
// ranges whose edges the change may have merged with neighbours (none if
// nothing changed there): the sentry checks those edges against the host,
// which alone knows the anon_vmas that page faults attached.
//
// Preconditions: the caller holds the address space's mmap_lock for writing.
type Update func(as *mm.AddressSpace, h Host, args [6]uint64, ret int64) []Span

// A Span is the range [Start, End) of a change.
type Span struct{ Start, End uint64 }

// span is the one range [start, end), or none if it is empty.
func span(start, end uint64) []Span {
	if start >= end {
		return nil
	}
	return []Span{{start, end}}
}

// modelUpdate returns the model step the table gives an intercepted call
// the host runs, or nil (madvise and process_madvise are answered from
// the model; other calls do not change it). The handlers get theirs from
// their entry; the tests look them up by number.
func modelUpdate(nr uintptr, args [6]uint64) Update {
	if nr < uintptr(len(byNr)) {
		if e := byNr[nr]; e != nil && e.update != nil {
			return e.update(args)
		}
	}
	return nil
}

// mlock2Update: MLOCK_ONFAULT locks on fault.
func mlock2Update(r Regs) Update {
	if r[2]&unix.MLOCK_ONFAULT != 0 {
		return lockUpdate(mm.VMLocked | mm.VMLockOnFault)
	}
	return lockUpdate(mm.VMLocked)
}

func failed(ret int64) bool { return ret < 0 && ret > -4096 }

// mmapUpdate follows do_mmap: the new VMA at the returned address.
func mmapUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		// MAP_FIXED unmaps what it replaces first: a seal refuses after
		// the first VMA was split at the start.
		start, end := a[0], a[0]+mm.PageAlign(a[1])
		if a[3]&unix.MAP_FIXED != 0 && a[3]&unix.MAP_FIXED_NOREPLACE == 0 && ret == -int64(unix.EPERM) &&
			asFailed(as, ret, func(c *mm.AddressSpace) error { return c.Unmap(start, end) }) {
			return span(start, end)
		}
		return nil
	}
	start := uint64(ret)
	length, prot, flags := mm.PageAlign(a[1]), readImpliesExec(h, mm.Prot(a[2])), a[3]
	droppable := flags&unix.MAP_TYPE == unix.MAP_DROPPABLE
	shared := flags&unix.MAP_TYPE != unix.MAP_PRIVATE && !droppable
	// MAP_DROPPABLE is private anonymous memory that is also
	// VM_DROPPABLE|VM_WIPEONFORK|VM_DONTDUMP and never accounted.
	noreserve := flags&unix.MAP_NORESERVE != 0 || droppable
	var b mm.Backing
	device := false // a mapping of a file that is not regular
	zeroPgoff := false
	switch {
	case flags&unix.MAP_ANONYMOUS != 0 && !shared:
		b = mm.Backing{Kind: mm.BackingAnon}
	case flags&unix.MAP_ANONYMOUS != 0:
		b = sharedAnonBacking(h, start)
	default:
		fb, isRegular, err := h.FileBacking(int(int32(a[4])), shared)
		if err != nil {
			return nil
		}
		b, device = fb, !isRegular
		if fb.Path == "/dev/zero" {
			device = false
			// mmap of /dev/zero: private is anonymous memory that still
			// names /dev/zero, shared a fresh shmem file like
			// MAP_SHARED|MAP_ANONYMOUS. Both keep the mmap's offset.
			if shared {
				b = sharedAnonBacking(h, start)
				zeroPgoff = true
			} else {
				b.Kind = mm.BackingAnon
			}
		}
	}
	v := mm.NewMmap(start, length, prot&(mm.ProtRead|mm.ProtWrite|mm.ProtExec), shared, b, a[5]>>mm.PageShift, noreserve)
	if zeroPgoff {
		v.PgOff = a[5] >> mm.PageShift
	}
	if device {
		if f, ok := h.DriverFlags(start); ok {
			v.Flags |= f
		}
	}
	if flags&unix.MAP_GROWSDOWN != 0 {
		v.Flags |= mm.VMGrowsDown
	}
	if droppable {
		v.Flags |= mm.VMDroppable | mm.VMWipeOnFork | mm.VMDontDump
	}
	if flags&unix.MAP_LOCKED != 0 {
		v.Flags |= mm.VMLocked
	}
	withDefFlags(as, &v)
	if b.IsSecretmem() {
		// memfd_secret's mmap locks the mapping for good.
		v.Flags |= mm.VMLocked | mm.VMDontDump
	}
	if flags&unix.MAP_STACK != 0 && hostHasTHP() {
		// Since 6.7 a MAP_STACK mapping is VM_NOHUGEPAGE (calc_vm_flag_bits).
		v.Flags |= mm.VMNoHugePage
	}
	if flags&(unix.MAP_HUGETLB|unix.MAP_ANONYMOUS) == unix.MAP_HUGETLB|unix.MAP_ANONYMOUS && !hugetlbFromHost(h, &v) {
		return nil
	}
	as.Map(v)
	if v.Flags&mm.VMLocked != 0 || flags&(unix.MAP_POPULATE|unix.MAP_NONBLOCK) == unix.MAP_POPULATE {
		as.Populated(v.Start, v.End)
	}
	return span(v.Start, v.End)
}

// hugetlbFromHost makes v the anonymous huge page mapping the host made:
// the kernel backs MAP_ANONYMOUS|MAP_HUGETLB with a file of its own
// (/anon_hugepage), sizes it in huge pages (2 MiB, or the MAP_HUGE_*
// size) and sets VM_HUGETLB|VM_DONTEXPAND without VM_ACCOUNT. The extent,
// the file and the flags come from the host's line and smaps (rare: the
// call needs huge pages or MAP_NORESERVE). It reports false if the host
// cannot be read.
func hugetlbFromHost(h Host, v *mm.VMA) bool {
	l, ok := h.MapsLineAt(v.Start)
	if !ok || l.Start != v.Start {
		return false
	}
	f, ok := h.VMFlags(v.Start)
	if !ok {
		return false
	}
	v.End = l.End
	v.PgOff = l.Offset >> mm.PageShift
	v.Backing = mm.Backing{Kind: mm.BackingFile, DevMajor: l.DevMajor, DevMinor: l.DevMinor, Inode: l.Inode,
		Path: l.Path, Writable: true}
	v.Flags = f
	return true
}

// withDefFlags gives a new mapping mm->def_flags (do_mmap: VM_LOCKED and
// VM_LOCKONFAULT after mlockall(MCL_FUTURE)), then drops the lock bits
// (those or MAP_LOCKED's) of a mapping mlock cannot lock, as mmap_region
// does (a droppable one too: checked on 6.18).
func withDefFlags(as *mm.AddressSpace, v *mm.VMA) {
	v.Flags |= as.DefFlags
	if !v.Lockable() {
		v.Flags &^= mm.VMLockedMask
	}
}

func sharedAnonBacking(h Host, start uint64) mm.Backing {
	if l, ok := h.MapsLineAt(start); ok {
		return mm.SharedAnonBacking(l.DevMajor, l.DevMinor, l.Inode)
	}
	return mm.SharedAnonBacking(0, 1, 0)
}

func munmapUpdate(as *mm.AddressSpace, _ Host, a [6]uint64, ret int64) []Span {
	start, end := a[0], a[0]+mm.PageAlign(a[1])
	if !failed(ret) {
		as.Unmap(start, end)
		return nil
	}
	// A seal refuses after the first VMA was split at start.
	if asFailed(as, ret, func(c *mm.AddressSpace) error { return c.Unmap(start, end) }) {
		return span(start, end)
	}
	return nil
}

// asFailed runs step on the model if, tried on a copy, it fails with the
// host's errno (ret): the kernel keeps what such a call did before it
// failed (a split, VMAs changed before a hole), and so does the model. It
// reports whether it did.
func asFailed(as *mm.AddressSpace, ret int64, step func(*mm.AddressSpace) error) bool {
	if err, ok := step(as.Clone()).(unix.Errno); !ok || -int64(err) != ret {
		return false
	}
	step(as)
	return true
}

func mprotectUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	switch ret {
	case 0, -int64(unix.ENOMEM), -int64(unix.EACCES), -int64(unix.EPERM):
		// mprotect's loop changes the VMAs before the one it fails at (a
		// hole, prot beyond VM_MAY*, a sealed VMA).
	default:
		return nil
	}
	if a[1] == 0 {
		return nil // "if (!len) return 0", before anything is looked up
	}
	start, end := a[0], a[0]+mm.PageAlign(a[1])
	if a[2]&unix.PROT_GROWSDOWN != 0 {
		// do_mprotect_pkey starts from the first VMA of [start, end),
		// which start may lie below (found by the fuzzer: seeds 1163,
		// 1229, 1291).
		if v, ok := as.FindNext(start); ok && v.Start < end && v.Flags&mm.VMGrowsDown != 0 {
			start = v.Start
		}
	}
	prot := readImpliesExec(h, mm.Prot(a[2])) & (mm.ProtRead | mm.ProtWrite | mm.ProtExec)
	if ret != 0 {
		// The model's own walk stops at the same place if it fails with
		// the host's errno; if not, the host refused for a reason the
		// model does not know (PR_SET_MDWE's EACCES), and the host's
		// protections of the range are taken as they are.
		if err, _ := as.Clone().Protect(start, end, prot).(unix.Errno); -int64(err) != ret {
			protectFromHost(as, h, start, end)
			return span(start, end)
		}
	}
	as.Protect(start, end, prot)
	return span(start, end)
}

// protectFromHost gives the model's VMAs in [start, end) the protection
// the host's VMAs there have.
func protectFromHost(as *mm.AddressSpace, h Host, start, end uint64) {
	for addr := start; addr < end; {
		l, ok := h.MapsLineAt(addr)
		if !ok || l.End <= addr {
			return
		}
		as.Protect(max(l.Start, addr), min(l.End, end), l.Prot())
		addr = l.End
	}
}

func mremapUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	oldSpan := Span{a[0], a[0] + mm.PageAlign(a[1])}
	if failed(ret) {
		// What the kernel did before it failed stays done: the target
		// MREMAP_FIXED unmapped, a split before a seal, the VMAs a
		// multi-VMA move moved.
		if asFailed(as, ret, func(c *mm.AddressSpace) error {
			_, _, err := c.Mremap(a[0], a[1], a[2], a[3], a[4], 0)
			return err
		}) {
			return []Span{oldSpan, {a[4], a[4] + mm.PageAlign(a[2])}}
		}
		return nil
	}
	moved := Span{uint64(ret), uint64(ret) + mm.PageAlign(a[2])}
	changed := []Span{moved}
	if a[3]&unix.MREMAP_DONTUNMAP != 0 {
		// The old range stays mapped, emptied: its edges too.
		changed = append(changed, oldSpan)
	}
	if at, _, err := as.Mremap(a[0], a[1], a[2], a[3], a[4], uint64(ret)); err == nil && at == uint64(ret) {
		as.LearnMovedPgOff(at, func() (uint64, bool) {
			l, ok := h.MapsLineAt(at)
			return l.Offset >> mm.PageShift, ok && l.Start == at
		})
		return changed
	}
	// The model disagrees with the host: take the host's address.
	if a[3]&unix.MREMAP_DONTUNMAP != 0 {
		as.RemapDontUnmap(a[0], mm.PageAlign(a[1]), uint64(ret))
	} else {
		as.Remap(a[0], mm.PageAlign(a[1]), uint64(ret), mm.PageAlign(a[2]))
	}
	return changed
}

// brkUpdate follows brk(2): the returned break is the new one; the heap
// VMA grows (do_brk_flags, merging with the previous heap VMA) or shrinks.
func brkUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	startBrk, oldBrk := as.Brk()
	newBrk := uint64(ret)
	if newBrk == oldBrk {
		return nil
	}
	oldEnd, newEnd := mm.PageAlign(oldBrk), mm.PageAlign(newBrk)
	var changed []Span
	switch {
	case newEnd > oldEnd:
		// VM_DATA_DEFAULT_FLAGS: exec too under READ_IMPLIES_EXEC.
		prot := readImpliesExec(h, mm.ProtRead|mm.ProtWrite)
		v := mm.NewMmap(oldEnd, newEnd-oldEnd, prot, false, mm.Backing{Kind: mm.BackingAnon}, 0, false)
		v.Flags |= as.DefFlags // do_brk_flags: mm->def_flags
		as.Map(v)
		if v.Flags&mm.VMLocked != 0 {
			as.Populated(oldEnd, newEnd)
		}
		changed = span(oldEnd, newEnd)
	case newEnd < oldEnd:
		as.Unmap(newEnd, oldEnd)
	}
	as.SetBrk(startBrk, newBrk)
	return changed
}

func msealUpdate(as *mm.AddressSpace, _ Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	start, end := a[0], a[0]+mm.PageAlign(a[1])
	as.SetFlags(start, end, mm.VMSealed, 0)
	return span(start, end)
}

// lockUpdate follows mlock (lock VMLocked), mlock2 and munlock (lock 0)
// over the range widened to whole pages: Mlock's walk. A failure may come
// before the walk (EINVAL, EPERM, RLIMIT_MEMLOCK's ENOMEM), from it (ENOMEM
// at a hole or a refused split, with the VMAs before changed) or after it
// (mlock's populate: ENOMEM for a page it cannot fault in, EAGAIN, with
// the whole range changed); the host's lock bits at the first place the
// walk would change tell whether it ran.
func lockUpdate(lock mm.VMFlags) Update {
	return func(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
		start := a[0] &^ (mm.PageSize - 1)
		end := mm.PageAlign(a[0] + a[1])
		if start >= end {
			return nil
		}
		switch {
		case ret == -int64(unix.EINVAL) || ret == -int64(unix.EPERM):
			return nil
		case failed(ret):
			addr, ok := as.MlockChange(start, end, lock)
			if !ok {
				return nil
			}
			if f, ok := h.VMFlags(addr); !ok || f&mm.VMLockedMask != lock {
				return nil
			}
		}
		as.Mlock(start, end, lock)
		if ret == 0 && lock == mm.VMLocked {
			as.Populated(start, end)
		}
		return span(start, end)
	}
}

// mlockallUpdate follows mlockall (apply_mlockall_flags): the default
// flags of new mappings lose VM_LOCKED/VM_LOCKONFAULT, and get them back
// with MCL_FUTURE; with MCL_CURRENT every VMA mlock may lock gets the lock
// bits (VM_LOCKONFAULT only with MCL_ONFAULT). A failed call changes
// nothing (its populate errors are ignored).
func mlockallUpdate(as *mm.AddressSpace, _ Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	lock := mm.VMLocked
	if a[0]&unix.MCL_ONFAULT != 0 {
		lock |= mm.VMLockOnFault
	}
	as.DefFlags &^= mm.VMLockedMask
	if a[0]&unix.MCL_FUTURE != 0 {
		as.DefFlags |= lock
	}
	if a[0]&unix.MCL_CURRENT == 0 {
		return nil
	}
	return mlockAll(as, lock)
}

func munlockallUpdate(as *mm.AddressSpace, _ Host, _ [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	as.DefFlags &^= mm.VMLockedMask
	return mlockAll(as, 0)
}

// mlockAll gives every VMA the lock bits lock (MlockAll), and with
// VMLocked alone populates all of them as mlockall(MCL_CURRENT) does. It
// returns the VMAs whose lock bits changed: whether they merged with
// their neighbours depends on anon_vmas that only the host knows (faults,
// a populate that stopped early).
func mlockAll(as *mm.AddressSpace, lock mm.VMFlags) []Span {
	var changed []Span
	for _, v := range as.VMAs() {
		if v.Lockable() && v.Flags&mm.VMLockedMask != lock {
			changed = append(changed, Span{v.Start, v.End})
		}
	}
	as.MlockAll(lock)
	if lock == mm.VMLocked {
		for _, v := range as.VMAs() {
			as.Populated(v.Start, v.End)
		}
	}
	return changed
}

// shmatUpdate adopts the host's view of the attached segment (its shm file
// identity is only visible there).
func shmatUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	l, ok := h.MapsLineAt(uint64(ret))
	if !ok {
		return nil
	}
	for _, v := range mm.FromMaps([]mm.MapsLine{l}).VMAs() {
		withDefFlags(as, &v) // do_shmat maps with do_mmap
		as.Map(v)
	}
	return span(l.Start, l.End)
}

// shmdtUpdate removes the segment attached at addr (every VMA of it that
// follows, as do_shmdt does).
func shmdtUpdate(as *mm.AddressSpace, _ Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	v, ok := as.Find(a[0])
	if !ok || v.Start != a[0] {
		return nil
	}
	end := v.End
	for {
		n, ok := as.FindNext(end)
		if !ok || n.Start != end || n.Backing != v.Backing {
			break
		}
		end = n.End
	}
	as.Unmap(v.Start, end)
	return nil
}

// prctlUpdate follows prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len,
// name).
func prctlUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	if failed(ret) || uint32(a[0]) != unix.PR_SET_VMA || a[1] != unix.PR_SET_VMA_ANON_NAME {
		return nil
	}
	name := ""
	if a[4] != 0 {
		s, err := h.ReadString(a[4], 80)
		if err != nil {
			return nil
		}
		name = s
	}
	start, end := a[2], a[2]+mm.PageAlign(a[3])
	as.SetName(start, end, name)
	return span(start, end)
}

// uffdUpdate follows abi.UFFDIO_REGISTER / abi.UFFDIO_UNREGISTER: the VMAs of the
// range become (or stop being) userfaultfd-armed.
func uffdUpdate(as *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	b, err := h.ReadBytes(a[2], 16)
	if err != nil {
		return nil
	}
	start := binary.LittleEndian.Uint64(b)
	end := start + binary.LittleEndian.Uint64(b[8:])
	as.SetUffd(start, end, uint32(a[1]) == abi.UFFDIO_REGISTER)
	return span(start, end)
}

// hostHasTHP reports whether the host kernel has transparent huge pages
// (CONFIG_TRANSPARENT_HUGEPAGE), which decides some VM_*HUGEPAGE flags.
var hostHasTHP = sync.OnceValue(func() bool {
	_, err := os.Stat("/sys/kernel/mm/transparent_hugepage")
	return err == nil
})
