// Package syscalls holds madvisor's syscall table and its strace-style
// formatter.
//
// The table is the single source of truth for which syscalls the seccomp
// filter returns SECCOMP_RET_TRACE for (Intercepted); every other syscall
// runs natively. Numbers are the x86-64 ABI's: madvisor only runs x86-64
// tracees, so this package is meant for linux/amd64 only.
//
// Name tables for the whole syscall range are generated from
// golang.org/x/sys/unix by mknames.go (go generate).
package syscalls

//go:generate go run mknames.go

import (
	"fmt"
	"madvisor/abi"
	"sort"

	"golang.org/x/sys/unix"
)

// ArgKind says how one syscall argument is decoded and printed.
type ArgKind int

// The argument kinds. Each comment gives the strace-style rendering.
const (
	// Hex is a raw value: 0 or 0x1f.
	Hex ArgKind = iota
	// Int is a C int (the low 32 bits, signed): -1, 42.
	Int
	// Uint is an unsigned long in decimal.
	Uint
	// Size is a size_t length in decimal.
	Size
	// Addr is a user address: NULL or 0x7f1c2a000000.
	Addr
	// Fd is a file descriptor (C int): 3, -1.
	Fd
	// DirFd is a directory fd for *at syscalls: AT_FDCWD or a number.
	DirFd
	// Prot is mmap/mprotect protection: PROT_READ|PROT_WRITE, PROT_NONE.
	Prot
	// MapFlags is mmap flags: MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGE_2MB.
	MapFlags
	// MadvAdvice is a madvise advice: MADV_DONTNEED, or 999 if unknown.
	MadvAdvice
	// MremapFlags is MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP.
	MremapFlags
	// MlockFlags is mlock2 flags: MLOCK_ONFAULT.
	MlockFlags
	// MlockallFlags is MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT.
	MlockallFlags
	// MsealFlags is mseal's flags (none are defined yet): 0 or hex.
	MsealFlags
	// PrctlOption is a prctl option: PR_SET_VMA, else decimal. The
	// remaining prctl arguments are decoded according to it.
	PrctlOption
	// PrctlArg is a prctl argument after the option (see PrctlOption).
	PrctlArg
	// Pid is a process id (C int).
	Pid
	// Pidfd is a pidfd (C int): abi.PIDFD_SELF_THREAD, abi.PIDFD_SELF_THREAD_GROUP
	// or a number.
	Pidfd
	// IovecPtr is a struct iovec array; its length is the next argument:
	// [{iov_base=0x7f.., iov_len=4096}] when memory is readable, else hex.
	IovecPtr
	// ProcessMadviseFlags is process_madvise's flags (none defined): 0.
	ProcessMadviseFlags
	// ExecPath is a NUL-terminated path in tracee memory: "/bin/ls".
	ExecPath
	// StrArray is a NULL-terminated char *[] (argv): ["ls", "-l"].
	StrArray
	// EnvArray is a NULL-terminated char *[] printed as a count:
	// 0x7ffc.. /* 20 vars */.
	EnvArray
	// AtFlags is an AT_* flag set: AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW.
	AtFlags
	// ShmID is a System V shared memory id (C int).
	ShmID
	// ShmFlags is shmat flags: SHM_RDONLY|abi.SHM_REMAP.
	ShmFlags
	// CloneFlags is clone(2)'s flags word: CLONE_VM|CLONE_FS|SIGCHLD
	// (the low byte is the exit signal).
	CloneFlags
	// CloneArgs is clone3's struct clone_args pointer; its size is the
	// next argument: {flags=CLONE_VM, exit_signal=SIGCHLD, ...} when
	// memory is readable, else hex.
	CloneArgs
	// IoctlCmd is an ioctl request: abi.UFFDIO_REGISTER, else hex.
	IoctlCmd
	// IoctlArg is an ioctl's third argument, decoded according to the
	// request (struct uffdio_register / uffdio_range), else hex.
	IoctlArg
)

