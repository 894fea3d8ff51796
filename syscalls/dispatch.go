package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/lockdep"
	"madvisor/mm"
)

// One intercepted call, from its seccomp stop to its result:
//
//	sentry: Lookup(nr).Handle(ctx, regs)          the one dispatch
//	  handler: Decode* (registers -> typed args)   this package
//	    model step: mm (errno, new VMA state)      the model decides
//	    host step: Context (hostmm, injected)      the host is made to match
//	  -> Plan: what the sentry does with the thread
//
// A handler is a short list of steps in the order they win: a seal that
// refuses the call comes before guard pages, which come before the plain
// model update, and so on. Each step that is the sentry's (a lock, an
// injection, the program's /proc view) is a Context method.

// Regs are a call's six argument registers (rdi, rsi, rdx, r10, r8, r9).
type Regs = [6]uint64

// Handler decides an intercepted call at its seccomp stop.
type Handler func(c Context, r Regs) Plan

// Space is an address space as the sentry keeps it: its model and the
// model's mmap_lock, whose contention the sentry's scheduler orders.
type Space interface {
	Model() *mm.MM
}

// Plan is what the sentry does with a call, as its handler decided. The
// zero Plan lets the call run on the host, unwatched: the fast path of
// calls that cannot change the model.
type Plan struct {
	// Wait is an address space whose mmap_lock another task holds across
	// its call: the thread queues on it (still at its seccomp stop) and
	// its call is dispatched again when the lock is released. Nothing
	// else of the Plan is set.
	Wait Space
	// Lock is write-held from the entry until the call's result is final
	// (its exit stop, or Emulate's return), so that the host's execution
	// and the model step are one step for every thread sharing it.
	Lock Space
	// Emulate, if set, answers the call instead of the host: the host
	// step (it may inject syscalls in the thread). It returns the result
	// the program sees.
	Emulate func() int64
	// Exit, if set, is the model step after the host ran the call (the
	// call's exit stop is then watched) or after Emulate: ret is the
	// result so far, and the result it returns is the one the program
	// sees (the model's answer where the spec and the host differ).
	Exit func(ret int64) int64
	// Clone is set for a call that may create a task (clone, clone3,
	// fork, vfork): the sentry adopts the child at the clone event.
	Clone *CloneCall
	// Locks is the lock trace of the model's step, for strace.
	Locks string
	// KAPI, if set, returns --kapi-verify's verdict on the call ("ok",
	// or the spec sections it violates), for strace; it is called once
	// the result is final.
	KAPI func() string
	// Ignore: the call is traced only for cases it is not (an open of
	// another file than the /proc view's): it runs natively, unwatched
	// and not shown by strace.
	Ignore bool
	// Block (deterministic mode): the thread stays stopped at its
	// seccomp stop; the deterministic scheduler gives it its result when
	// the call can complete (a futex wake, a timer, a ready fd).
	Block bool
}

// ignore is the Plan of a call that is none of the sentry's business.
var ignore = Plan{Ignore: true}

// CloneCall is what the sentry needs to adopt a clone's child.
type CloneCall struct {
	// Flags are the clone flags (0 when they could not be read).
	Flags uint64
	// ChildTid is the child's clear-tid address (CLONE_CHILD_CLEARTID),
	// whose futex the kernel wakes at the child's exit.
	ChildTid uint64
}

