package syscalls

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"madvisor/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeMem is tracee memory made of disjoint regions.
type fakeMem map[uint64][]byte

var errFault = errors.New("EFAULT")

func (m fakeMem) find(addr uint64) ([]byte, bool) {
	for base, b := range m {
		if addr >= base && addr < base+uint64(len(b)) {
			return b[addr-base:], true
		}
	}
	return nil, false
}

func (m fakeMem) ReadBytes(addr uint64, n int) ([]byte, error) {
	b, ok := m.find(addr)
	if !ok || len(b) < n {
		return nil, errFault
	}
	return append([]byte(nil), b[:n]...), nil
}

func (m fakeMem) ReadString(addr uint64, max int) (string, error) {
	b, ok := m.find(addr)
	if !ok {
		return "", errFault
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > max {
		b = b[:max]
	}
	return string(b), nil
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func words(w ...uint64) []byte {
	b := make([]byte, 8*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func testMem() fakeMem {
	return fakeMem{
		0x1000:   cstr("/bin/ls"),
		0x1100:   cstr("ls"),
		0x1200:   cstr("-l"),
		0x1300:   cstr("with \"quotes\"\tand\n"),
		0x1400:   cstr(strings.Repeat("x", 40)),
		0x1500:   cstr("HOME=/root"),
		0x2000:   words(0x1100, 0x1200, 0),
		0x2100:   words(0x1100, 0x1300, 0x1400, 0),
		0x2200:   words(0x1100, 0x9999, 0),                                 // second string unreadable
		0x2300:   words(append(slices.Repeat([]uint64{0x1100}, 20), 0)...), // 20 x "ls"
		0x2400:   words(append(slices.Repeat([]uint64{0x1200}, 16), 0)...), // 16 x "-l"
		0x2500:   words(0x1100),                                            // no terminator
		0x100000: words(append(slices.Repeat([]uint64{0x1500}, 5000), 0)...),
		0x3000:   words(0x1500, 0x1500, 0x1500, 0),
		0x3100:   words(0),
		0x4000:   cstr("my heap"),
		0x5000:   words(0x7f0000000000, 4096, 0x7f0000010000, 8192),
		0x6000: words(unix.CLONE_VM|unix.CLONE_VFORK|unix.CLONE_CLEAR_SIGHAND, 0, 0, 0,
			uint64(unix.SIGCHLD), 0x7f0000100000, 0x9000, 0, 0, 0, 0),
		0x6100: words(unix.CLONE_VM|unix.CLONE_THREAD|unix.CLONE_SETTLS|unix.CLONE_PARENT_SETTID|unix.CLONE_CHILD_CLEARTID,
			0, 0x7f00000009d0, 0x7f00000009d0, 0, 0x7f0000200000, 0x800000, 0x7f0000000700),
		0x6200: words(0, 0, 0, 0, 200, 0, 0, 0),
		0x7000: words(0x7f0000000000, 0x200000, UFFDIO_REGISTER_MODE_MISSING|UFFDIO_REGISTER_MODE_WP, 0),
		0x7100: words(0x7f0000000000, 4096),
	}
}

func TestFormatCall(t *testing.T) {
	mem := testMem()
	tests := []struct {
		name string
		nr   uintptr
		args [6]uint64
		mem  MemReader
		want string
	}{
		// madvise
		{"madvise DONTNEED", unix.SYS_MADVISE, [6]uint64{0x7f1c2a000000, 4096, unix.MADV_DONTNEED}, nil,
			"madvise(0x7f1c2a000000, 4096, MADV_DONTNEED)"},
		{"madvise GUARD_INSTALL", unix.SYS_MADVISE, [6]uint64{0x7f1c2a000000, 8192, unix.MADV_GUARD_INSTALL}, nil,
			"madvise(0x7f1c2a000000, 8192, MADV_GUARD_INSTALL)"},
		{"madvise NULL, unknown advice", unix.SYS_MADVISE, [6]uint64{0, 0, 999}, nil,
			"madvise(NULL, 0, 999)"},
		{"madvise negative advice", unix.SYS_MADVISE, [6]uint64{0x1000, 1, 0xffffffff}, nil,
			"madvise(0x1000, 1, -1)"},
		{"madvise advice is an int", unix.SYS_MADVISE, [6]uint64{0x1000, 1, 1<<32 | unix.MADV_COLD}, nil,
			"madvise(0x1000, 1, MADV_COLD)"},

		// mmap
		{"mmap anon", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, 0xffffffffffffffff, 0}, nil,
			"mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"},
		{"mmap file", unix.SYS_MMAP,
			[6]uint64{0x7f0000000000, 8192, unix.PROT_READ | unix.PROT_EXEC, unix.MAP_PRIVATE | unix.MAP_FIXED | unix.MAP_DENYWRITE, 3, 0x1e000}, nil,
			"mmap(0x7f0000000000, 8192, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x1e000)"},
		{"mmap PROT_NONE noreplace", unix.SYS_MMAP,
			[6]uint64{0x10000, 4096, unix.PROT_NONE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE, 0xffffffff, 0}, nil,
			"mmap(0x10000, 4096, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0)"},
		{"mmap unknown prot bit", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ | 0x100, unix.MAP_SHARED, 4, 0}, nil,
			"mmap(NULL, 4096, PROT_READ|0x100, MAP_SHARED, 4, 0)"},
		{"mmap shared validate sync", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ, unix.MAP_SHARED_VALIDATE | unix.MAP_SYNC, 5, 0}, nil,
			"mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE|MAP_SYNC, 5, 0)"},
		{"mmap droppable", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_DROPPABLE | unix.MAP_ANONYMOUS, 0xffffffff, 0}, nil,
			"mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0)"},
		{"mmap huge 2MB", unix.SYS_MMAP,
			[6]uint64{0, 2 << 20, unix.PROT_READ, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_HUGETLB | unix.MAP_HUGE_2MB, 0xffffffff, 0}, nil,
			"mmap(NULL, 2097152, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB, -1, 0)"},
		{"mmap huge 1GB", unix.SYS_MMAP,
			[6]uint64{0, 1 << 30, unix.PROT_READ, unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_HUGETLB | unix.MAP_HUGE_1GB, 0xffffffff, 0}, nil,
			"mmap(NULL, 1073741824, PROT_READ, MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_1GB, -1, 0)"},
		{"mmap huge 64KB", unix.SYS_MMAP,
			[6]uint64{0, 65536, unix.PROT_READ, unix.MAP_PRIVATE | unix.MAP_HUGETLB | unix.MAP_HUGE_64KB, 0xffffffff, 0}, nil,
			"mmap(NULL, 65536, PROT_READ, MAP_PRIVATE|MAP_HUGETLB|MAP_HUGE_64KB, -1, 0)"},
		{"mmap MAP_UNINITIALIZED without HUGETLB", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | MAP_UNINITIALIZED, 0xffffffff, 0}, nil,
			"mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_UNINITIALIZED, -1, 0)"},
		{"mmap every flag", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC | unix.PROT_GROWSDOWN,
				unix.MAP_PRIVATE | unix.MAP_32BIT | unix.MAP_ABOVE4G | unix.MAP_GROWSDOWN | unix.MAP_EXECUTABLE |
					unix.MAP_LOCKED | unix.MAP_NORESERVE | unix.MAP_POPULATE | unix.MAP_NONBLOCK | unix.MAP_STACK, 0xffffffff, 0}, nil,
			"mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC|PROT_GROWSDOWN, MAP_PRIVATE|MAP_32BIT|MAP_ABOVE4G|MAP_GROWSDOWN|MAP_EXECUTABLE|MAP_LOCKED|MAP_NORESERVE|MAP_POPULATE|MAP_NONBLOCK|MAP_STACK, -1, 0)"},
		{"mmap unknown type and bits", unix.SYS_MMAP,
			[6]uint64{0, 4096, unix.PROT_READ, 0x5 | unix.MAP_ANONYMOUS | 1<<40, 0xffffffff, 0}, nil,
			"mmap(NULL, 4096, PROT_READ, MAP_ANONYMOUS|0x10000000005, -1, 0)"},
		{"mmap zero flags", unix.SYS_MMAP, [6]uint64{0, 4096, unix.PROT_READ, 0, 0, 0}, nil,
			"mmap(NULL, 4096, PROT_READ, 0, 0, 0)"},

		// munmap, mprotect, pkey_mprotect, brk
		{"munmap", unix.SYS_MUNMAP, [6]uint64{0x7f0000000000, 4096}, nil, "munmap(0x7f0000000000, 4096)"},
		{"mprotect", unix.SYS_MPROTECT, [6]uint64{0x7f0000000000, 4096, unix.PROT_READ}, nil,
			"mprotect(0x7f0000000000, 4096, PROT_READ)"},
		{"pkey_mprotect", unix.SYS_PKEY_MPROTECT, [6]uint64{0x7f0000000000, 4096, unix.PROT_READ | unix.PROT_WRITE, 0xffffffff}, nil,
			"pkey_mprotect(0x7f0000000000, 4096, PROT_READ|PROT_WRITE, -1)"},
		{"brk NULL", unix.SYS_BRK, [6]uint64{0}, nil, "brk(NULL)"},
		{"brk addr", unix.SYS_BRK, [6]uint64{0x555555779000}, nil, "brk(0x555555779000)"},

		// mremap
		{"mremap maymove", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 8192, unix.MREMAP_MAYMOVE, 0}, nil,
			"mremap(0x7f0000000000, 4096, 8192, MREMAP_MAYMOVE)"},
		{"mremap fixed", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 4096, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, 0x7f0000100000}, nil,
			"mremap(0x7f0000000000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000100000)"},
		{"mremap dontunmap", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 4096, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED | unix.MREMAP_DONTUNMAP, 0x7f0000100000}, nil,
			"mremap(0x7f0000000000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP, 0x7f0000100000)"},
		{"mremap no flags", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 8192, 4096, 0, 0}, nil,
			"mremap(0x7f0000000000, 8192, 4096, 0)"},
		{"mremap unknown flag", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 8192, 4096, 0x8, 0}, nil,
			"mremap(0x7f0000000000, 8192, 4096, 0x8)"},

		// mseal, mlock*
		{"mseal", 462, [6]uint64{0x7f0000000000, 4096, 0}, nil, "mseal(0x7f0000000000, 4096, 0)"},
		{"mseal bad flags", 462, [6]uint64{0x7f0000000000, 4096, 1}, nil, "mseal(0x7f0000000000, 4096, 0x1)"},
		{"mlock", unix.SYS_MLOCK, [6]uint64{0x7f0000000000, 4096}, nil, "mlock(0x7f0000000000, 4096)"},
		{"mlock2 onfault", unix.SYS_MLOCK2, [6]uint64{0x7f0000000000, 4096, unix.MLOCK_ONFAULT}, nil,
			"mlock2(0x7f0000000000, 4096, MLOCK_ONFAULT)"},
		{"mlock2 0", unix.SYS_MLOCK2, [6]uint64{0x7f0000000000, 4096, 0}, nil, "mlock2(0x7f0000000000, 4096, 0)"},
		{"munlock", unix.SYS_MUNLOCK, [6]uint64{0x7f0000000000, 4096}, nil, "munlock(0x7f0000000000, 4096)"},
		{"mlockall", unix.SYS_MLOCKALL, [6]uint64{unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT}, nil,
			"mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)"},
		{"mlockall unknown", unix.SYS_MLOCKALL, [6]uint64{unix.MCL_CURRENT | 0x10}, nil, "mlockall(MCL_CURRENT|0x10)"},
		{"munlockall", unix.SYS_MUNLOCKALL, [6]uint64{1, 2, 3}, nil, "munlockall()"},

		// shm
		{"shmat", unix.SYS_SHMAT, [6]uint64{42, 0, unix.SHM_RDONLY}, nil, "shmat(42, NULL, SHM_RDONLY)"},
		{"shmat remap", unix.SYS_SHMAT, [6]uint64{42, 0x7f0000000000, abi.SHM_REMAP | unix.SHM_RND | abi.SHM_EXEC}, nil,
			"shmat(42, 0x7f0000000000, SHM_RND|abi.SHM_REMAP|abi.SHM_EXEC)"},
		{"shmat 0", unix.SYS_SHMAT, [6]uint64{7, 0, 0}, nil, "shmat(7, NULL, 0)"},
		{"shmdt", unix.SYS_SHMDT, [6]uint64{0x7f0000000000}, nil, "shmdt(0x7f0000000000)"},

		// process_madvise
		{"process_madvise self thread", 440, [6]uint64{0xffffffffffffd8f0, 0x5000, 2, unix.MADV_COLD, 0}, nil,
			"process_madvise(abi.PIDFD_SELF_THREAD, 0x5000, 2, MADV_COLD, 0)"},
		{"process_madvise self group", 440, [6]uint64{uint64(0xffffd8ef), 0x5000, 2, unix.MADV_GUARD_INSTALL, 0}, nil,
			"process_madvise(abi.PIDFD_SELF_THREAD_GROUP, 0x5000, 2, MADV_GUARD_INSTALL, 0)"},
		{"process_madvise iovec decoded", 440, [6]uint64{3, 0x5000, 2, unix.MADV_PAGEOUT, 0}, mem,
			"process_madvise(3, [{iov_base=0x7f0000000000, iov_len=4096}, {iov_base=0x7f0000010000, iov_len=8192}], 2, MADV_PAGEOUT, 0)"},
		{"process_madvise iovec vlen 0", 440, [6]uint64{3, 0x5000, 0, 999, 0}, mem,
			"process_madvise(3, [], 0, 999, 0)"},
		{"process_madvise iovec unreadable", 440, [6]uint64{3, 0x5000, 3, unix.MADV_COLD, 1}, mem,
			"process_madvise(3, 0x5000, 3, MADV_COLD, 0x1)"},
		{"process_madvise vlen too big", 440, [6]uint64{3, 0x5000, 1025, unix.MADV_COLD, 0}, mem,
			"process_madvise(3, 0x5000, 1025, MADV_COLD, 0)"},
		{"process_madvise NULL iovec", 440, [6]uint64{3, 0, 1, unix.MADV_COLD, 0}, mem,
			"process_madvise(3, NULL, 1, MADV_COLD, 0)"},

		// execve, execveat
		{"execve no mem", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2000, 0x3000}, nil,
			"execve(0x1000, 0x2000, 0x3000)"},
		{"execve", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2000, 0x3000}, mem,
			`execve("/bin/ls", ["ls", "-l"], 0x3000 /* 3 vars */)`},
		{"execve escapes and truncation", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2100, 0x3100}, mem,
			`execve("/bin/ls", ["ls", "with \"quotes\"\tand\n", "` + strings.Repeat("x", 32) + `"...], 0x3100 /* 0 vars */)`},
		{"execve long argv", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2300, 0}, mem,
			`execve("/bin/ls", [` + strings.Repeat(`"ls", `, 16) + `...], NULL)`},
		{"execve argv of exactly 16", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2400, 0x100000}, mem,
			`execve("/bin/ls", [` + strings.TrimSuffix(strings.Repeat(`"-l", `, 16), ", ") + `], 0x100000 /* 4096+ vars */)`},
		{"execve argv runs into unmapped memory", unix.SYS_EXECVE, [6]uint64{0x1000, 0x2500, 0x2500}, mem,
			`execve("/bin/ls", 0x2500, 0x2500)`},
		{"execve unreadable", unix.SYS_EXECVE, [6]uint64{0x9000, 0x2200, 0x9000}, mem,
			`execve(0x9000, ["ls", 0x9999], 0x9000)`},
		{"execve NULL", unix.SYS_EXECVE, [6]uint64{0, 0, 0}, mem, `execve(NULL, NULL, NULL)`},
		{"execveat cwd", unix.SYS_EXECVEAT, [6]uint64{uint64(0xffffff9c), 0x1000, 0x2000, 0x3000, 0}, mem,
			`execveat(AT_FDCWD, "/bin/ls", ["ls", "-l"], 0x3000 /* 3 vars */, 0)`},
		{"execveat empty path", unix.SYS_EXECVEAT, [6]uint64{5, 0x1000, 0x2000, 0x3000, unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW}, nil,
			`execveat(5, 0x1000, 0x2000, 0x3000, AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH)`},

		// prctl
		{"prctl PR_SET_VMA name", unix.SYS_PRCTL,
			[6]uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, 0x4000}, mem,
			`prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, "my heap")`},
		{"prctl PR_SET_VMA no mem", unix.SYS_PRCTL,
			[6]uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, 0x4000}, nil,
			`prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, 0x4000)`},
		{"prctl PR_SET_VMA clear name", unix.SYS_PRCTL,
			[6]uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, 0}, mem,
			`prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, 0x7f0000000000, 8192, NULL)`},
		{"prctl PR_SET_VMA unknown sub-option", unix.SYS_PRCTL,
			[6]uint64{unix.PR_SET_VMA, 7, 0x7f0000000000, 8192, 0x4000}, mem,
			`prctl(PR_SET_VMA, 0x7, 0x7f0000000000, 8192, 0x4000)`},
		{"prctl other", unix.SYS_PRCTL, [6]uint64{unix.PR_SET_NAME, 0x4000}, mem,
			`prctl(15, 0x4000, 0, 0, 0)`},

		// clone family
		{"clone fork-like", unix.SYS_CLONE,
			[6]uint64{unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | uint64(unix.SIGCHLD), 0, 0, 0x7f00000009d0, 0}, nil,
			"clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00000009d0)"},
		{"clone thread", unix.SYS_CLONE,
			[6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
				unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID,
				0x7f3b2c5fef70, 0x7f3b2c5ff9d0, 0x7f3b2c5ff9d0, 0x7f3b2c5ff700}, nil,
			"clone(child_stack=0x7f3b2c5fef70, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, parent_tid=0x7f3b2c5ff9d0, tls=0x7f3b2c5ff700, child_tidptr=0x7f3b2c5ff9d0)"},
		{"clone vfork", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, nil,
			"clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD)"},
		{"clone zero", unix.SYS_CLONE, [6]uint64{}, nil, "clone(child_stack=NULL, flags=0)"},
		{"clone unknown bits and signal number", unix.SYS_CLONE, [6]uint64{1<<40 | unix.CLONE_VM | 0x40}, nil,
			"clone(child_stack=NULL, flags=CLONE_VM|SIGRT_32)"},
		{"clone SIGRTMIN", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | 32}, nil,
			"clone(child_stack=NULL, flags=CLONE_VM|SIGRTMIN)"},
		{"clone3 odd exit signal", unix.SYS_CLONE3, [6]uint64{0x6200, 64}, mem,
			"clone3({flags=0, exit_signal=200}, 64)"},
		{"clone3 no mem", unix.SYS_CLONE3, [6]uint64{0x6000, 88}, nil, "clone3(0x6000, 88)"},
		{"clone3 vfork", unix.SYS_CLONE3, [6]uint64{0x6000, 88}, mem,
			"clone3({flags=CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND, exit_signal=SIGCHLD, stack=0x7f0000100000, stack_size=0x9000}, 88)"},
		{"clone3 thread", unix.SYS_CLONE3, [6]uint64{0x6100, 64}, mem,
			"clone3({flags=CLONE_VM|CLONE_THREAD|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f00000009d0, parent_tid=0x7f00000009d0, exit_signal=0, stack=0x7f0000200000, stack_size=0x800000, tls=0x7f0000000700}, 64)"},
		{"clone3 size too small", unix.SYS_CLONE3, [6]uint64{0x6000, 32}, mem, "clone3(0x6000, 32)"},
		{"clone3 unreadable", unix.SYS_CLONE3, [6]uint64{0x9000, 88}, mem, "clone3(0x9000, 88)"},
		{"fork", unix.SYS_FORK, [6]uint64{}, nil, "fork()"},
		{"vfork", unix.SYS_VFORK, [6]uint64{}, nil, "vfork()"},

		// ioctl (userfaultfd)
		{"ioctl abi.UFFDIO_REGISTER", unix.SYS_IOCTL, [6]uint64{4, abi.UFFDIO_REGISTER, 0x7000}, mem,
			"ioctl(4, abi.UFFDIO_REGISTER, {range={start=0x7f0000000000, len=2097152}, mode=UFFDIO_REGISTER_MODE_MISSING|UFFDIO_REGISTER_MODE_WP})"},
		{"ioctl abi.UFFDIO_REGISTER no mem", unix.SYS_IOCTL, [6]uint64{4, abi.UFFDIO_REGISTER, 0x7000}, nil,
			"ioctl(4, abi.UFFDIO_REGISTER, 0x7000)"},
		{"ioctl abi.UFFDIO_UNREGISTER", unix.SYS_IOCTL, [6]uint64{4, abi.UFFDIO_UNREGISTER, 0x7100}, mem,
			"ioctl(4, abi.UFFDIO_UNREGISTER, {start=0x7f0000000000, len=4096})"},
		{"ioctl other", unix.SYS_IOCTL, [6]uint64{1, unix.TCGETS, 0x7000}, mem, "ioctl(1, 0x5401, 0x7000)"},

		// traced on single fds (the /proc view's pagemap and mem)
		{"read", unix.SYS_READ, [6]uint64{3, 0x1000, 10}, mem, "read(3, 0x1000, 10)"},

		// not in the table
		{"getpid", unix.SYS_GETPID, [6]uint64{}, mem, "getpid(0, 0, 0, 0, 0, 0)"},
		{"unknown", 999, [6]uint64{1}, nil, "syscall_999(0x1, 0, 0, 0, 0, 0)"},
	}
	for _, tt := range tests {
		got := FormatCall(tt.nr, tt.args, tt.mem)
		assert.Equal(t, tt.want, got, "%s: got %q, want %q", tt.name, got, tt.want)
	}
}

