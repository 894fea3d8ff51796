package syscalls

import (
	"sort"
	"testing"

	"madvisor/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestInterceptedSortedUniqueNamed(t *testing.T) {
	entries := Intercepted()
	require.NotEmpty(t, entries)
	assert.True(t, sort.SliceIsSorted(entries, func(i, j int) bool { return entries[i].Nr < entries[j].Nr }),
		"Intercepted() is not sorted by Nr")
	seen := map[uintptr]bool{}
	for _, e := range entries {
		assert.False(t, seen[e.Nr], "duplicate entry for nr %d", e.Nr)
		seen[e.Nr] = true
		assert.Equal(t, Name(e.Nr), e.Name, "entry %d: got Name %q, want Name(nr) %q", e.Nr, e.Name, Name(e.Nr))
		assert.LessOrEqual(t, len(e.Args), 6, "%s: too many args", e.Name)
		got, ok := Lookup(e.Nr)
		require.True(t, ok, "Lookup(%d) (%s): got not found", e.Nr, e.Name)
		assert.Equal(t, e.Name, got.Name)
		assert.Equal(t, e.Args, got.Args)
		for _, m := range e.Match {
			assert.Less(t, m.Index, len(e.Args), "%s: match index out of range", e.Name)
		}
	}
}

func TestInterceptedSet(t *testing.T) {
	want := []string{
		"mmap", "munmap", "mprotect", "pkey_mprotect", "mremap", "brk",
		"madvise", "process_madvise", "mseal",
		"mlock", "mlock2", "munlock", "mlockall", "munlockall",
		"shmat", "shmdt", "execve", "execveat", "prctl",
		"clone", "clone3", "fork", "vfork", "ioctl", "userfaultfd",
		"personality", "remap_file_pages", "arch_prctl",
		"ptrace", "seccomp", "io_uring_setup", "io_uring_register",
	}
	var got []string
	for _, e := range Intercepted() {
		got = append(got, e.Name)
	}
	assert.ElementsMatch(t, want, got)
}

func TestInterceptedIsACopy(t *testing.T) {
	a := Intercepted()
	a[0].Name = "clobbered"
	assert.NotEqual(t, "clobbered", Intercepted()[0].Name)
}

func TestLookup(t *testing.T) {
	tests := []struct {
		nr     uintptr
		wantOK bool
		want   string
		ret    RetKind
	}{
		{unix.SYS_MADVISE, true, "madvise", RetInt},
		{unix.SYS_MMAP, true, "mmap", RetAddr},
		{unix.SYS_MREMAP, true, "mremap", RetAddr},
		{unix.SYS_BRK, true, "brk", RetAddr},
		{unix.SYS_SHMAT, true, "shmat", RetAddr},
		{440, true, "process_madvise", RetInt},
		{462, true, "mseal", RetInt},
		{unix.SYS_READ, true, "read", RetInt}, // per-fd traps
		{unix.SYS_GETPID, false, "", 0},
		{100000, false, "", 0},
		{^uintptr(0), false, "", 0},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.nr)
		assert.Equal(t, tt.wantOK, ok && got.Handle != nil, "Lookup(%d) has a handler", tt.nr)
		assert.Equal(t, tt.wantOK, ok, "Lookup(%d): got ok %v, want %v", tt.nr, ok, tt.wantOK)
		assert.Equal(t, tt.want, got.Name, "Lookup(%d)", tt.nr)
		if ok {
			assert.Equal(t, tt.ret, got.Ret, "Lookup(%d).Ret", tt.nr)
		}
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		nr   uintptr
		want string
	}{
		{0, "read"},
		{9, "mmap"},
		{28, "madvise"},
		{56, "clone"},
		{262, "newfstatat"},
		{435, "clone3"},
		{440, "process_madvise"},
		{462, "mseal"},
		{400, "syscall_400"}, // hole between 335 and 424
		{5000, "syscall_5000"},
		{^uintptr(0), "syscall_18446744073709551615"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Name(tt.nr), "Name(%d)", tt.nr)
	}
}

