package syscalls

import (
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
)

// Calls that change VMAs, or how later calls make them, without being
// memory syscalls: personality(READ_IMPLIES_EXEC) gives later mappings
// exec permission, remap_file_pages replaces part of a shared file
// mapping, arch_prctl(ARCH_MAP_VDSO_*) maps a vDSO. All are rare: traced
// always, they cost nothing to other programs.
var vmaTable = []Entry{
	{Nr: unix.SYS_PERSONALITY, Args: args(Hex), update: always(personalityUpdate)},
	{Nr: unix.SYS_REMAP_FILE_PAGES, Args: args(Addr, Size, Prot, Uint, Hex),
		update: always(remapFilePagesUpdate), seal: sealRemapFilePages},
	{Nr: unix.SYS_ARCH_PRCTL, Args: args(Hex, Addr), update: always(mapVDSOUpdate),
		Match: []ArgMatch{
			{Index: 0, Value: abi.ARCH_MAP_VDSO_X32, Low32: true},
			{Index: 0, Value: abi.ARCH_MAP_VDSO_32, Low32: true},
			{Index: 0, Value: abi.ARCH_MAP_VDSO_64, Low32: true},
		}},
}

// Persona is what a Host may also know of the calling thread: its
// personality(2) flags, which the sentry keeps per task (inherited by
// clone, READ_IMPLIES_EXEC dropped by a 64-bit exec).
type Persona interface {
	Personality() uint32
	SetPersonality(p uint32)
}

// personalityUpdate records the caller's new personality (0xffffffff
// only asks for the current one).
func personalityUpdate(_ *mm.AddressSpace, h Host, a [6]uint64, ret int64) []Span {
	if p, ok := h.(Persona); ok && !failed(ret) && uint32(a[0]) != 0xffffffff {
		p.SetPersonality(uint32(a[0]))
	}
	return nil
}

// readImpliesExec is prot as mmap and mprotect apply it for the caller:
// with READ_IMPLIES_EXEC, PROT_READ brings PROT_EXEC (do_mmap,
// do_mprotect_pkey; a file on a noexec mount, or a VMA without
// VM_MAYEXEC, is not told apart).
func readImpliesExec(h Host, prot mm.Prot) mm.Prot {
	if p, ok := h.(Persona); ok && p.Personality()&abi.READ_IMPLIES_EXEC != 0 && prot&mm.ProtRead != 0 {
		prot |= mm.ProtExec
	}
	return prot
}

// sealRemapFilePages: remap_file_pages is an mmap(MAP_FIXED|MAP_SHARED)
// of the range, which a seal refuses.
var sealRemapFilePages SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict {
	start, size := r[0]&^(mm.PageSize-1), r[1]&^(mm.PageSize-1)
	return as.SealCheckMmap(start, size, unix.MAP_FIXED|unix.MAP_SHARED)
}

// remapFilePagesUpdate follows remap_file_pages(start, size, 0, pgoff, 0),
// which the kernel has emulated since 4.0 by mapping the VMA's file again
// over the range (page-aligned down) at pgoff: a fresh shared mapping with
// the VMA's protection, locked if the VMA was (do_mmap with MAP_FIXED |
// MAP_SHARED | MAP_POPULATE, plus MAP_LOCKED).
func remapFilePagesUpdate(as *mm.AddressSpace, _ Host, a [6]uint64, ret int64) []Span {
	if failed(ret) {
		return nil
	}
	start, size := a[0]&^(mm.PageSize-1), a[1]&^(mm.PageSize-1)
	v, ok := as.Find(start)
	if !ok || size == 0 {
		return nil
	}
	nv := mm.NewMmap(start, size, v.Prot(), true, v.Backing, a[3], false)
	if v.Flags&mm.VMLocked != 0 {
		nv.Flags |= mm.VMLocked
	}
	withDefFlags(as, &nv)
	as.Map(nv)
	return span(start, start+size)
}

// HostMaps is what a Host may also give: the process's whole
// /proc/PID/maps, for the rare call whose effect cannot be found from its
// arguments.
type HostMaps interface {
	Maps() ([]mm.MapsLine, bool)
}

// mapVDSOUpdate follows arch_prctl(ARCH_MAP_VDSO_*), which maps the vDSO
// image and its data pages ([vvar], [vvar_vclock], [vdso]) where the
// kernel chooses (the address is a hint): the host's special mappings
// that the model does not have yet are added.
func mapVDSOUpdate(as *mm.AddressSpace, h Host, _ [6]uint64, ret int64) []Span {
	hm, ok := h.(HostMaps)
	if failed(ret) || !ok {
		return nil
	}
	lines, ok := hm.Maps()
	if !ok {
		return nil
	}
	var out []Span
	for _, l := range lines {
		switch l.Path {
		case "[vdso]", "[vvar]", "[vvar_vclock]":
		default:
			continue
		}
		if v, ok := as.FindNext(l.Start); ok && v.Start < l.End {
			continue // the model has it (or something there)
		}
		for _, v := range mm.FromMaps([]mm.MapsLine{l}).VMAs() {
			as.Map(v)
		}
		out = append(out, Span{l.Start, l.End})
	}
	return out
}