func TestFormatReturn(t *testing.T) {
	neg := func(e unix.Errno) uint64 { return uint64(-int64(e)) }
	tests := []struct {
		name string
		nr   uintptr
		ret  uint64
		want string
	}{
		{"madvise ok", unix.SYS_MADVISE, 0, "= 0"},
		{"madvise ENOMEM", unix.SYS_MADVISE, neg(unix.ENOMEM), "= -1 ENOMEM (Cannot allocate memory)"},
		{"madvise EINVAL", unix.SYS_MADVISE, neg(unix.EINVAL), "= -1 EINVAL (Invalid argument)"},
		{"madvise EAGAIN", unix.SYS_MADVISE, neg(unix.EAGAIN), "= -1 EAGAIN (Resource temporarily unavailable)"},
		{"madvise EOPNOTSUPP", unix.SYS_MADVISE, neg(unix.EOPNOTSUPP), "= -1 EOPNOTSUPP (Operation not supported)"},
		{"madvise EHWPOISON", unix.SYS_MADVISE, neg(unix.EHWPOISON), "= -1 EHWPOISON (Memory page has hardware error)"},
		{"madvise ERESTARTNOINTR", unix.SYS_MADVISE, neg(ERESTARTNOINTR), "= ? ERESTARTNOINTR (To be restarted)"},
		{"ERESTARTSYS", unix.SYS_MADVISE, neg(ERESTARTSYS), "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)"},
		{"ERESTARTNOHAND", unix.SYS_MADVISE, neg(ERESTARTNOHAND), "= ? ERESTARTNOHAND (To be restarted if no handler)"},
		{"ERESTART_RESTARTBLOCK", unix.SYS_MADVISE, neg(ERESTART_RESTARTBLOCK), "= ? ERESTART_RESTARTBLOCK (Interrupted by signal)"},
		{"ENOTSUPP (internal)", unix.SYS_MADVISE, neg(ENOTSUPP), "= -1 ENOTSUPP (Unknown error 524)"},
		{"unnamed errno", unix.SYS_MADVISE, neg(4000), "= -1 4000 (Unknown error 4000)"},
		{"MAX_ERRNO", unix.SYS_MADVISE, neg(4095), "= -1 4095 (Unknown error 4095)"},
		{"process_madvise bytes", 440, 8192, "= 8192"},
		{"mmap address", unix.SYS_MMAP, 0x7f1c2a000000, "= 0x7f1c2a000000"},
		{"mmap ENOMEM", unix.SYS_MMAP, neg(unix.ENOMEM), "= -1 ENOMEM (Cannot allocate memory)"},
		{"mmap EEXIST", unix.SYS_MMAP, neg(unix.EEXIST), "= -1 EEXIST (File exists)"},
		{"mremap address", unix.SYS_MREMAP, 0x7f0000100000, "= 0x7f0000100000"},
		{"brk", unix.SYS_BRK, 0x555555779000, "= 0x555555779000"},
		{"shmat", unix.SYS_SHMAT, 0x7f0000000000, "= 0x7f0000000000"},
		{"shmat EACCES", unix.SYS_SHMAT, neg(unix.EACCES), "= -1 EACCES (Permission denied)"},
		{"address above the errno range", unix.SYS_MMAP, 0xffffffffffffe000, "= 0xffffffffffffe000"},
		{"clone pid", unix.SYS_CLONE, 1234, "= 1234"},
		{"mseal EPERM", 462, neg(unix.EPERM), "= -1 EPERM (Operation not permitted)"},
		{"unknown syscall", 999, 7, "= 7"},
		{"unknown syscall ENOSYS", 999, neg(unix.ENOSYS), "= -1 ENOSYS (Function not implemented)"},
	}
	for _, tt := range tests {
		got := FormatReturn(tt.nr, tt.ret)
		assert.Equal(t, tt.want, got, "%s: got %q, want %q", tt.name, got, tt.want)
	}
}