func TestTraced(t *testing.T) {
	prctl, ok := Lookup(unix.SYS_PRCTL)
	require.True(t, ok)
	ioctl, ok := Lookup(unix.SYS_IOCTL)
	require.True(t, ok)
	madvise, ok := Lookup(unix.SYS_MADVISE)
	require.True(t, ok)

	tests := []struct {
		name string
		e    Entry
		args [6]uint64
		want bool
	}{
		{"prctl PR_SET_VMA", prctl, [6]uint64{unix.PR_SET_VMA}, true},
		{"prctl PR_SET_VMA, garbage upper half", prctl, [6]uint64{0xdead_0000_0000 | unix.PR_SET_VMA}, true},
		{"prctl PR_SET_NAME", prctl, [6]uint64{unix.PR_SET_NAME}, false},
		{"prctl PR_SET_VMA in arg1", prctl, [6]uint64{0, unix.PR_SET_VMA}, false},
		{"ioctl abi.UFFDIO_REGISTER", ioctl, [6]uint64{3, abi.UFFDIO_REGISTER}, true},
		{"ioctl abi.UFFDIO_UNREGISTER", ioctl, [6]uint64{3, abi.UFFDIO_UNREGISTER}, true},
		{"ioctl abi.UFFDIO_REGISTER, garbage upper half", ioctl, [6]uint64{3, 1<<40 | abi.UFFDIO_REGISTER}, true},
		{"ioctl TCGETS", ioctl, [6]uint64{0, unix.TCGETS}, false},
		{"madvise always", madvise, [6]uint64{}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.e.Traced(tt.args), tt.name)
	}
}

func TestArgMatch(t *testing.T) {
	tests := []struct {
		name string
		m    ArgMatch
		args [6]uint64
		want bool
	}{
		{"64-bit equal", ArgMatch{Index: 2, Value: 1 << 40}, [6]uint64{0, 0, 1 << 40}, true},
		{"64-bit differs in upper half", ArgMatch{Index: 2, Value: 7}, [6]uint64{0, 0, 1<<40 | 7}, false},
		{"32-bit ignores upper half", ArgMatch{Index: 2, Value: 7, Low32: true}, [6]uint64{0, 0, 1<<40 | 7}, true},
		{"index out of range", ArgMatch{Index: 6}, [6]uint64{}, false},
		{"negative index", ArgMatch{Index: -1}, [6]uint64{}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.m.Matches(tt.args), tt.name)
	}
}

func TestArgKindString(t *testing.T) {
	for k := Hex; k <= IoctlArg; k++ {
		assert.NotContains(t, k.String(), "ArgKind(", "kind %d has no name", int(k))
	}
	assert.Equal(t, "ArgKind(999)", ArgKind(999).String())
}

// TestTraceModes: the main filter traps the TraceAlways entries with
// their always-on matches; the /proc view adds the opens, pread/pwrite and
// the view's ioctl requests; the per-fd calls are in neither.
func TestTraceModes(t *testing.T) {
	names := func(es []Entry) map[string][]ArgMatch {
		m := map[string][]ArgMatch{}
		for _, e := range es {
			m[e.Name] = e.Match
		}
		return m
	}
	always, view := names(Intercepted()), names(ProcViewIntercepted())
	assert.Contains(t, always, "madvise")
	assert.NotContains(t, always, "openat")
	assert.NotContains(t, always, "read")
	assert.Contains(t, view, "openat")
	assert.Contains(t, view, "pread64")
	assert.NotContains(t, view, "read", "read is traced per fd only")
	assert.NotContains(t, view, "madvise")
	require.Contains(t, always, "ioctl")
	require.Contains(t, view, "ioctl")
	for _, m := range always["ioctl"] {
		assert.False(t, m.View, "always-traced ioctl match %#x is a view match", m.Value)
	}
	var viewCmds []uint64
	for _, m := range view["ioctl"] {
		viewCmds = append(viewCmds, m.Value)
	}
	assert.ElementsMatch(t, []uint64{abi.PAGEMAP_SCAN, abi.PROCMAP_QUERY}, viewCmds, "the view's ioctl requests")
	for _, e := range table {
		assert.NotNil(t, e.Handle, "%s has no handler", e.Name)
	}
}
