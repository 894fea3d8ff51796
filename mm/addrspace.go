package mm

import (
	"fmt"
	"maps"

	"github.com/google/btree"
)

// DefaultMaxMapCount is the default vm.max_map_count.
const DefaultMaxMapCount = 65530

// Stats are the per-mm counters the kernel keeps (map_count, total_vm,
// locked_vm, data_vm, exec_vm, stack_vm) plus the number of guard pages.
// All are in pages except MapCount.
type Stats struct {
	MapCount    int
	TotalPages  uint64
	LockedPages uint64
	DataPages   uint64
	ExecPages   uint64
	StackPages  uint64
	GuardPages  uint64
}

// add accounts v into s (sign +1) or out of it (sign -1), as
// vm_stat_account does.
func (s *Stats) add(v *VMA, sign int) {
	n := v.Pages()
	g := v.Guards.Pages()
	if sign < 0 {
		n, g = -n, -g
	}
	s.MapCount += sign
	s.TotalPages += n
	s.GuardPages += g
	if v.Flags&VMLocked != 0 {
		s.LockedPages += n
	}
	switch f := v.Flags; {
	case f&(VMWrite|VMExec|VMGrowsDown) == VMExec:
		s.ExecPages += n
	case f&VMGrowsDown != 0:
		s.StackPages += n
	case f&(VMWrite|VMShared|VMGrowsDown) == VMWrite:
		s.DataPages += n
	}
}

// AddressSpace is the shadow of one mm_struct: its VMA tree and the mm
// fields that /proc/PID/maps and the memory syscalls depend on.
//
// An AddressSpace is guarded by its mmap_lock, which callers hold: methods
// say in their Preconditions whether it must be held for reading or for
// writing.
type AddressSpace struct {
	// tree holds the VMAs ordered by Start. It is protected by mmap_lock.
	tree *btree.BTreeG[*VMA]
	// stats are the cached counters, maintained by insert and remove. They
	// are protected by mmap_lock.
	stats Stats

	// startBrk, brk and startStack are mm->start_brk, mm->brk and
	// mm->start_stack. They are protected by mmap_lock.
	startBrk, brk, startStack uint64

	// MaxMapCount is vm.max_map_count, checked where the kernel checks it
	// (splits, mmap). It is protected by mmap_lock.
	MaxMapCount int

	// EnoughMemory is security_vm_enough_memory_mm: whether the host's
	// overcommit policy lets a VM_ACCOUNT mapping be charged pages more
	// (mremap's charge). nil: always. It is set once, by the owner.
	EnoughMemory func(pages uint64) bool

	// HiddenFlags are the VMA flags only the model has (the features the
	// run emulates: VM_SEALED, VM_WIPEONFORK...): VMAs that differ in
	// nothing else are one VMA on the host. It is set once, by the owner.
	HiddenFlags VMFlags

	// DefFlags is mm->def_flags: VM_LOCKED (and VM_LOCKONFAULT) after
	// mlockall(MCL_FUTURE), which every new mapping gets. It is protected
	// by mmap_lock.
	DefFlags VMFlags

	// lastAnonVMA is the last anon_vma identity handed out. It is
	// protected by mmap_lock.
	lastAnonVMA AnonVMAID

	// unmergedOK holds the addresses where two adjacent VMAs that could
	// merge are known to stay separate in the kernel (mremap's in-place
	// expansion never merges with the next VMA; fork does not merge).
	// Entries die when a VMA starting or ending there is removed. The
	// value says why the VMAs stay apart. It is protected by mmap_lock.
	unmergedOK map[uint64]apartWhy

	// growsDown indexes the VM_GROWSDOWN VMAs of the tree (maintained by
	// insert and remove), which page faults grow without a syscall (see
	// GrowDown). It is protected by mmap_lock.
	growsDown map[*VMA]struct{}
}

func lessVMA(a, b *VMA) bool { return a.Start < b.Start }

// NewAddressSpace returns an empty address space.
func NewAddressSpace() *AddressSpace {
	return &AddressSpace{
		tree:        btree.NewG(32, lessVMA),
		MaxMapCount: DefaultMaxMapCount,
		unmergedOK:  make(map[uint64]apartWhy),
		growsDown:   make(map[*VMA]struct{}),
	}
}

// Len returns the number of VMAs (mm->map_count).
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Len() int { return as.tree.Len() }

