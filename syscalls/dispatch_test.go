package syscalls

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"madvisor/abi"
	"madvisor/lockdep"
	"madvisor/mm"
)

// fakeSpace is an address space with a model.
type fakeSpace struct{ m *mm.MM }

func (s *fakeSpace) Model() *mm.MM { return s.m }

// fakeContext records which of the sentry's steps a handler asked for, in
// order, and answers with the plans set in decides (by step name).
type fakeContext struct {
	space   Space
	mem     map[uint64][]byte
	steps   []string
	decides map[string]Plan
}

func (c *fakeContext) Host() Host              { return fakeHostMem(c.mem) }
func (c *fakeContext) Space() Space            { return c.space }
func (c *fakeContext) Holder() *lockdep.Holder { return nil }
func (c *fakeContext) record(step string) (Plan, bool) {
	c.steps = append(c.steps, step)
	p, ok := c.decides[step]
	return p, ok
}
func (c *fakeContext) Update(Space, Regs, Update) Plan {
	p, _ := c.record("update")
	return p
}
func (c *fakeContext) Sealed(sp Space, _ uintptr, r Regs, check SealCheck) (Plan, bool) {
	check(sp.Model().AS, r) // must not panic on any registers
	return c.record("sealed")
}
func (c *fakeContext) Mseal(Space, Regs) (Plan, bool) { return c.record("mseal") }
func (c *fakeContext) GuardedProtect(_ Space, nr uintptr, _ Regs, _ Update) (Plan, bool) {
	return c.record(fmt.Sprintf("guarded_protect(%d)", nr))
}
func (c *fakeContext) GuardedRemap(Space, Regs, Update) (Plan, bool) {
	return c.record("guarded_remap")
}
func (c *fakeContext) Madvise(_ Space, a MadviseArgs) Plan {
	p, _ := c.record(fmt.Sprintf("madvise(%#x, %d, %d)", a.Start, a.Len, a.Advice))
	return p
}
func (c *fakeContext) ProcessMadvise(a ProcessMadviseArgs) Plan {
	p, _ := c.record(fmt.Sprintf("process_madvise(%d, %#x, %d, %d, %d)", a.Pidfd, a.Vec, a.Vlen, a.Advice, a.Flags))
	return p
}
func (c *fakeContext) OpenProc(_ uintptr, _ Regs, path, flags uint64) (Plan, bool) {
	return c.record(fmt.Sprintf("open(%#x, %#x)", path, flags))
}
func (c *fakeContext) ProcFileAccess(a FileAccess) (Plan, bool) {
	return c.record(fmt.Sprintf("access(%+v)", a))
}
func (c *fakeContext) ProcFileDup(uintptr, Regs) (Plan, bool) { return c.record("dup") }
func (c *fakeContext) Futex(a FutexArgs) (Plan, bool) {
	return c.record(fmt.Sprintf("futex(%#x, %d, %d)", a.Addr, a.Op, a.Val))
}
func (c *fakeContext) FutexWaitv(a FutexWaitvArgs) (Plan, bool) {
	return c.record(fmt.Sprintf("futex_waitv(%#x, %d)", a.Vec, a.N))
}
func (c *fakeContext) Time(k TimeCall, _ Regs) (Plan, bool) {
	return c.record(fmt.Sprintf("time(%d)", k))
}
func (c *fakeContext) Getrandom(buf, n uint64, _ uint32) (Plan, bool) {
	return c.record(fmt.Sprintf("getrandom(%#x, %d)", buf, n))
}
func (c *fakeContext) Blocking(k BlockCall, _ Regs) (Plan, bool) {
	return c.record(fmt.Sprintf("blocking(%d)", k))
}
func (c *fakeContext) CPU(k CPUCall, _ Regs) (Plan, bool) {
	return c.record(fmt.Sprintf("cpu(%d)", k))
}
func (c *fakeContext) SetClearTid(addr uint64) { c.record(fmt.Sprintf("clear_tid(%#x)", addr)) }
func (c *fakeContext) GroupExit()              { c.record("group_exit") }
func (c *fakeContext) LocksMayChange()         { c.record("locks_may_change") }
func (c *fakeContext) SignalSent(_ uintptr, _ Regs, a SignalArgs) (Plan, bool) {
	return c.record(fmt.Sprintf("signal_sent(%d, %d)", a.Pid, a.Sig))
}
func (c *fakeContext) ReadRandom(a FileAccess) (Plan, bool) {
	return c.record(fmt.Sprintf("read_random(%d)", a.Fd))
}
func (c *fakeContext) PagemapScan(fd int, arg uint64) (Plan, bool) {
	return c.record(fmt.Sprintf("pagemap_scan(%d, %#x)", fd, arg))
}
func (c *fakeContext) ProcmapQuery(fd int, arg uint64) (Plan, bool) {
	return c.record(fmt.Sprintf("procmap_query(%d, %#x)", fd, arg))
}

