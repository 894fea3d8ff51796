package verify

import (
	"fmt"

	"madvisor/kapi/cexpr"
	"madvisor/mm"
)

// The names an expr: may use, bound to the call and the model's VMA the
// way the kernel defines them.

// vmFlagNames are the VM_* constants, with the model's values (which are
// the kernel's on x86-64).
var vmFlagNames = map[string]mm.VMFlags{
	"VM_READ": mm.VMRead, "VM_WRITE": mm.VMWrite, "VM_EXEC": mm.VMExec, "VM_SHARED": mm.VMShared,
	"VM_MAYREAD": mm.VMMayRead, "VM_MAYWRITE": mm.VMMayWrite, "VM_MAYEXEC": mm.VMMayExec,
	"VM_MAYSHARE": mm.VMMayShare, "VM_GROWSDOWN": mm.VMGrowsDown, "VM_PFNMAP": mm.VMPFNMap,
	"VM_LOCKED": mm.VMLocked, "VM_IO": mm.VMIO, "VM_SEQ_READ": mm.VMSeqRead,
	"VM_RAND_READ": mm.VMRandRead, "VM_DONTCOPY": mm.VMDontCopy, "VM_DONTEXPAND": mm.VMDontExpand,
	"VM_LOCKONFAULT": mm.VMLockOnFault, "VM_ACCOUNT": mm.VMAccount, "VM_NORESERVE": mm.VMNoReserve,
	"VM_HUGETLB": mm.VMHugeTLB, "VM_WIPEONFORK": mm.VMWipeOnFork, "VM_DONTDUMP": mm.VMDontDump,
	"VM_MIXEDMAP": mm.VMMixedMap, "VM_HUGEPAGE": mm.VMHugePage, "VM_NOHUGEPAGE": mm.VMNoHugePage,
	"VM_MERGEABLE": mm.VMMergeable, "VM_DROPPABLE": mm.VMDroppable, "VM_SEALED": mm.VMSealed,
	"VM_SPECIAL": mm.VMSpecial,
}

// identValue returns the value of a constant an expr may name.
func identValue(name string) (cexpr.Value, bool) {
	switch name {
	case "PAGE_SIZE":
		return cexpr.Int(pageSize), true
	case "PAGE_SHIFT":
		return cexpr.Int(12), true
	}
	if f, ok := vmFlagNames[name]; ok {
		return cexpr.Int(uint64(f)), true
	}
	if a, ok := adviceByName[name]; ok {
		return cexpr.Int(uint64(a)), true
	}
	return cexpr.Value{}, false
}

// isArg reports whether name is a parameter of the call.
func isArg(name string) bool { return name == "start" || name == "len_in" || name == "behavior" }

func knownFunc(name string) bool {
	switch name {
	case "PAGE_ALIGN", "is_discard", "vma_is_sealed", "vma_is_anonymous", "vma_is_shared_maywrite",
		"arch_vma_access_permitted", "is_vm_hugetlb_page", "vma_is_accessible":
		return true
	}
	return false
}

// The objects an expr reaches from a VMA: vma->vm_file, its f_mapping and
// the mapping's host inode, which exist together in the model (a VMA
// with a file has all three).
type (
	vmaObj     struct{ v *mm.VMA }
	fileObj    struct{ v *mm.VMA }
	mappingObj struct{ v *mm.VMA }
	inodeObj   struct{ v *mm.VMA }
)

// env binds one call's arguments and, for a per-VMA expr, one VMA.
type env struct {
	r   *rules
	c   *Call
	vma *mm.VMA
	// adviceOnly binds behavior alone (and the constants): the call's
	// range and the VMA are unknown.
	adviceOnly bool
}

// errUnbound is the error of a name an adviceOnly env leaves unbound.
var errUnbound = fmt.Errorf("not bound")

var _ cexpr.Env = (*env)(nil)

