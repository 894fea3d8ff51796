package hostmm

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// When the last reference to a userfaultfd goes away, the kernel
// unregisters the VMAs registered with it, which merge with their
// neighbours. That happens in calls that are no memory calls (close,
// close_range, dup2/dup3 over the fd, exec closing it, the exit of any
// process holding a copy), so the sentry traces the fd-dropping calls of
// the processes that hold userfaultfds and reads back from the host which
// VMAs are still registered.

// UffdDropCalls are the calls that may drop a reference to an fd the
// caller holds, which a process that holds a userfaultfd traces (by
// DropFilter) outside deterministic mode, where every call is traced.
var UffdDropCalls = []uintptr{unix.SYS_CLOSE, unix.SYS_DUP2, unix.SYS_DUP3, unix.SYS_CLOSE_RANGE}

// DropFilter is a seccomp program that traces calls (any arguments, the
// x86-64 ABI only) and allows everything else (the main filter decides the
// rest).
func DropFilter(calls []uintptr) []bpf.Instruction {
	const (
		offNr   = 0
		offArch = 4
	)
	n := 3 + len(calls) + 2 // head, jumps, allow, trace
	allowAt, traceAt := n-2, n-1
	to := func(i, at int) uint8 { return uint8(at - i - 1) }
	prog := make([]bpf.Instruction, 0, n)
	prog = append(prog,
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offArch),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, 0, to(1, allowAt)),
		bpf.Stmt(bpf.Ld|bpf.Abs|bpf.W, offNr))
	for _, nr := range calls {
		prog = append(prog, bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(nr), to(len(prog), traceAt), 0))
	}
	return append(prog,
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW)),
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_TRACE)|TraceData))
}

// uffdLink is what /proc/PID/fd/N links to for a userfaultfd.
const uffdLink = "anon_inode:[userfaultfd]"

// IsUffd reports whether fd of thread tid is a userfaultfd.
func IsUffd(tid, fd int) bool {
	if fd < 0 {
		return false
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", tid, fd))
	return err == nil && link == uffdLink
}

// UffdIn reports whether thread tid holds a userfaultfd among the fds
// first..last (close_range's range).
func UffdIn(tid int, first, last uint32) bool {
	dir := fmt.Sprintf("/proc/%d/fd", tid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		var fd uint32
		if _, err := fmt.Sscanf(e.Name(), "%d", &fd); err != nil || fd < first || fd > last {
			continue
		}
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == uffdLink {
			return true
		}
	}
	return false
}

// UffdRegistered returns which of process pid's VMAs are registered with
// a userfaultfd (VmFlags um, uw or ui in /proc/PID/smaps): a report by
// VMA start. The file costs a page-table walk per VMA; it is read only
// after a userfaultfd may have been released.
func UffdRegistered(pid int) (func(start uint64) bool, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	blocks := ParseSmaps(string(raw))
	return func(addr uint64) bool {
		v, ok := smapsFieldIn(blocks, addr, "VmFlags")
		return ok && uffdFlags(v)
	}, nil
}

// uffdFlags reports whether a VmFlags value has a userfaultfd mode.
func uffdFlags(v string) bool {
	for _, m := range strings.Fields(v) {
		switch m {
		case "um", "uw", "ui":
			return true
		}
	}
	return false
}