// fakeHostMem is tracee memory for the decoders: whole buffers by address.
type fakeHostMem map[uint64][]byte

func (m fakeHostMem) ReadBytes(addr uint64, n int) ([]byte, error) {
	b, ok := m[addr]
	if !ok || len(b) < n {
		return nil, unix.EFAULT
	}
	return b[:n], nil
}
func (m fakeHostMem) ReadString(uint64, int) (string, error) { return "", unix.EFAULT }
func (m fakeHostMem) FileBacking(int, bool) (mm.Backing, bool, error) {
	return mm.Backing{}, false, unix.EBADF
}
func (m fakeHostMem) MapsLineAt(uint64) (mm.MapsLine, bool) { return mm.MapsLine{}, false }
func (m fakeHostMem) DriverFlags(uint64) (mm.VMFlags, bool) { return 0, false }
func (m fakeHostMem) VMFlags(uint64) (mm.VMFlags, bool)     { return 0, false }

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestDispatch: each entry's handler decodes the registers and asks for
// the steps in the order they win; the first step that decides the call
// gives the Plan.
func TestDispatch(t *testing.T) {
	lockPlan := Plan{Locks: "decided"}
	tests := []struct {
		name      string
		nr        uintptr
		r         Regs
		noSpace   bool
		decides   []string
		wantSteps []string
		want      Plan
	}{
		{name: "mmap: seal check, then the model update", nr: unix.SYS_MMAP,
			wantSteps: []string{"sealed", "update"}},
		{name: "mmap refused by a seal", nr: unix.SYS_MMAP, decides: []string{"sealed"},
			wantSteps: []string{"sealed"}, want: lockPlan},
		{name: "mprotect: seal, guard pages, update", nr: unix.SYS_MPROTECT,
			wantSteps: []string{"sealed", "guarded_protect(10)", "update"}},
		{name: "pkey_mprotect", nr: unix.SYS_PKEY_MPROTECT,
			wantSteps: []string{"sealed", "guarded_protect(329)", "update"}},
		{name: "mremap over guard pages", nr: unix.SYS_MREMAP, decides: []string{"guarded_remap"},
			wantSteps: []string{"sealed", "guarded_remap"}, want: lockPlan},
		{name: "brk", nr: unix.SYS_BRK, wantSteps: []string{"sealed", "update"}},
		{name: "mlock: no seal or guard step", nr: unix.SYS_MLOCK, wantSteps: []string{"update"}},
		{name: "mseal on a host with mseal", nr: unix.SYS_MSEAL, wantSteps: []string{"mseal", "update"}},
		{name: "mseal emulated", nr: unix.SYS_MSEAL, decides: []string{"mseal"}, wantSteps: []string{"mseal"}, want: lockPlan},
		{name: "mmap before the first exec", nr: unix.SYS_MMAP, noSpace: true},
		{name: "madvise decoded", nr: unix.SYS_MADVISE, r: Regs{0x7000, 8192, 0xffffffff_00000004},
			wantSteps: []string{"madvise(0x7000, 8192, 4)"}},
		{name: "madvise before the first exec", nr: unix.SYS_MADVISE, noSpace: true},
		{name: "process_madvise decoded", nr: unix.SYS_PROCESS_MADVISE,
			r:         Regs{0xffffffff_00000000 | uint64(uint32(abi.PIDFD_SELF_THREAD_GROUP&0xffffffff)), 0x5000, 2, 20, 0},
			wantSteps: []string{"process_madvise(-10001, 0x5000, 2, 20, 0)"}},
		{name: "uffd register", nr: unix.SYS_IOCTL, r: Regs{3, abi.UFFDIO_REGISTER, 0x9000},
			wantSteps: []string{"update"}},
		{name: "PAGEMAP_SCAN not the view's", nr: unix.SYS_IOCTL, r: Regs{3, abi.PAGEMAP_SCAN, 0x9000},
			wantSteps: []string{"pagemap_scan(3, 0x9000)"}, want: ignore},
		{name: "PROCMAP_QUERY answered", nr: unix.SYS_IOCTL, r: Regs{4, abi.PROCMAP_QUERY, 0xa000},
			decides: []string{"procmap_query(4, 0xa000)"}, wantSteps: []string{"procmap_query(4, 0xa000)"}, want: lockPlan},
		{name: "openat", nr: unix.SYS_OPENAT, r: Regs{0xffffff9c, 0x1000, unix.O_RDONLY},
			wantSteps: []string{"open(0x1000, 0x0)"}, want: ignore},
		{name: "tgkill", nr: unix.SYS_TGKILL, r: Regs{100, 101, 10},
			wantSteps: []string{"signal_sent(101, 10)"}, want: Plan{}},
		{name: "kill of a process group", nr: unix.SYS_KILL, r: Regs{^uint64(99), 9},
			wantSteps: []string{"signal_sent(0, 9)"}, want: Plan{}},
		{name: "getcpu", nr: unix.SYS_GETCPU, r: Regs{0x1000, 0, 0},
			wantSteps: []string{"cpu(2)"}, want: Plan{}},
		{name: "open answered by the sentry", nr: unix.SYS_OPEN, r: Regs{0x1000, unix.O_RDONLY},
			decides: []string{"open(0x1000, 0x0)"}, wantSteps: []string{"open(0x1000, 0x0)"}, want: lockPlan},
		{name: "openat2 reads open_how's flags", nr: unix.SYS_OPENAT2, r: Regs{0, 0x1000, 0x2000, 24},
			wantSteps: []string{"open(0x1000, 0x80000)"}, want: ignore},
		{name: "openat2 with an unreadable open_how", nr: unix.SYS_OPENAT2, r: Regs{0, 0x1000, 0x3000, 24},
			want: ignore},
		{name: "pread64", nr: unix.SYS_PREAD64, r: Regs{5, 0x1000, 8, 0x40},
			decides:   []string{"access({Fd:5 Write:false Vector:false Buf:4096 Count:8 Positional:true Offset:64})"},
			wantSteps: []string{"access({Fd:5 Write:false Vector:false Buf:4096 Count:8 Positional:true Offset:64})"}, want: lockPlan},
		{name: "write", nr: unix.SYS_WRITE, r: Regs{5, 0x1000, 8},
			wantSteps: []string{"access({Fd:5 Write:true Vector:false Buf:4096 Count:8 Positional:false Offset:0})", "blocking(10)"}, want: ignore},
		{name: "pwritev2 at the file position", nr: unix.SYS_PWRITEV2, r: Regs{5, 0x1000, 2, ^uint64(0)},
			wantSteps: []string{"access({Fd:5 Write:true Vector:true Buf:4096 Count:2 Positional:false Offset:18446744073709551615})", "blocking(10)"}, want: ignore},
		{name: "preadv at an offset", nr: unix.SYS_PREADV, r: Regs{5, 0x1000, 2, 0x2000},
			wantSteps: []string{"access({Fd:5 Write:false Vector:true Buf:4096 Count:2 Positional:true Offset:8192})", "blocking(9)"}, want: ignore},
		{name: "read", nr: unix.SYS_READ, r: Regs{5, 0x1000, 8},
			wantSteps: []string{"access({Fd:5 Write:false Vector:false Buf:4096 Count:8 Positional:false Offset:0})", "read_random(5)", "blocking(9)"}, want: ignore},
		{name: "futex decoded", nr: unix.SYS_FUTEX, r: Regs{0x7000, 0x80, 2}, wantSteps: []string{"futex(0x7000, 128, 2)"}},
		{name: "clock_gettime", nr: unix.SYS_CLOCK_GETTIME, wantSteps: []string{"time(0)"}},
		{name: "wait4", nr: unix.SYS_WAIT4, wantSteps: []string{"blocking(0)"}},
		{name: "set_tid_address", nr: unix.SYS_SET_TID_ADDRESS, r: Regs{0x7100}, wantSteps: []string{"clear_tid(0x7100)"}},
		{name: "fcntl F_DUPFD", nr: unix.SYS_FCNTL, r: Regs{3, unix.F_DUPFD_CLOEXEC}, wantSteps: []string{"dup"}, want: ignore},
		{name: "fcntl F_GETFL", nr: unix.SYS_FCNTL, r: Regs{3, unix.F_GETFL}, want: ignore},
		{name: "fcntl F_SETLKW", nr: unix.SYS_FCNTL, r: Regs{3, unix.F_SETLKW, 0x8000}, wantSteps: []string{"blocking(15)"}, want: ignore},
		{name: "dup2 closes its target", nr: unix.SYS_DUP2, r: Regs{3, 4}, wantSteps: []string{"locks_may_change", "dup"}, want: ignore},
		{name: "close", nr: unix.SYS_CLOSE, r: Regs{3}, wantSteps: []string{"locks_may_change"}, want: Plan{}},
		{name: "execve", nr: unix.SYS_EXECVE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeContext{mem: map[uint64][]byte{0x2000: u64(unix.O_CLOEXEC)}, decides: map[string]Plan{}}
			if !tt.noSpace {
				c.space = &fakeSpace{mm.NewMM(mm.NewAddressSpace())}
			}
			for _, d := range tt.decides {
				c.decides[d] = lockPlan
			}
			e, ok := Lookup(tt.nr)
			require.True(t, ok, "Lookup(%d)", tt.nr)
			got := e.Handle(c, tt.r)
			assert.Equal(t, tt.wantSteps, c.steps, "steps")
			assert.Equal(t, tt.want, got, "plan")
		})
	}
}

