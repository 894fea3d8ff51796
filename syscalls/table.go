// Package syscalls holds madvisor's syscall table, its handlers and its
// strace-style formatter.
//
// The table (table.go) is the single source of truth for the calls the
// sentry sees: which ones the seccomp filter returns SECCOMP_RET_TRACE for
// (always, only while the program's /proc view is kept, or per fd), how
// strace prints them, and the handler that decides each one at its seccomp
// stop (dispatch.go): it decodes the registers into typed arguments,
// asks mm for the decision (handlers.go has the model steps of the calls
// the host runs), and returns a Plan that the sentry carries out, with the
// host's part done through the Context (hostmm's mechanics, injected in the
// tracee). Every other syscall runs natively. Numbers are the x86-64 ABI's:
// madvisor only runs x86-64 tracees, so this package is meant for
// linux/amd64 only.
//
// Adding a syscall is one table entry: its argument kinds, when it is
// traced, and its handler (a model step for a call the host runs).
//
// Name tables for the whole syscall range are generated from
// golang.org/x/sys/unix by mknames.go (go generate).
package syscalls

//go:generate go run mknames.go

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/mm"
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

// HostAnsweredAdvice are the advice whose madvise changes nothing the
// model keeps (no VMA, flag, anon_vma or guard marker: DONTNEED's and
// FREE's zaps, WILLNEED's readahead, COLD's and PAGEOUT's LRU moves) and
// whose result the host decides as the model would, on a host that has
// every feature madvisor could emulate (the facts page's spec-vs-host
// table lists none of them). When the run emulates nothing and nothing
// wants to see every call, these run untraced (sentry.BuildFilter).
var HostAnsweredAdvice = []int{
	unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_WILLNEED, unix.MADV_COLD, unix.MADV_PAGEOUT,
	unix.MADV_DONTNEED_LOCKED,
}