func (e *env) Ident(name string) (cexpr.Value, error) {
	if e.adviceOnly && (name == "start" || name == "len_in" || name == "vma") {
		return cexpr.Value{}, errUnbound
	}
	switch name {
	case "start":
		return cexpr.Int(e.c.Start), nil
	case "len_in":
		return cexpr.Int(e.c.Len), nil
	case "behavior":
		return cexpr.Int(uint64(e.c.Advice)), nil
	case "vma":
		if e.vma == nil {
			return cexpr.Value{}, fmt.Errorf("no VMA")
		}
		return cexpr.Object(vmaObj{e.vma}), nil
	}
	if v, ok := identValue(name); ok {
		return v, nil
	}
	return cexpr.Value{}, fmt.Errorf("unknown name %s", name)
}

func (e *env) Member(obj cexpr.Value, field string) (cexpr.Value, error) {
	switch o := obj.Obj().(type) {
	case vmaObj:
		switch field {
		case "vm_flags":
			return cexpr.Int(uint64(o.v.Flags)), nil
		case "vm_start":
			return cexpr.Int(o.v.Start), nil
		case "vm_end":
			return cexpr.Int(o.v.End), nil
		case "vm_pgoff":
			return cexpr.Int(o.v.PgOff), nil
		case "vm_file":
			if !o.v.Backing.HasVMFile() {
				return cexpr.Value{}, nil
			}
			return cexpr.Object(fileObj(o)), nil
		case "anon_vma":
			if o.v.AnonVMA == 0 {
				return cexpr.Value{}, nil
			}
			return cexpr.Int(uint64(o.v.AnonVMA)), nil
		}
	case fileObj:
		if field == "f_mapping" {
			return cexpr.Object(mappingObj(o)), nil
		}
	case mappingObj:
		if field == "host" {
			return cexpr.Object(inodeObj(o)), nil
		}
	}
	return cexpr.Value{}, fmt.Errorf("%v has no member %s the verifier knows", obj, field)
}

func (e *env) Call(fn string, args []cexpr.Value) (cexpr.Value, error) {
	arg := func(i int) (cexpr.Value, error) {
		if i >= len(args) {
			return cexpr.Value{}, fmt.Errorf("%s: too few arguments", fn)
		}
		return args[i], nil
	}
	vmaArg := func() (*mm.VMA, error) {
		a, err := arg(0)
		if err != nil {
			return nil, err
		}
		o, ok := a.Obj().(vmaObj)
		if !ok {
			return nil, fmt.Errorf("%s: %v is not a VMA", fn, a)
		}
		return o.v, nil
	}
	switch fn {
	case "PAGE_ALIGN":
		a, err := arg(0)
		if err != nil {
			return a, err
		}
		n, _ := a.Uint64()
		return cexpr.Int(pageAlign(n)), nil
	case "is_discard":
		a, err := arg(0)
		if err != nil {
			return a, err
		}
		n, _ := a.Uint64()
		return cexpr.Bool(e.r.discard[int(int32(n))]), nil
	}
	v, err := vmaArg()
	if err != nil {
		return cexpr.Value{}, err
	}
	switch fn {
	case "vma_is_sealed":
		return cexpr.Bool(v.Flags&mm.VMSealed != 0), nil
	case "vma_is_anonymous":
		// !vma->vm_ops: private anonymous memory, including a private
		// mapping of /dev/zero (which keeps its vm_file).
		return cexpr.Bool(v.IsAnonymous()), nil
	case "vma_is_shared_maywrite":
		return cexpr.Bool(v.Flags&(mm.VMShared|mm.VMMayWrite) == mm.VMShared|mm.VMMayWrite), nil
	case "is_vm_hugetlb_page":
		return cexpr.Bool(v.Flags&mm.VMHugeTLB != 0), nil
	case "vma_is_accessible":
		return cexpr.Bool(v.Flags&mm.VMAccessFlags != 0), nil
	case "arch_vma_access_permitted":
		// Memory protection keys are the only arch check on x86-64;
		// the model keeps no pkeys, so it permits.
		return cexpr.Bool(true), nil
	}
	return cexpr.Value{}, fmt.Errorf("unknown function %s", fn)
}