var argKindNames = [...]string{
	Hex: "Hex", Int: "Int", Uint: "Uint", Size: "Size", Addr: "Addr",
	Fd: "Fd", DirFd: "DirFd", Prot: "Prot", MapFlags: "MapFlags",
	MadvAdvice: "MadvAdvice", MremapFlags: "MremapFlags",
	MlockFlags: "MlockFlags", MlockallFlags: "MlockallFlags",
	MsealFlags: "MsealFlags", PrctlOption: "PrctlOption",
	PrctlArg: "PrctlArg", Pid: "Pid", Pidfd: "Pidfd", IovecPtr: "IovecPtr",
	ProcessMadviseFlags: "ProcessMadviseFlags", ExecPath: "ExecPath",
	StrArray: "StrArray", EnvArray: "EnvArray", AtFlags: "AtFlags",
	ShmID: "ShmID", ShmFlags: "ShmFlags", CloneFlags: "CloneFlags",
	CloneArgs: "CloneArgs", IoctlCmd: "IoctlCmd", IoctlArg: "IoctlArg",
}

// String returns the kind's Go name.
func (k ArgKind) String() string {
	if k >= 0 && int(k) < len(argKindNames) && argKindNames[k] != "" {
		return argKindNames[k]
	}
	return fmt.Sprintf("ArgKind(%d)", int(k))
}

// RetKind says how a syscall's result is printed.
type RetKind int

const (
	// RetInt is a signed decimal result, or -1 ERRNO.
	RetInt RetKind = iota
	// RetAddr is an address result in hex (mmap, mremap, brk, shmat), or
	// -1 ERRNO.
	RetAddr
)

// ArgMatch restricts tracing to calls whose argument Index equals Value.
type ArgMatch struct {
	Index int
	Value uint64
	// Low32 compares only the low 32 bits of the argument. Set it when the
	// kernel's parameter is an int or unsigned int (prctl's option,
	// ioctl's cmd): the kernel ignores the upper half of the register, so
	// a filter comparing all 64 bits could be bypassed with garbage there.
	Low32 bool
}

// Matches reports whether args satisfy m.
func (m ArgMatch) Matches(args [6]uint64) bool {
	if m.Index < 0 || m.Index >= len(args) {
		return false
	}
	v := args[m.Index]
	if m.Low32 {
		return uint32(v) == uint32(m.Value)
	}
	return v == m.Value
}

// Entry describes one intercepted syscall.
type Entry struct {
	Nr   uintptr
	Name string
	// Args are the decoded arguments, in order.
	Args []ArgKind
	// Ret says how to print the result.
	Ret RetKind
	// Match: empty means every call of Nr is traced; otherwise a call is
	// traced only when at least one ArgMatch matches (OR).
	Match []ArgMatch
}

// Traced reports whether a call of e.Nr with args is one the seccomp filter
// traps (see Match).
func (e Entry) Traced(args [6]uint64) bool {
	if len(e.Match) == 0 {
		return true
	}
	for _, m := range e.Match {
		if m.Matches(args) {
			return true
		}
	}
	return false
}

func args(k ...ArgKind) []ArgKind { return k }

