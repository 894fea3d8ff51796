package hostmm

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// A seccomp filter added to a running process to trace some calls on one
// fd number (the reads and writes of its pagemap and mem files, whose
// guard pages only the sentry can show under guard emulation): the main
// filter cannot trap read and write (every program's I/O would stop in
// the sentry) and cannot change once installed, but a process may add
// filters.

// FdTrap is a call a per-fd filter traces: Nr, whose first argument is
// the fd, and whose second argument is one of Arg1 (any, if empty).
type FdTrap struct {
	Nr   uintptr
	Arg1 []uint32
}

// FdAccessFilter is a seccomp program that traces calls on fd (the
// reads, writes and copies of a pagemap or mem file: a copy gets its own
// filter), and allows everything else (the main filter decides the rest).
// It is written out by hand, as short as it can be: a thread's filters
// share a budget of 32,768 instructions (each costing 4 more), and one
// is added per fd number, so its length is how many fd numbers can be
// traced: about 1,000 at 22 instructions (the kernel counts them once
// translated to eBPF), 400 with a generic rule set.
func FdAccessFilter(fd int, calls []FdTrap) []bpf.Instruction {
	const (
		offNr   = 0
		offArch = 4
		offArg0 = 16 // low half on little-endian x86-64
		offArg1 = 24
	)
	allow := bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW))
	trace := bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_TRACE)|TraceData)
	// Layout: the fd and arch checks, one jump per call to trace (the
	// calls without an argument rule), a block per call with one (its
	// number, its second argument's values), then allow and trace.
	var plain, withArg []FdTrap
	for _, c := range calls {
		if len(c.Arg1) == 0 {
			plain = append(plain, c)
		} else {
			withArg = append(withArg, c)
		}
	}
	n := 5 + len(plain) + 2 // head, jumps, allow, trace
	for _, c := range withArg {
		n += 2 + len(c.Arg1)
	}
	allowAt, traceAt := n-2, n-1
	// to is the jump offset from instruction i to instruction at.
	to := func(i, at int) uint8 { return uint8(at - i - 1) }
	prog := make([]bpf.Instruction, 0, n)
	prog = append(prog,
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offArg0),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(fd), 0, to(1, allowAt)),
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offArch),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, 0, to(3, allowAt)),
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offNr))
	for _, c := range plain {
		prog = append(prog, bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(c.Nr), to(len(prog), traceAt), 0))
	}
	for _, c := range withArg {
		// Another number skips the block; once the number matched, no
		// other call can: a value that does not match allows.
		prog = append(prog, bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(c.Nr), 0, uint8(1+len(c.Arg1))))
		prog = append(prog, bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offArg1))
		for j, v := range c.Arg1 {
			jf := uint8(0)
			if j == len(c.Arg1)-1 {
				jf = to(len(prog), allowAt)
			}
			prog = append(prog, bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, v, to(len(prog), traceAt), jf))
		}
	}
	prog = append(prog, allow, trace)
	return prog
}

// InstallFilter adds the seccomp program insns to every thread of tr's
// process by an injected seccomp(SET_MODE_FILTER, TSYNC), and returns its
// raw result: 0, a negative errno, or the tid of a thread whose own
// filters prevent the synchronization. The program goes in scratch room
// (ErrNoScratch when there is none). Filters outlive close and exec.
func InstallFilter(tr Tracee, insns []bpf.Instruction) (int64, error) {
	// struct sock_fprog {u16 len; struct sock_filter *filter} and the
	// instructions.
	prog := make([]byte, 16+8*len(insns))
	binary.LittleEndian.PutUint16(prog, uint16(len(insns)))
	for i, in := range insns {
		b := prog[16+8*i:]
		binary.LittleEndian.PutUint16(b, in.OpCode)
		b[2], b[3] = in.JumpIfTrue, in.JumpIfFalse
		binary.LittleEndian.PutUint32(b[4:], in.K)
	}
	var ret int64
	err := tr.WithScratch(prog, func(addr uint64) (err error) {
		var filter [8]byte
		binary.LittleEndian.PutUint64(filter[:], addr+16)
		if err := tr.WriteMem(addr+8, filter[:]); err != nil {
			return err
		}
		ret, err = tr.Inject(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, addr)
		return err
	})
	return ret, err
}