// Stats returns the cached counters.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Stats() Stats { return as.stats }

// SetBrk records mm->start_brk and mm->brk (used for the [heap] label).
// The heap VMA itself is created, grown and shrunk by the caller with Map
// and Unmap.
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SetBrk(startBrk, brk uint64) { as.startBrk, as.brk = startBrk, brk }

// Brk returns mm->start_brk and mm->brk.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Brk() (startBrk, brk uint64) { return as.startBrk, as.brk }

// SetStackStart records mm->start_stack (used for the [stack] label).
//
// Preconditions: the caller holds mmap_lock for writing.
func (as *AddressSpace) SetStackStart(addr uint64) { as.startStack = addr }

// StackStart returns mm->start_stack.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) StackStart() uint64 { return as.startStack }

// insert adds v to the tree and the counters.
func (as *AddressSpace) insert(v *VMA) {
	if _, dup := as.tree.ReplaceOrInsert(v); dup {
		panic(fmt.Sprintf("mm: two VMAs start at %#x", v.Start))
	}
	as.stats.add(v, +1)
	if v.Flags&VMGrowsDown != 0 {
		as.growsDown[v] = struct{}{}
	}
}

// remove takes v out of the tree and the counters.
func (as *AddressSpace) remove(v *VMA) {
	if _, ok := as.tree.Delete(v); !ok {
		panic(fmt.Sprintf("mm: removing absent VMA %v", *v))
	}
	as.stats.add(v, -1)
	delete(as.growsDown, v)
	delete(as.unmergedOK, v.Start)
	delete(as.unmergedOK, v.End)
}

// find returns the VMA containing addr, or nil.
func (as *AddressSpace) find(addr uint64) *VMA {
	var found *VMA
	as.tree.DescendLessOrEqual(&VMA{Start: addr}, func(v *VMA) bool {
		found = v
		return false
	})
	if found != nil && addr < found.End {
		return found
	}
	return nil
}

// findNext returns the first VMA with End > addr, or nil.
func (as *AddressSpace) findNext(addr uint64) *VMA {
	if v := as.find(addr); v != nil {
		return v
	}
	var found *VMA
	as.tree.AscendGreaterOrEqual(&VMA{Start: addr}, func(v *VMA) bool {
		found = v
		return false
	})
	return found
}

// prev returns the VMA before v, or nil.
func (as *AddressSpace) prev(v *VMA) *VMA {
	var found *VMA
	as.tree.DescendLessOrEqual(v, func(p *VMA) bool {
		if p == v {
			return true
		}
		found = p
		return false
	})
	return found
}

// next returns the VMA after v, or nil.
func (as *AddressSpace) next(v *VMA) *VMA {
	var found *VMA
	as.tree.AscendGreaterOrEqual(v, func(n *VMA) bool {
		if n == v {
			return true
		}
		found = n
		return false
	})
	return found
}

// overlapping returns the VMAs that overlap [start, end), in order.
func (as *AddressSpace) overlapping(start, end uint64) []*VMA {
	var out []*VMA
	first := as.findNext(start)
	if first == nil || first.Start >= end {
		return nil
	}
	as.tree.AscendGreaterOrEqual(first, func(v *VMA) bool {
		if v.Start >= end {
			return false
		}
		out = append(out, v)
		return true
	})
	return out
}

// Find returns (a copy of) the VMA containing addr.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Find(addr uint64) (VMA, bool) {
	if v := as.find(addr); v != nil {
		return *v, true
	}
	return VMA{}, false
}

// FindNext returns (a copy of) the first VMA with End > addr, like the
// kernel's find_vma.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) FindNext(addr uint64) (VMA, bool) {
	if v := as.findNext(addr); v != nil {
		return *v, true
	}
	return VMA{}, false
}

// Walk calls fn with (a copy of) each VMA that overlaps [start, end), in
// address order, until fn returns false. It costs O(log n + k).
//
// Preconditions: the caller holds mmap_lock for reading; fn does not
// modify as.
func (as *AddressSpace) Walk(start, end uint64, fn func(v VMA) bool) {
	first := as.findNext(start)
	if first == nil {
		return
	}
	as.tree.AscendGreaterOrEqual(first, func(v *VMA) bool {
		if v.Start >= end {
			return false
		}
		return fn(*v)
	})
}

// VMAs returns copies of all VMAs in address order.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) VMAs() []VMA {
	out := make([]VMA, 0, as.tree.Len())
	as.tree.Ascend(func(v *VMA) bool {
		out = append(out, *v)
		return true
	})
	return out
}