// intercepted is the table; init sorts it by Nr.
var intercepted = []Entry{
	// Mapping changes: each creates, removes, moves or re-protects VMAs,
	// so mm must decide the outcome and keep its model in step.
	{Nr: unix.SYS_MMAP, Args: args(Addr, Size, Prot, MapFlags, Fd, Hex), Ret: RetAddr},
	{Nr: unix.SYS_MUNMAP, Args: args(Addr, Size)},
	{Nr: unix.SYS_MPROTECT, Args: args(Addr, Size, Prot)},
	{Nr: unix.SYS_PKEY_MPROTECT, Args: args(Addr, Size, Prot, Int)},
	{Nr: unix.SYS_MREMAP, Args: args(Addr, Size, Size, MremapFlags, Addr), Ret: RetAddr},
	{Nr: unix.SYS_BRK, Args: args(Addr), Ret: RetAddr},

	// Advice: the syscalls madvisor exists for (guard regions, the newer
	// advice emulated on old hosts, VMA flag changes and splits).
	{Nr: unix.SYS_MADVISE, Args: args(Addr, Size, MadvAdvice)},
	{Nr: unix.SYS_PROCESS_MADVISE, Args: args(Pidfd, IovecPtr, Size, MadvAdvice, ProcessMadviseFlags)},

	// Sealing: emulated where the host lacks mseal (before 6.10), and it
	// changes which later operations fail with EPERM.
	{Nr: unix.SYS_MSEAL, Args: args(Addr, Size, MsealFlags)},

	// Locking: VM_LOCKED / VM_LOCKONFAULT are VMA flags (they split VMAs
	// and change the DONTNEED, COLD, PAGEOUT and GUARD_INSTALL outcomes).
	{Nr: unix.SYS_MLOCK, Args: args(Addr, Size)},
	{Nr: unix.SYS_MLOCK2, Args: args(Addr, Size, MlockFlags)},
	{Nr: unix.SYS_MUNLOCK, Args: args(Addr, Size)},
	{Nr: unix.SYS_MLOCKALL, Args: args(MlockallFlags)},
	{Nr: unix.SYS_MUNLOCKALL},

	// System V shared memory: attach and detach map and unmap VMAs.
	{Nr: unix.SYS_SHMAT, Args: args(ShmID, Addr, ShmFlags), Ret: RetAddr},
	{Nr: unix.SYS_SHMDT, Args: args(Addr)},

	// exec replaces the whole address space: the model is re-read from
	// /proc/PID/maps at the exec stop.
	{Nr: unix.SYS_EXECVE, Args: args(ExecPath, StrArray, EnvArray)},
	{Nr: unix.SYS_EXECVEAT, Args: args(DirFd, ExecPath, StrArray, EnvArray, AtFlags)},

	// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, ...) names anonymous VMAs,
	// which splits them and shows in /proc/PID/maps. Other prctls run
	// natively. The option is an int: compare the low 32 bits only.
	{Nr: unix.SYS_PRCTL, Args: args(PrctlOption, PrctlArg, PrctlArg, PrctlArg, PrctlArg),
		Match: []ArgMatch{{Index: 0, Value: unix.PR_SET_VMA, Low32: true}}},

	// Process creation: fork copies the model (DONTFORK, WIPEONFORK,
	// guard inheritance), CLONE_VM shares it; the sentry must see every
	// new task to keep the copies consistent.
	{Nr: unix.SYS_CLONE, Args: args(CloneFlags, Addr, Addr, Addr, Hex)},
	{Nr: unix.SYS_CLONE3, Args: args(CloneArgs, Size)},
	{Nr: unix.SYS_FORK},
	{Nr: unix.SYS_VFORK},

	// userfaultfd arming (abi.UFFDIO_REGISTER / UNREGISTER) changes VMA state:
	// it splits VMAs and disables the per-VMA lock path of madvise. Other
	// ioctls run natively. The request is an unsigned int: low 32 bits.
	{Nr: unix.SYS_IOCTL, Args: args(Fd, IoctlCmd, IoctlArg),
		Match: []ArgMatch{
			{Index: 1, Value: abi.UFFDIO_REGISTER, Low32: true},
			{Index: 1, Value: abi.UFFDIO_UNREGISTER, Low32: true},
		}},
}

// procView are the syscalls traced only while the sentry keeps the
// program's own view of /proc (it emulates a kernel feature: the host's
// /proc/PID/maps would show the emulation's traces, or miss what the model
// has): the opens, so that an open of a process's maps file can be
// answered from the model. They are not in Lookup's table.
var procView = []Entry{
	{Nr: unix.SYS_OPEN, Name: "open", Args: args(ExecPath, Hex, Hex)},
	{Nr: unix.SYS_OPENAT, Name: "openat", Args: args(DirFd, ExecPath, Hex, Hex)},
	{Nr: unix.SYS_OPENAT2, Name: "openat2", Args: args(DirFd, ExecPath, Addr, Size)},
	// pread64 of /proc/PID/pagemap and pread64/pwrite64 of /proc/PID/mem
	// (guard pages under guard emulation).
	{Nr: unix.SYS_PREAD64, Name: "pread64", Args: args(Fd, Addr, Size, Hex)},
	{Nr: unix.SYS_PWRITE64, Name: "pwrite64", Args: args(Fd, Addr, Size, Hex)},
	// The abi.PAGEMAP_SCAN ioctl on a pagemap file (guard pages), and
	// abi.PROCMAP_QUERY on a maps file (the view's maps fd is a memfd).
	{Nr: unix.SYS_IOCTL, Name: "ioctl", Args: args(Fd, IoctlCmd, IoctlArg),
		Match: []ArgMatch{{Index: 1, Value: abi.PAGEMAP_SCAN, Low32: true}, {Index: 1, Value: abi.PROCMAP_QUERY, Low32: true}}},
}

