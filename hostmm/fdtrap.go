package hostmm

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
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
func FdAccessFilter(fd int, calls []FdTrap) ([]bpf.Instruction, error) {
	var onFD seccomp.PerArg
	for i := range onFD {
		onFD[i] = seccomp.AnyValue{}
	}
	onFD[0] = seccomp.MaskedEqual(0xffffffff, uintptr(uint32(fd)))
	rules := seccomp.NewSyscallRules()
	for _, c := range calls {
		if len(c.Arg1) == 0 {
			rules = rules.Add(c.Nr, onFD)
			continue
		}
		var or seccomp.Or
		for _, v := range c.Arg1 {
			m := onFD
			m[1] = seccomp.MaskedEqual(0xffffffff, uintptr(v))
			or = append(or, m)
		}
		rules = rules.Add(c.Nr, or)
	}
	prog := seccomp.Program{
		RuleSets: []seccomp.RuleSet{{Rules: rules, Action: seccomp.Trace}},
		Options:  seccomp.ProgramOptions{DefaultAction: seccomp.Allow, BadArchAction: seccomp.Allow},
	}
	insns, _, err := prog.Build()
	return insns, err
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
