package hostmm

import (
	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"madvisor/mm"
)

// Guard marker emulation (EmulateGuard), for hosts without guard markers
// (or without them on file mappings). The model keeps the markers
// (mm.VMA.Guards) and decides every result; on the host a guard page is
// PROT_NONE with its contents discarded, so that a touch faults and kernel
// copies fail with EFAULT. The sentry fixes up what would give the
// emulation away (the fault's si_code, the /proc views); the host
// mechanics are here.

// GuardAdvice makes the host match the model after a guard advice acted
// on pieces: GUARD_INSTALL discards each piece's pages and makes them
// PROT_NONE; GUARD_REMOVE gives the pieces' guard pages their VMA's
// protection back (data is not restored: they were discarded at install).
func (b *Backend) GuardAdvice(advice int, applied []mm.MadviseRange) {
	for _, p := range applied {
		switch advice {
		case unix.MADV_GUARD_INSTALL:
			b.attachAnonVMA(p)
			b.tr.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, unix.MADV_DONTNEED)
			b.tr.Inject(unix.SYS_MPROTECT, p.Start, p.End-p.Start, unix.PROT_NONE)
		case unix.MADV_GUARD_REMOVE:
			// The piece's VMA is as the advice found it: its guard pages
			// are those the removal cleared.
			for _, r := range vmaGuardRuns(p.VMA, p.Start, p.End) {
				b.tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot))
			}
		}
	}
}

// attachAnonVMA gives the host VMA of piece p an anon_vma, as the
// kernel's install does to an anonymous VMA, before the PROT_NONE pieces
// split it: the pieces then share it, as the model's VMA does, so that the
// host merges and keeps VM_ACCOUNT (mprotect drops it from an anonymous
// VMA without one) as the kernel would. A write fault is what attaches
// one: a byte of a page of p that is not yet a guard (its contents are
// discarded next) is written back as it is. A userfaultfd-armed VMA is left
// alone: the fault would raise an event that the install does not.
func (b *Backend) attachAnonVMA(p mm.MadviseRange) {
	v := p.VMA
	if !v.IsAnonymous() || v.UffdArmed {
		return
	}
	for at := p.Start; at < p.End; at += mm.PageSize {
		if v.IsGuard(at) {
			continue
		}
		var c [1]byte
		if b.tr.ReadMem(at, c[:]) == nil {
			_ = b.tr.WriteMem(at, c[:])
		}
		return
	}
}

// vmaGuardRuns returns v's guard runs clipped to [start, end), in address
// order, with v's protection (mm.AddressSpace.GuardRuns for one VMA).
func vmaGuardRuns(v mm.VMA, start, end uint64) []mm.GuardRun {
	var out []mm.GuardRun
	for _, r := range v.Guards.Ranges() {
		s := max(v.Start+r[0]<<mm.PageShift, start)
		e := min(v.Start+r[1]<<mm.PageShift, end)
		if s < e {
			out = append(out, mm.GuardRun{Start: s, End: e, Prot: v.Prot()})
		}
	}
	return out
}

// HostPopulate runs advice (POPULATE_READ / POPULATE_WRITE) natively on
// each of pieces in turn, for a call the model ends with an error of its
// own that the host, under guard emulation, would get wrong (an emulated
// marker is PROT_NONE there: EINVAL instead of EFAULT). It returns 0, or
// the host's result for the first piece that failed (a negative errno),
// which comes before the model's error.
func (b *Backend) HostPopulate(advice int, pieces []mm.MadviseRange) int64 {
	for _, p := range pieces {
		r, err := b.tr.Inject(unix.SYS_MADVISE, p.Start, p.End-p.Start, uint64(advice))
		if err != nil {
			return -int64(unix.EINTR)
		}
		if r != 0 {
			return r
		}
	}
	return 0
}

// ProtectGuards makes the runs' pages PROT_NONE on the host again, after a
// call (mprotect, mremap) that gave them another protection or moved them.
func (b *Backend) ProtectGuards(runs []mm.GuardRun) {
	for _, r := range runs {
		b.tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, unix.PROT_NONE)
	}
}

// UnprotectGuards gives the runs' pages their VMA's protection on the
// host, so that a call that needs the range to be one host VMA (mremap)
// finds it so.
func (b *Backend) UnprotectGuards(runs []mm.GuardRun) {
	for _, r := range runs {
		b.tr.Inject(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot))
	}
}

// FaultAccess tells, from code (the bytes at rip; empty if unreadable),
// how the instruction touched addr: ProtExec for a fetch, ProtWrite for a
// store (or a read-modify-write), else ProtRead (also when the
// instruction cannot be decoded). rdi is the thread's rdi, the
// destination of the string moves.
func FaultAccess(code []byte, rip, rdi, addr uint64) mm.Prot {
	if addr>>mm.PageShift == rip>>mm.PageShift {
		return mm.ProtExec
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Args[0] == nil {
		return mm.ProtRead
	}
	if _, dst := inst.Args[0].(x86asm.Mem); !dst {
		return mm.ProtRead
	}
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.PUSH, x86asm.CALL, x86asm.JMP, x86asm.LCALL, x86asm.LJMP,
		x86asm.NOP, x86asm.PREFETCHNTA, x86asm.PREFETCHT0, x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW,
		x86asm.CLFLUSH, x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW,
		x86asm.SCASD, x86asm.SCASQ, x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ:
		return mm.ProtRead
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ:
		// Reads [rsi], writes [rdi]: the fault's page says which.
		if addr>>mm.PageShift != rdi>>mm.PageShift {
			return mm.ProtRead
		}
	}
	return mm.ProtWrite
}