// procViewFDs are traced only on single fds, by filters the sentry adds at
// run time (the program's pagemap and mem files under guard emulation:
// sentry/fdtrap.go): not in any filter built here, only formatted.
var procViewFDs = []Entry{
	{Nr: unix.SYS_READ, Name: "read", Args: args(Fd, Addr, Size)},
	{Nr: unix.SYS_WRITE, Name: "write", Args: args(Fd, Addr, Size)},
	{Nr: unix.SYS_READV, Name: "readv", Args: args(Fd, Addr, Size)},
	{Nr: unix.SYS_WRITEV, Name: "writev", Args: args(Fd, Addr, Size)},
	{Nr: unix.SYS_PREADV, Name: "preadv", Args: args(Fd, Addr, Size, Hex)},
	{Nr: unix.SYS_PWRITEV, Name: "pwritev", Args: args(Fd, Addr, Size, Hex)},
	{Nr: unix.SYS_PREADV2, Name: "preadv2", Args: args(Fd, Addr, Size, Hex, Hex, Hex)},
	{Nr: unix.SYS_PWRITEV2, Name: "pwritev2", Args: args(Fd, Addr, Size, Hex, Hex, Hex)},
	{Nr: unix.SYS_DUP, Name: "dup", Args: args(Fd)},
	{Nr: unix.SYS_DUP2, Name: "dup2", Args: args(Fd, Fd)},
	{Nr: unix.SYS_DUP3, Name: "dup3", Args: args(Fd, Fd, Hex)},
	{Nr: unix.SYS_FCNTL, Name: "fcntl", Args: args(Fd, Hex, Hex)},
}

// ProcViewIntercepted returns the extra syscalls traced while the sentry
// keeps the program's view of /proc (see procView).
func ProcViewIntercepted() []Entry { return append([]Entry(nil), procView...) }

// lookupProcView returns the procView or procViewFDs entry for nr, for
// formatting.
func lookupProcView(nr uintptr) (Entry, bool) {
	for _, e := range append(procView, procViewFDs...) {
		if e.Nr == nr {
			return e, true
		}
	}
	return Entry{}, false
}

// byNr indexes intercepted by syscall number; nil where not intercepted.
var byNr [len(sysNames)]*Entry

func init() {
	sort.Slice(intercepted, func(i, j int) bool { return intercepted[i].Nr < intercepted[j].Nr })
	for i := range intercepted {
		e := &intercepted[i]
		e.Name = Name(e.Nr)
		if e.Nr >= uintptr(len(byNr)) || byNr[e.Nr] != nil {
			panic(fmt.Sprintf("syscalls: bad or duplicate table entry %d (%s)", e.Nr, e.Name))
		}
		byNr[e.Nr] = e
	}
}

// Intercepted returns the syscalls the seccomp filter returns
// SECCOMP_RET_TRACE for, sorted by Nr. The slice is a copy; the Args and
// Match slices are shared and must not be modified.
func Intercepted() []Entry {
	return append([]Entry(nil), intercepted...)
}

// Lookup returns the table entry for nr, if nr is intercepted. An entry with
// a Match traps only some calls (see Entry.Traced).
func Lookup(nr uintptr) (Entry, bool) {
	if nr < uintptr(len(byNr)) {
		if e := byNr[nr]; e != nil {
			return *e, true
		}
	}
	return Entry{}, false
}

// Name returns the name of any x86-64 syscall number, or "syscall_NNN" for
// a number this table does not know.
func Name(nr uintptr) string {
	if nr < uintptr(len(sysNames)) && sysNames[nr] != "" {
		return sysNames[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}