// ArgMatch restricts tracing to calls whose argument Index equals Value.
type ArgMatch struct {
	Index int
	Value uint64
	// Low32 compares only the low 32 bits of the argument. Set it when the
	// kernel's parameter is an int or unsigned int (prctl's option,
	// ioctl's cmd): the kernel ignores the upper half of the register, so
	// a filter comparing all 64 bits could be bypassed with garbage there.
	Low32 bool
	// View: the match traps only while the program's /proc view is kept
	// (TraceView).
	View bool
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

// TraceMode says when the seccomp filter traps an entry's calls.
type TraceMode int

const (
	// TraceAlways: in every run.
	TraceAlways TraceMode = iota
	// TraceView: only while the sentry keeps the program's own view of
	// /proc (it emulates a kernel feature: the host's /proc/PID/maps would
	// show the emulation's traces, or miss what the model has).
	TraceView
	// TracePerFD: never by the main filter; on single fds, by filters the
	// sentry adds at run time (the program's pagemap and mem files under
	// guard emulation: sentry/fdtrap.go).
	TracePerFD
	// TraceDet: only in deterministic mode, where every call is traced
	// (detcalls.go).
	TraceDet
)

// Entry is one syscall of the table: when it is traced, how strace prints
// it, and its handler.
type Entry struct {
	Nr   uintptr
	Name string
	// Args are the decoded arguments, in order.
	Args []ArgKind
	// Ret says how to print the result.
	Ret RetKind
	// Trace says when the main filter traps the call.
	Trace TraceMode
	// Match: empty means every call of Nr is traced; otherwise a call is
	// traced only when at least one ArgMatch matches (OR).
	Match []ArgMatch
	// Handle decides the call at its seccomp stop (dispatch.go).
	Handle Handler
	// update is the model step of a call the host runs (modelUpdate);
	// seal and guard the emulations' steps before it (modelCall).
	update func(Regs) Update
	seal   SealCheck
	guard  GuardStep
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

// table is the syscall table; init sorts it by Nr and fills in the
// handlers of the model-update calls.
var table = []Entry{
	// Mapping changes: each creates, removes, moves or re-protects VMAs,
	// so mm must decide the outcome and keep its model in step. A seal
	// only the model knows refuses them first (mseal emulation); guard
	// pages only the model knows need their host protection kept
	// (guard emulation).
	{Nr: unix.SYS_MMAP, Args: args(Addr, Size, Prot, MapFlags, Fd, Hex), Ret: RetAddr,
		update: always(mmapUpdate), seal: sealMmap},
	{Nr: unix.SYS_MUNMAP, Args: args(Addr, Size), update: always(munmapUpdate), seal: sealMunmap},
	{Nr: unix.SYS_MPROTECT, Args: args(Addr, Size, Prot),
		update: always(mprotectUpdate), seal: sealMprotect, guard: guardProtect},
	{Nr: unix.SYS_PKEY_MPROTECT, Args: args(Addr, Size, Prot, Int),
		update: always(mprotectUpdate), seal: sealMprotect, guard: guardProtect},
	{Nr: unix.SYS_MREMAP, Args: args(Addr, Size, Size, MremapFlags, Addr), Ret: RetAddr,
		update: always(mremapUpdate), seal: sealMremap, guard: guardRemap},
	{Nr: unix.SYS_BRK, Args: args(Addr), Ret: RetAddr, update: always(brkUpdate), seal: sealBrk},

	// Advice: the syscalls madvisor exists for (guard regions, the newer
	// advice emulated on old hosts, VMA flag changes and splits),
	// answered from the model.
	{Nr: unix.SYS_MADVISE, Args: args(Addr, Size, MadvAdvice), Handle: madviseCall},
	{Nr: unix.SYS_PROCESS_MADVISE, Args: args(Pidfd, IovecPtr, Size, MadvAdvice, ProcessMadviseFlags),
		Handle: processMadviseCall},

	// Sealing: emulated where the host lacks mseal (before 6.10), and it
	// changes which later operations fail with EPERM.
	{Nr: unix.SYS_MSEAL, Args: args(Addr, Size, MsealFlags), Handle: msealCall, update: always(msealUpdate)},

	// Locking: VM_LOCKED / VM_LOCKONFAULT are VMA flags (they split VMAs
	// and change the DONTNEED, COLD, PAGEOUT and GUARD_INSTALL outcomes).
	{Nr: unix.SYS_MLOCK, Args: args(Addr, Size), update: always(lockUpdate(mm.VMLocked))},
	{Nr: unix.SYS_MLOCK2, Args: args(Addr, Size, MlockFlags), update: mlock2Update},
	{Nr: unix.SYS_MUNLOCK, Args: args(Addr, Size), update: always(lockUpdate(0))},
	{Nr: unix.SYS_MLOCKALL, Args: args(MlockallFlags), update: always(mlockallUpdate)},
	{Nr: unix.SYS_MUNLOCKALL, update: always(munlockallUpdate)},

	// System V shared memory: attach and detach map and unmap VMAs.
	{Nr: unix.SYS_SHMAT, Args: args(ShmID, Addr, ShmFlags), Ret: RetAddr, update: always(shmatUpdate)},
	{Nr: unix.SYS_SHMDT, Args: args(Addr), update: always(shmdtUpdate)},

	// exec replaces the whole address space: the model is re-read from
	// /proc/PID/maps at the exec stop.
	{Nr: unix.SYS_EXECVE, Args: args(ExecPath, StrArray, EnvArray), Handle: execCall},
	{Nr: unix.SYS_EXECVEAT, Args: args(DirFd, ExecPath, StrArray, EnvArray, AtFlags), Handle: execCall},

	// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, ...) names anonymous VMAs,
	// which splits them and shows in /proc/PID/maps. Other prctls run
	// natively. The option is an int: compare the low 32 bits only.
	{Nr: unix.SYS_PRCTL, Args: args(PrctlOption, PrctlArg, PrctlArg, PrctlArg, PrctlArg),
		Match: []ArgMatch{{Index: 0, Value: unix.PR_SET_VMA, Low32: true}}, update: always(prctlUpdate)},

	// Process creation: fork copies the model (DONTFORK, WIPEONFORK,
	// guard inheritance), CLONE_VM shares it; the sentry must see every
	// new task to keep the copies consistent.
	{Nr: unix.SYS_CLONE, Args: args(CloneFlags, Addr, Addr, Addr, Hex), Handle: cloneCall(unix.SYS_CLONE)},
	{Nr: unix.SYS_CLONE3, Args: args(CloneArgs, Size), Handle: cloneCall(unix.SYS_CLONE3)},
	{Nr: unix.SYS_FORK, Handle: cloneCall(unix.SYS_FORK)},
	{Nr: unix.SYS_VFORK, Handle: cloneCall(unix.SYS_VFORK)},

	// userfaultfd arming (UFFDIO_REGISTER / UNREGISTER) changes VMA state:
	// it splits VMAs and disables the per-VMA lock path of madvise; so
	// does the release of a userfaultfd, whose fd drops the sentry
	// watches in the processes that create one (userfaultfd(2), or
	// USERFAULTFD_IOC_NEW on /dev/userfaultfd: sentry/uffd.go). Other
	// ioctls run natively. The request is an unsigned int: low 32 bits.
	// The /proc view answers PAGEMAP_SCAN on a pagemap file (guard pages)
	// and PROCMAP_QUERY on a maps file (the view's maps fd is a memfd).
	{Nr: unix.SYS_USERFAULTFD, Args: args(Hex), Handle: watchedCall},
	{Nr: unix.SYS_IOCTL, Args: args(Fd, IoctlCmd, IoctlArg), Handle: ioctlCall,
		Match: []ArgMatch{
			{Index: 1, Value: abi.UFFDIO_REGISTER, Low32: true},
			{Index: 1, Value: abi.UFFDIO_UNREGISTER, Low32: true},
			{Index: 1, Value: abi.USERFAULTFD_IOC_NEW, Low32: true},
			{Index: 1, Value: abi.PAGEMAP_SCAN, Low32: true, View: true},
			{Index: 1, Value: abi.PROCMAP_QUERY, Low32: true, View: true},
		}},

	// The /proc view: an open of a process's maps file is answered from
	// the model; pread64 of /proc/PID/pagemap and pread64/pwrite64 of
	// /proc/PID/mem show guard pages (guard emulation).
	{Nr: unix.SYS_OPEN, Args: args(ExecPath, Hex, Hex), Trace: TraceView, Handle: openCall(unix.SYS_OPEN)},
	{Nr: unix.SYS_OPENAT, Args: args(DirFd, ExecPath, Hex, Hex), Trace: TraceView, Handle: openCall(unix.SYS_OPENAT)},
	{Nr: unix.SYS_OPENAT2, Args: args(DirFd, ExecPath, Addr, Size), Trace: TraceView, Handle: openCall(unix.SYS_OPENAT2)},
	{Nr: unix.SYS_PREAD64, Args: args(Fd, Addr, Size, Hex), Trace: TraceView, Handle: fileAccessCall(fileCall{positional: true})},
	{Nr: unix.SYS_PWRITE64, Args: args(Fd, Addr, Size, Hex), Trace: TraceView, Handle: fileAccessCall(fileCall{write: true, positional: true})},

	// The same on the fds of pagemap and mem files only (per-fd filters).
	{Nr: unix.SYS_READ, Args: args(Fd, Addr, Size), Trace: TracePerFD, Handle: fileAccessCall(fileCall{})},
	{Nr: unix.SYS_WRITE, Args: args(Fd, Addr, Size), Trace: TracePerFD, Handle: fileAccessCall(fileCall{write: true})},
	{Nr: unix.SYS_READV, Args: args(Fd, Addr, Size), Trace: TracePerFD, Handle: fileAccessCall(fileCall{vector: true})},
	{Nr: unix.SYS_WRITEV, Args: args(Fd, Addr, Size), Trace: TracePerFD, Handle: fileAccessCall(fileCall{write: true, vector: true})},
	{Nr: unix.SYS_PREADV, Args: args(Fd, Addr, Size, Hex), Trace: TracePerFD, Handle: fileAccessCall(fileCall{vector: true, positional: true})},
	{Nr: unix.SYS_PWRITEV, Args: args(Fd, Addr, Size, Hex), Trace: TracePerFD, Handle: fileAccessCall(fileCall{write: true, vector: true, positional: true})},
	{Nr: unix.SYS_PREADV2, Args: args(Fd, Addr, Size, Hex, Hex, Hex), Trace: TracePerFD, Handle: fileAccessCall(fileCall{vector: true, positional: true, flags2: true})},
	{Nr: unix.SYS_PWRITEV2, Args: args(Fd, Addr, Size, Hex, Hex, Hex), Trace: TracePerFD, Handle: fileAccessCall(fileCall{write: true, vector: true, positional: true, flags2: true})},
	// A copy of such an fd is trapped as the original is.
	{Nr: unix.SYS_DUP, Args: args(Fd), Trace: TracePerFD, Handle: dupCall(unix.SYS_DUP)},
	{Nr: unix.SYS_DUP2, Args: args(Fd, Fd), Trace: TracePerFD, Handle: dupCall(unix.SYS_DUP2)},
	{Nr: unix.SYS_DUP3, Args: args(Fd, Fd, Hex), Trace: TracePerFD, Handle: dupCall(unix.SYS_DUP3)},
	{Nr: unix.SYS_FCNTL, Args: args(Fd, Hex, Hex), Trace: TracePerFD, Handle: dupCall(unix.SYS_FCNTL),
		Match: []ArgMatch{{Index: 1, Value: unix.F_DUPFD, Low32: true}, {Index: 1, Value: unix.F_DUPFD_CLOEXEC, Low32: true}}},
}

// byNr indexes table by syscall number; nil where not in it.
var byNr [len(sysNames)]*Entry

func init() {
	table = append(append(append(table, detTable...), vmaTable...), bypassTable...)
	sort.Slice(table, func(i, j int) bool { return table[i].Nr < table[j].Nr })
	for i := range table {
		e := &table[i]
		e.Name = Name(e.Nr)
		if e.Nr >= uintptr(len(byNr)) || byNr[e.Nr] != nil {
			panic(fmt.Sprintf("syscalls: bad or duplicate table entry %d (%s)", e.Nr, e.Name))
		}
		if e.update != nil && e.Handle == nil {
			e.Handle = modelCall(e.Nr, e.update, e.seal, e.guard)
		}
		byNr[e.Nr] = e
	}
}

// traced returns the entries the main filter traps in mode, with only the
// matches of that mode.
func traced(mode TraceMode) []Entry {
	var out []Entry
	for _, e := range table {
		var match []ArgMatch
		for _, m := range e.Match {
			if m.View == (mode == TraceView) {
				match = append(match, m)
			}
		}
		switch {
		case e.Trace == mode:
			e.Match = match
		case mode == TraceView && len(match) > 0:
			e.Match = match // an always-traced entry's view matches
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// Intercepted returns the syscalls the seccomp filter returns
// SECCOMP_RET_TRACE for, sorted by Nr. The slice is a copy; the Args and
// Match slices are shared and must not be modified.
func Intercepted() []Entry { return traced(TraceAlways) }

// ProcViewIntercepted returns the extra syscalls (and ioctl requests) the
// filter traps while the sentry keeps the program's view of /proc.
func ProcViewIntercepted() []Entry { return traced(TraceView) }

// PerFDIntercepted returns the syscalls a per-fd filter traps on the fd
// of a pagemap or mem file (their first argument), with the matches on
// their other arguments.
func PerFDIntercepted() []Entry { return traced(TracePerFD) }

// Lookup returns the table entry for nr: its handler and how to print it.
// An entry with a Match traps only some calls (see Entry.Traced); one
// traced per fd or for the /proc view only in some runs (Trace).
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