// TestAdviceNamesCoverFacts checks that every MADV_* value listed under
// "Values" in shared/reference/madvise-facts.md has its name.
func TestAdviceNamesCoverFacts(t *testing.T) {
	facts := map[int64]string{
		0: "NORMAL", 1: "RANDOM", 2: "SEQUENTIAL", 3: "WILLNEED", 4: "DONTNEED",
		8: "FREE", 9: "REMOVE", 10: "DONTFORK", 11: "DOFORK", 12: "MERGEABLE",
		13: "UNMERGEABLE", 14: "HUGEPAGE", 15: "NOHUGEPAGE", 16: "DONTDUMP",
		17: "DODUMP", 18: "WIPEONFORK", 19: "KEEPONFORK", 20: "COLD",
		21: "PAGEOUT", 22: "POPULATE_READ", 23: "POPULATE_WRITE",
		24: "DONTNEED_LOCKED", 25: "COLLAPSE", 100: "HWPOISON",
		101: "SOFT_OFFLINE", 102: "GUARD_INSTALL", 103: "GUARD_REMOVE",
	}
	for v, want := range facts {
		got, ok := AdviceName(v)
		if assert.True(t, ok, "AdviceName(%d): got no name, want MADV_%s", v, want) {
			assert.Equal(t, "MADV_"+want, got, "AdviceName(%d)", v)
		}
	}
	assert.Len(t, adviceNames, len(facts), "advice table has names the facts page does not list")
	for _, v := range []int64{5, 6, 7, 26, 99, 104, 999, -1} {
		got, ok := AdviceName(v)
		assert.False(t, ok, "AdviceName(%d): got %q, want none", v, got)
	}
}