// Context is what a handler may ask of the calling thread and of the
// sentry. The sentry's task implements it.
type Context interface {
	// Host is the caller's memory and open files, as model steps read
	// them.
	Host() Host
	// Space is the caller's address space, nil before its first exec
	// (the sentry's own pre-exec stage).
	Space() Space
	// Holder is the calling task's lockdep holder.
	Holder() *lockdep.Holder

	// Update is the model step of a call the host runs: the host's
	// result applied to the model by update at the exit stop, and the
	// changed spans' edges checked against the host.
	Update(sp Space, r Regs, update Update) Plan
	// Sealed is the mseal emulation's step: the Plan when a seal only the
	// model knows decides the call (check is the call's mm.SealCheck*),
	// else false.
	Sealed(sp Space, nr uintptr, r Regs, check SealCheck) (Plan, bool)
	// Mseal is the mseal emulation's answer to mseal itself (false: the
	// host has mseal).
	Mseal(sp Space, r Regs) (Plan, bool)
	// GuardedProtect and GuardedRemap are the guard emulation's steps for
	// mprotect (nr: mprotect or pkey_mprotect) and mremap over emulated
	// guard pages, whose host protections the call would undo or strand;
	// false when no guard page is in the range.
	GuardedProtect(sp Space, nr uintptr, r Regs, update Update) (Plan, bool)
	GuardedRemap(sp Space, r Regs, update Update) (Plan, bool)
	// Madvise answers madvise from the model and makes the host match.
	Madvise(sp Space, a MadviseArgs) Plan
	// ProcessMadvise answers process_madvise for the vector a names.
	ProcessMadvise(a ProcessMadviseArgs) Plan
	// OpenProc is the step for an open of a file the sentry shows: a maps
	// or smaps file of a process under the sandbox answered from the
	// model, a pagemap or mem file opened with its reads trapped (the
	// /proc view), a sysfs CPU list saying one CPU (deterministic mode).
	// False: a plain open.
	OpenProc(nr uintptr, r Regs, path uint64, flags uint64) (Plan, bool)
	// ProcFileAccess is the /proc view's step for a read or write of a
	// pagemap or mem file that reaches emulated guard pages.
	ProcFileAccess(a FileAccess) (Plan, bool)
	// ProcFileDup is the /proc view's step for a copy of the fd of a
	// pagemap or mem file: the copy is trapped too.
	ProcFileDup(nr uintptr, r Regs) (Plan, bool)
	// Deterministic mode's own calls (detcalls.go); each says false
	// outside that mode. Futex: the sentry's futexes. Time: virtual time.
	// Getrandom: bytes from the seed. Blocking: a call that may block is
	// tried without blocking, and waits (Plan.Block) until it can complete.
	// SetClearTid: set_tid_address's address, woken at the thread's exit.
	Futex(a FutexArgs) (Plan, bool)
	FutexWaitv(a FutexWaitvArgs) (Plan, bool)
	Time(k TimeCall, r Regs) (Plan, bool)
	Getrandom(buf, n uint64, flags uint32) (Plan, bool)
	// ReadRandom answers a read of /dev/urandom or /dev/random from the
	// seed (false: another file, or not that mode).
	ReadRandom(a FileAccess) (Plan, bool)
	Blocking(k BlockCall, r Regs) (Plan, bool)
	// CPU answers the calls about CPUs as on a machine with one CPU.
	CPU(k CPUCall, r Regs) (Plan, bool)
	SetClearTid(addr uint64)
	// LocksMayChange: the caller may release a file lock (a close).
	LocksMayChange()
	// SignalSent: the caller sends a signal (kill, tgkill...), which may
	// interrupt a waiting thread, or kill a process (the Plan, if any,
	// sends it and waits for the deaths).
	SignalSent(nr uintptr, r Regs, a SignalArgs) (Plan, bool)
	// GroupExit: the caller's process is exiting (exit_group); its other
	// threads die without running again.
	GroupExit()

	// PagemapScan and ProcmapQuery answer those ioctls on the /proc
	// view's files.
	PagemapScan(fd int, arg uint64) (Plan, bool)
	ProcmapQuery(fd int, arg uint64) (Plan, bool)
}

// MadviseArgs are madvise(2)'s arguments.
type MadviseArgs struct {
	Start, Len uint64
	Advice     int
}

// DecodeMadvise decodes madvise(start, len_in, behavior).
func DecodeMadvise(r Regs) MadviseArgs {
	return MadviseArgs{Start: r[0], Len: r[1], Advice: int(int32(r[2]))}
}

// ProcessMadviseArgs are process_madvise(2)'s arguments.
type ProcessMadviseArgs struct {
	Pidfd  int32
	Vec    uint64 // the struct iovec array
	Vlen   uint64
	Advice int
	Flags  uint32
}

// DecodeProcessMadvise decodes process_madvise(pidfd, vec, vlen, advice,
// flags).
func DecodeProcessMadvise(r Regs) ProcessMadviseArgs {
	return ProcessMadviseArgs{Pidfd: int32(r[0]), Vec: r[1], Vlen: r[2], Advice: int(int32(r[3])), Flags: uint32(r[4])}
}

// DecodeCloneFlags decodes the clone flags of clone, clone3, fork or vfork;
// clone3's are read from its struct clone_args.
func DecodeCloneFlags(nr uintptr, r Regs, mem MemReader) uint64 {
	switch nr {
	case unix.SYS_FORK:
		return uint64(unix.SIGCHLD)
	case unix.SYS_VFORK:
		return unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)
	case unix.SYS_CLONE3:
		b, err := mem.ReadBytes(r[0], 8)
		if err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b)
	}
	return r[0]
}