// TestDispatchClone: clone-family handlers decode the flags (clone3's
// from its struct clone_args) and lock the parent's model for a fork
// only.
func TestDispatchClone(t *testing.T) {
	sp := &fakeSpace{mm.NewMM(mm.NewAddressSpace())}
	tests := []struct {
		name      string
		nr        uintptr
		r         Regs
		wantFlags uint64
		wantLock  bool
	}{
		{"fork", unix.SYS_FORK, Regs{}, uint64(unix.SIGCHLD), true},
		{"vfork", unix.SYS_VFORK, Regs{}, unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), false},
		{"clone thread", unix.SYS_CLONE, Regs{unix.CLONE_VM | unix.CLONE_THREAD}, unix.CLONE_VM | unix.CLONE_THREAD, false},
		{"clone3 fork", unix.SYS_CLONE3, Regs{0x4000, 88}, uint64(unix.SIGCHLD), true},
		{"clone3 unreadable", unix.SYS_CLONE3, Regs{0x5000, 88}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeContext{space: sp, mem: map[uint64][]byte{0x4000: u64(uint64(unix.SIGCHLD))}}
			e, ok := Lookup(tt.nr)
			require.True(t, ok)
			got := e.Handle(c, tt.r)
			require.NotNil(t, got.Clone, "Plan.Clone")
			assert.Equal(t, tt.wantFlags, got.Clone.Flags, "flags")
			assert.Equal(t, tt.wantLock, got.Lock != nil, "parent's model locked")
		})
	}
}

func TestDecoders(t *testing.T) {
	assert.Equal(t, MadviseArgs{Start: 1, Len: 2, Advice: -1}, DecodeMadvise(Regs{1, 2, 0xffffffff}))
	assert.Equal(t, ProcessMadviseArgs{Pidfd: -1, Vec: 2, Vlen: 3, Advice: 4, Flags: 5},
		DecodeProcessMadvise(Regs{0xffffffff, 2, 3, 0x1_00000004, 0x1_00000005}))
}