func TestErrnoName(t *testing.T) {
	tests := []struct {
		e        unix.Errno
		wantName string
		wantText string
	}{
		{unix.EPERM, "EPERM", "Operation not permitted"},
		{unix.ENOMEM, "ENOMEM", "Cannot allocate memory"},
		{unix.EFAULT, "EFAULT", "Bad address"},
		{unix.EBADF, "EBADF", "Bad file descriptor"},
		{unix.ESRCH, "ESRCH", "No such process"},
		{unix.EINTR, "EINTR", "Interrupted system call"},
		{unix.EBUSY, "EBUSY", "Device or resource busy"},
		{unix.EAGAIN, "EAGAIN", "Resource temporarily unavailable"},
		{unix.EDEADLK, "EDEADLK", "Resource deadlock avoided"},
		{unix.EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"},
		{ERESTARTNOINTR, "ERESTARTNOINTR", "To be restarted"},
		{ENOIOCTLCMD, "ENOIOCTLCMD", "Unknown error 515"},
		{ENOGRACE, "ENOGRACE", "Unknown error 531"},
		{unix.EHWPOISON, "EHWPOISON", "Memory page has hardware error"},
		{41, "41", "Unknown error 41"},
		{520, "520", "Unknown error 520"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.wantName, ErrnoName(tt.e), "ErrnoName(%d)", uint64(tt.e))
		assert.Equal(t, tt.wantText, Strerror(tt.e), "Strerror(%d)", uint64(tt.e))
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\t\n\v\f\r", `"\t\n\v\f\r"`},
		{"\x00x", `"\0x"`},
		{"\x001", `"\0001"`},
		{"\x1b[0m", `"\33[0m"`},
		{"\xff", `"\377"`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, quote(tt.in), "quote(%q)", tt.in)
	}
}

func TestMapHugeSizes(t *testing.T) {
	tests := []struct {
		flag uint64
		want string
	}{
		{unix.MAP_HUGE_16KB, "MAP_HUGE_16KB"},
		{unix.MAP_HUGE_512KB, "MAP_HUGE_512KB"},
		{unix.MAP_HUGE_1MB, "MAP_HUGE_1MB"},
		{unix.MAP_HUGE_2MB, "MAP_HUGE_2MB"},
		{unix.MAP_HUGE_32MB, "MAP_HUGE_32MB"},
		{unix.MAP_HUGE_512MB, "MAP_HUGE_512MB"},
		{unix.MAP_HUGE_1GB, "MAP_HUGE_1GB"},
		{unix.MAP_HUGE_2GB, "MAP_HUGE_2GB"},
		{unix.MAP_HUGE_16GB, "MAP_HUGE_16GB"},
	}
	for _, tt := range tests {
		got := formatMapFlags(unix.MAP_PRIVATE | unix.MAP_HUGETLB | tt.flag)
		want := "MAP_PRIVATE|MAP_HUGETLB|" + tt.want
		assert.Equal(t, want, got, "flags %#x", tt.flag)
	}
}

func TestFakeMem(t *testing.T) {
	// The helpers the formatter tests rely on.
	m := testMem()
	s, err := m.ReadString(0x1000, 4)
	require.NoError(t, err)
	assert.Equal(t, "/bin", s)
	_, err = m.ReadBytes(0x5000, 64)
	assert.Error(t, err)
}
