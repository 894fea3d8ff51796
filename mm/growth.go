package mm

import "sort"

// Stack growth. A page fault below a VM_GROWSDOWN VMA (the main thread's
// [stack], a MAP_GROWSDOWN mapping) extends it down to the faulting page
// with no syscall (expand_downwards), so the model learns it from the
// host: the sentry asks where such a VMA starts now before a call that
// could see the difference, and GrowDown checks that the growth is one
// the kernel could have made before taking it.

// StackGuardGap is the kernel's stack_guard_gap (256 pages unless the
// stack_guard_gap= boot parameter says otherwise): a grows-down VMA never
// grows closer than this to an accessible VMA below it that does not grow
// down itself.
var StackGuardGap uint64 = 256 << PageShift

// GrowsDownBelow returns the starts of the VM_GROWSDOWN VMAs that could
// have grown into [start, end): the free space below each, down to the
// VMA before it, meets the range. An empty range is none.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) GrowsDownBelow(start, end uint64) []uint64 {
	if start >= end {
		return nil
	}
	var out []uint64
	for v := range as.growsDown {
		if start >= v.Start {
			continue // the space below v ends where v starts
		}
		floor := uint64(0)
		if p := as.prev(v); p != nil {
			floor = p.End
		}
		if end > floor && floor < v.Start {
			out = append(out, v.Start)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// GrowsDownStarts returns the starts of all VM_GROWSDOWN VMAs with free
// space below them, in address order.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) GrowsDownStarts() []uint64 {
	return as.GrowsDownBelow(0, ^uint64(0))
}

// GrowDown extends the VM_GROWSDOWN VMA that starts at start down to
// newStart, as expand_downwards does on a fault there: its pgoff moves
// down with it, its guard pages keep their addresses, and it gets an
// anon_vma (the kernel attaches one before growing). It reports whether
// it did: nothing changes unless newStart is page aligned, below start,
// at or above the end of the VMA before it, and at least
// StackGuardGap above that VMA when it is accessible and does not grow
// down itself — what the kernel would refuse is not growth but a
// difference the checker must report.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) GrowDown(start, newStart uint64) bool {
	v := as.find(start)
	if v == nil || v.Start != start || v.Flags&VMGrowsDown == 0 ||
		newStart >= start || newStart%PageSize != 0 {
		return false
	}
	delta := (start - newStart) >> PageShift
	if delta > v.PgOff {
		return false // pgoff would wrap: the kernel refuses too
	}
	if p := as.prev(v); p != nil {
		if p.End > newStart {
			return false
		}
		if p.Flags&VMGrowsDown == 0 && p.Flags&VMAccessFlags != 0 && newStart-p.End < StackGuardGap {
			return false
		}
	}
	nv := *v
	nv.Start = newStart
	nv.PgOff = v.PgOff - delta
	nv.Guards = v.Guards.Shift(delta)
	if nv.AnonVMA == 0 {
		nv.AnonVMA = as.newAnonVMA()
	}
	keepEnd := as.unmergedOK[v.End]
	as.remove(v)
	as.insert(&nv)
	as.restoreApart(v.End, keepEnd)
	if p := as.prev(&nv); p != nil && p.End == newStart {
		as.unmergedOK[newStart] = apartKernel // growth never merges
	}
	return true
}

// GrowDownTo grows the VM_GROWSDOWN VMA that starts at start down to the
// start of the host's line l that holds start, if l begins lower with the
// same access bits (under guard emulation, l is the host piece of the
// VMA's lowest pages) and GrowDown accepts the growth.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) GrowDownTo(start uint64, l MapsLine) bool {
	v := as.find(start)
	if v == nil || l.Start >= start || l.End <= start || l.Prot() != v.Prot() {
		return false
	}
	return as.GrowDown(start, l.Start)
}