// Validate recomputes every cached counter from scratch and checks the
// tree's invariants: VMAs page aligned, non-empty, ordered, not
// overlapping, guard sets within their VMA, and no two adjacent VMAs that
// the kernel would have merged (except where the kernel is known to leave
// them apart).
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Validate() error {
	var s Stats
	var prev *VMA
	var err error
	as.tree.Ascend(func(v *VMA) bool {
		switch {
		case v.Start >= v.End:
			err = fmt.Errorf("empty VMA %v", *v)
		case v.Start%PageSize != 0 || v.End%PageSize != 0:
			err = fmt.Errorf("unaligned VMA %v", *v)
		case prev != nil && prev.End > v.Start:
			err = fmt.Errorf("VMAs overlap: %v and %v", *prev, *v)
		case prev != nil && canMerge(prev, v) && !as.isUnmergedOK(v.Start):
			err = fmt.Errorf("adjacent VMAs should have merged: %v and %v", *prev, *v)
		}
		if err == nil {
			if gerr := v.Guards.valid(v.Pages()); gerr != nil {
				err = fmt.Errorf("VMA %v: %w", *v, gerr)
			}
		}
		if err != nil {
			return false
		}
		s.add(v, +1)
		prev = v
		return true
	})
	if err != nil {
		return err
	}
	if s != as.stats {
		return fmt.Errorf("cached counters %+v, recomputed %+v", as.stats, s)
	}
	if s.MapCount != as.tree.Len() {
		return fmt.Errorf("map count %d, tree holds %d", s.MapCount, as.tree.Len())
	}
	n := 0
	as.tree.Ascend(func(v *VMA) bool {
		_, ok := as.growsDown[v]
		if ok != (v.Flags&VMGrowsDown != 0) {
			err = fmt.Errorf("grows-down index disagrees about %v", *v)
			return false
		}
		if ok {
			n++
		}
		return true
	})
	if err == nil && n != len(as.growsDown) {
		err = fmt.Errorf("grows-down index holds %d VMAs, the tree %d", len(as.growsDown), n)
	}
	return err
}

func (as *AddressSpace) isUnmergedOK(addr uint64) bool {
	_, ok := as.unmergedOK[addr]
	return ok
}

// apartWhy says why two mergeable VMAs stay apart (unmergedOK).
type apartWhy uint8

const (
	// apartKernel: the kernel does not merge there (mremap's in-place
	// expansion, fork, anon_vmas the host knows).
	apartKernel apartWhy = iota + 1
	// apartSealSplit: a call split the VMA there and then met a seal
	// (munmap and its kin split the first VMA before they check the
	// others). A host without mseal never refused, so never split.
	apartSealSplit
)

// keptApartOnHost reports whether a host whose VMAs lack the flags hidden
// (emulated there) keeps a boundary at addr that the model keeps although
// the VMAs could merge: not a seal refusal's split when seals are emulated.
func (as *AddressSpace) keptApartOnHost(addr uint64, hidden VMFlags) bool {
	why := as.unmergedOK[addr]
	return why != 0 && (why != apartSealSplit || hidden&VMSealed == 0)
}

// IsSealSplit reports whether the VMA boundary at addr is one a call left
// when a seal refused it after it had split there (see Unmap).
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) IsSealSplit(addr uint64) bool {
	return as.unmergedOK[addr] == apartSealSplit
}

// newAnonVMA hands out a fresh anon_vma identity.
func (as *AddressSpace) newAnonVMA() AnonVMAID {
	as.lastAnonVMA++
	return as.lastAnonVMA
}

// Clone returns an independent copy of the address space, to try a change
// on (a dry run) without touching the model.
//
// Preconditions: the caller holds mmap_lock for reading.
func (as *AddressSpace) Clone() *AddressSpace {
	c := *as
	c.tree = btree.NewG(32, lessVMA)
	c.growsDown = make(map[*VMA]struct{}, len(as.growsDown))
	as.tree.Ascend(func(v *VMA) bool {
		nv := *v
		c.tree.ReplaceOrInsert(&nv)
		if _, ok := as.growsDown[v]; ok {
			c.growsDown[&nv] = struct{}{}
		}
		return true
	})
	c.unmergedOK = maps.Clone(as.unmergedOK)
	return &c
}