// SealCheck is what the seals in the model make of a call, from its
// registers (mm.AddressSpace.SealCheck*).
type SealCheck func(as *mm.AddressSpace, r Regs) mm.SealVerdict

// GuardStep is the guard emulation's step of a call (a Context method).
type GuardStep func(c Context, sp Space, nr uintptr, r Regs, update Update) (Plan, bool)

// modelCall is the handler of a call the host runs and the model follows
// (update, chosen from the registers), after the emulations' steps that
// may decide it first: a seal (seal), guard pages (guard).
func modelCall(nr uintptr, update func(Regs) Update, seal SealCheck, guard GuardStep) Handler {
	return func(c Context, r Regs) Plan {
		sp := c.Space()
		if sp == nil {
			return Plan{}
		}
		if seal != nil {
			if p, ok := c.Sealed(sp, nr, r, seal); ok {
				return p
			}
		}
		u := update(r)
		if guard != nil {
			if p, ok := guard(c, sp, nr, r, u); ok {
				return p
			}
		}
		if u == nil {
			return Plan{}
		}
		return c.Update(sp, r, u)
	}
}

// The seal checks and guard steps of the calls they apply to.
var (
	sealMunmap   SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict { return as.SealCheckMunmap(r[0], r[1]) }
	sealMmap     SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict { return as.SealCheckMmap(r[0], r[1], r[3]) }
	sealMprotect SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict { return as.SealCheckMprotect(r[0], r[1], r[2]) }
	sealBrk      SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict { return as.SealCheckBrk(r[0]) }
	sealMremap   SealCheck = func(as *mm.AddressSpace, r Regs) mm.SealVerdict {
		return as.SealCheckMremap(r[0], r[1], r[2], r[3], r[4])
	}

	guardProtect GuardStep = func(c Context, sp Space, nr uintptr, r Regs, u Update) (Plan, bool) {
		return c.GuardedProtect(sp, nr, r, u)
	}
	guardRemap GuardStep = func(c Context, sp Space, _ uintptr, r Regs, u Update) (Plan, bool) {
		return c.GuardedRemap(sp, r, u)
	}
)

// msealCall: mseal is the model's alone under mseal emulation; otherwise
// the host seals and the model follows.
func msealCall(c Context, r Regs) Plan {
	sp := c.Space()
	if sp == nil {
		return Plan{}
	}
	if p, ok := c.Mseal(sp, r); ok {
		return p
	}
	return c.Update(sp, r, msealUpdate)
}

// always is an update that does not depend on the registers.
func always(u Update) func(Regs) Update { return func(Regs) Update { return u } }

func madviseCall(c Context, r Regs) Plan {
	sp := c.Space()
	if sp == nil {
		return Plan{}
	}
	return c.Madvise(sp, DecodeMadvise(r))
}

func processMadviseCall(c Context, r Regs) Plan {
	return c.ProcessMadvise(DecodeProcessMadvise(r))
}

// cloneCall: a fork copies the model while the parent's mm is
// write-locked from the call's entry to the fork event, so no other
// thread's memory syscall slips between the host's copy and the model's;
// a thread or CLONE_VM child shares the model.
func cloneCall(nr uintptr) Handler {
	return func(c Context, r Regs) Plan {
		flags := DecodeCloneFlags(nr, r, c.Host())
		p := Plan{Clone: &CloneCall{Flags: flags}}
		if flags&unix.CLONE_CHILD_CLEARTID != 0 {
			p.Clone.ChildTid = r[3] // clone(flags, stack, parent_tid, child_tid, tls)
			if nr == unix.SYS_CLONE3 {
				// struct clone_args: flags, pidfd, child_tid...
				if b, err := c.Host().ReadBytes(r[0]+16, 8); err == nil {
					p.Clone.ChildTid = binary.LittleEndian.Uint64(b)
				}
			}
		}
		if sp := c.Space(); sp != nil && flags&unix.CLONE_VM == 0 {
			p.Lock = sp
		}
		return p
	}
}

// execCall: the exec event rebuilds the model from the host; a failed
// exec changes nothing.
func execCall(Context, Regs) Plan { return Plan{} }

// watchedCall: a call that changes no VMA but that the sentry watches
// (the creation of a userfaultfd, whose release will: sentry/uffd.go).
func watchedCall(Context, Regs) Plan { return Plan{} }

// ioctlCall: userfaultfd arming changes the model; PAGEMAP_SCAN and
// PROCMAP_QUERY are the /proc view's (traced only while it is kept).
func ioctlCall(c Context, r Regs) Plan {
	switch uint32(r[1]) {
	case abi.UFFDIO_REGISTER, abi.UFFDIO_UNREGISTER:
		if sp := c.Space(); sp != nil {
			return c.Update(sp, r, uffdUpdate)
		}
		return Plan{}
	case abi.USERFAULTFD_IOC_NEW:
		return watchedCall(c, r)
	case abi.PAGEMAP_SCAN:
		if p, ok := c.PagemapScan(int(int32(r[0])), r[2]); ok {
			return p
		}
	case abi.PROCMAP_QUERY:
		if p, ok := c.ProcmapQuery(int(int32(r[0])), r[2]); ok {
			return p
		}
	}
	return ignore
}

// openCall decodes open, openat and openat2 (whose flags are the first
// u64 of its struct open_how) for the /proc view's step.
func openCall(nr uintptr) Handler {
	return func(c Context, r Regs) Plan {
		var path, flags uint64
		switch nr {
		case unix.SYS_OPEN:
			path, flags = r[0], r[1]
		case unix.SYS_OPENAT:
			path, flags = r[1], r[2]
		case unix.SYS_OPENAT2:
			b, err := c.Host().ReadBytes(r[2], 8)
			if err != nil {
				return ignore // the host's EFAULT
			}
			path, flags = r[1], binary.LittleEndian.Uint64(b)
		}
		if p, ok := c.OpenProc(nr, r, path, flags); ok {
			return p
		}
		return ignore
	}
}

// FileAccess is a read or write of a file: read, write, pread64,
// pwrite64, readv, writev, preadv, pwritev, preadv2 or pwritev2.
type FileAccess struct {
	Fd    int
	Write bool
	// Vector: Buf is a struct iovec array of Count entries; otherwise a
	// buffer of Count bytes.
	Vector     bool
	Buf, Count uint64
	// Positional: at Offset; otherwise at the file position, which the
	// call moves.
	Positional bool
	Offset     uint64
}

// fileCall is how a read/write call accesses its file.
type fileCall struct{ write, vector, positional, flags2 bool }

// decode decodes a read/write call of the kind k.
func (k fileCall) decode(r Regs) FileAccess {
	a := FileAccess{Fd: int(int32(r[0])), Write: k.write, Vector: k.vector, Buf: r[1], Count: r[2], Positional: k.positional}
	if k.positional {
		a.Offset = r[3] // pos_l: the whole offset on 64-bit
		if k.flags2 && int64(a.Offset) == -1 {
			a.Positional = false // preadv2/pwritev2: the file position
		}
	}
	return a
}

// fileAccessCall: reads and writes, traced for the /proc view's pagemap
// and mem files.
func fileAccessCall(k fileCall) Handler {
	block := BlockRead
	if k.write {
		block = BlockWrite
	}
	return func(c Context, r Regs) Plan {
		a := k.decode(r)
		if p, ok := c.ProcFileAccess(a); ok {
			return p
		}
		if !a.Write && !a.Vector {
			if p, ok := c.ReadRandom(a); ok {
				return p
			}
		}
		if p, ok := c.Blocking(block, r); ok {
			return p
		}
		return ignore
	}
}

// dupCall: dup, dup2, dup3 and fcntl's F_DUPFD / F_DUPFD_CLOEXEC (the
// only fcntl commands the per-fd filters trace), for the /proc view.
func dupCall(nr uintptr) Handler {
	return func(c Context, r Regs) Plan {
		if nr == unix.SYS_FCNTL {
			switch cmd := uint32(r[1]); cmd {
			case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
			case unix.F_SETLK, unix.F_SETLKW, unix.F_OFD_SETLK, unix.F_OFD_SETLKW:
				if p, ok := c.Blocking(BlockFcntlLock, r); ok {
					return p
				}
				return ignore
			default:
				return ignore
			}
		}
		if nr == unix.SYS_DUP2 || nr == unix.SYS_DUP3 {
			c.LocksMayChange() // the fd it replaces is closed
		}
		if p, ok := c.ProcFileDup(nr, r); ok {
			return p
		}
		return ignore
	}
}
