package syscalls

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"madvisor/abi"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// MemReader reads tracee memory for the formatter. A nil MemReader is
// allowed: pointers then print as hex.
type MemReader interface {
	// ReadString reads a NUL-terminated string at addr, at most max bytes
	// (the NUL is not returned).
	ReadString(addr uint64, max int) (string, error)
	// ReadBytes reads exactly n bytes at addr.
	ReadBytes(addr uint64, n int) ([]byte, error)
}

// Limits of the formatter's reads from tracee memory.
const (
	maxStrLen     = 32           // argv strings (strace's -s default)
	maxPathLen    = unix.PathMax // exec paths
	maxVMANameLen = 80           // ANON_VMA_NAME_MAX_LEN, NUL included
	maxArrayElems = 16           // argv, iovec entries shown
	maxEnvCount   = 4096         // envp entries counted
	uioMaxIOV     = 1024         // UIO_MAXIOV: larger vlen is EINVAL
	cloneArgsVer0 = 64           // CLONE_ARGS_SIZE_VER0
	cloneArgsMax  = 11 * 8       // struct clone_args, VER2 (cgroup)
	maxErrno      = 4095         // MAX_ERRNO: -4095..-1 are errors
	ptrBatch      = 32           // pointers read per ReadBytes in arrays
)

// mapHugeField is the MAP_HUGE_* field of mmap's flags: log2 of the huge
// page size, meaningful with MAP_HUGETLB.
const mapHugeField = unix.MAP_HUGE_MASK << unix.MAP_HUGE_SHIFT

// Constants neither golang.org/x/sys/unix nor gvisor's abi/linux has.
const (
	// MAP_UNINITIALIZED is include/uapi/asm-generic/mman-common.h's flag
	// (honoured only on no-MMU kernels; its bit is also part of the
	// MAP_HUGE_* size field, which wins when MAP_HUGETLB is set).
	MAP_UNINITIALIZED = 0x4000000
	// AT_EXECVE_CHECK is execveat's "check only" flag (6.14).
	AT_EXECVE_CHECK = 0x10000
	// UFFDIO_REGISTER_MODE_* are struct uffdio_register's mode bits.
	UFFDIO_REGISTER_MODE_MISSING = 1 << 0
	UFFDIO_REGISTER_MODE_WP      = 1 << 1
	UFFDIO_REGISTER_MODE_MINOR   = 1 << 2
)

// Kernel-internal errnos (include/linux/errno.h). They never reach a
// program except ERESTART*, which a tracer sees at syscall exit when a signal
// interrupts the call; mm returns ERESTARTNOINTR for the guard-install retry.
const (
	ERESTARTSYS           = unix.Errno(512)
	ERESTARTNOINTR        = unix.Errno(513)
	ERESTARTNOHAND        = unix.Errno(514)
	ENOIOCTLCMD           = unix.Errno(515)
	ERESTART_RESTARTBLOCK = unix.Errno(516)
	EPROBE_DEFER          = unix.Errno(517)
	EOPENSTALE            = unix.Errno(518)
	ENOPARAM              = unix.Errno(519)
	EBADHANDLE            = unix.Errno(521)
	ENOTSYNC              = unix.Errno(522)
	EBADCOOKIE            = unix.Errno(523)
	ENOTSUPP              = unix.Errno(524)
	ETOOSMALL             = unix.Errno(525)
	ESERVERFAULT          = unix.Errno(526)
	EBADTYPE              = unix.Errno(527)
	EJUKEBOX              = unix.Errno(528)
	EIOCBQUEUED           = unix.Errno(529)
	ERECALLCONFLICT       = unix.Errno(530)
	ENOGRACE              = unix.Errno(531)
)

var internalErrnos = map[unix.Errno]string{
	ERESTARTSYS: "ERESTARTSYS", ERESTARTNOINTR: "ERESTARTNOINTR",
	ERESTARTNOHAND: "ERESTARTNOHAND", ENOIOCTLCMD: "ENOIOCTLCMD",
	ERESTART_RESTARTBLOCK: "ERESTART_RESTARTBLOCK",
	EPROBE_DEFER:          "EPROBE_DEFER", EOPENSTALE: "EOPENSTALE",
	ENOPARAM: "ENOPARAM", EBADHANDLE: "EBADHANDLE", ENOTSYNC: "ENOTSYNC",
	EBADCOOKIE: "EBADCOOKIE", ENOTSUPP: "ENOTSUPP", ETOOSMALL: "ETOOSMALL",
	ESERVERFAULT: "ESERVERFAULT", EBADTYPE: "EBADTYPE", EJUKEBOX: "EJUKEBOX",
	EIOCBQUEUED: "EIOCBQUEUED", ERECALLCONFLICT: "ERECALLCONFLICT",
	ENOGRACE: "ENOGRACE",
}

// restartText is strace's text for the restart errnos, which it prints as
// "= ? NAME (text)": the program never sees them.
var restartText = map[unix.Errno]string{
	ERESTARTSYS:           "To be restarted if SA_RESTART is set",
	ERESTARTNOINTR:        "To be restarted",
	ERESTARTNOHAND:        "To be restarted if no handler",
	ERESTART_RESTARTBLOCK: "Interrupted by signal",
}

// ErrnoName returns the symbolic name of e as strace prints it: "ENOMEM",
// "EOPNOTSUPP" (for 95, which x/sys calls ENOTSUP), kernel-internal names
// such as "ERESTARTNOINTR", or the decimal number when e has no name.
func ErrnoName(e unix.Errno) string {
	if e == unix.EOPNOTSUPP {
		return "EOPNOTSUPP"
	}
	if n, ok := internalErrnos[e]; ok {
		return n
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return strconv.FormatUint(uint64(e), 10)
}

// Strerror returns e's description in strerror(3) style: "Cannot allocate
// memory", "To be restarted", "Unknown error 524".
func Strerror(e unix.Errno) string {
	if t, ok := restartText[e]; ok {
		return t
	}
	if e == unix.EHWPOISON { // the only Linux errno Go's syscall table lacks
		return "Memory page has hardware error"
	}
	if unix.ErrnoName(e) == "" {
		return fmt.Sprintf("Unknown error %d", uint64(e))
	}
	s := e.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

type flagName struct {
	bit  uint64
	name string
}

// adviceNames covers every advice of shared/reference/madvise-facts.md.
var adviceNames = map[int64]string{
	unix.MADV_NORMAL:          "MADV_NORMAL",
	unix.MADV_RANDOM:          "MADV_RANDOM",
	unix.MADV_SEQUENTIAL:      "MADV_SEQUENTIAL",
	unix.MADV_WILLNEED:        "MADV_WILLNEED",
	unix.MADV_DONTNEED:        "MADV_DONTNEED",
	unix.MADV_FREE:            "MADV_FREE",
	unix.MADV_REMOVE:          "MADV_REMOVE",
	unix.MADV_DONTFORK:        "MADV_DONTFORK",
	unix.MADV_DOFORK:          "MADV_DOFORK",
	unix.MADV_MERGEABLE:       "MADV_MERGEABLE",
	unix.MADV_UNMERGEABLE:     "MADV_UNMERGEABLE",
	unix.MADV_HUGEPAGE:        "MADV_HUGEPAGE",
	unix.MADV_NOHUGEPAGE:      "MADV_NOHUGEPAGE",
	unix.MADV_DONTDUMP:        "MADV_DONTDUMP",
	unix.MADV_DODUMP:          "MADV_DODUMP",
	unix.MADV_WIPEONFORK:      "MADV_WIPEONFORK",
	unix.MADV_KEEPONFORK:      "MADV_KEEPONFORK",
	unix.MADV_COLD:            "MADV_COLD",
	unix.MADV_PAGEOUT:         "MADV_PAGEOUT",
	unix.MADV_POPULATE_READ:   "MADV_POPULATE_READ",
	unix.MADV_POPULATE_WRITE:  "MADV_POPULATE_WRITE",
	unix.MADV_DONTNEED_LOCKED: "MADV_DONTNEED_LOCKED",
	unix.MADV_COLLAPSE:        "MADV_COLLAPSE",
	unix.MADV_HWPOISON:        "MADV_HWPOISON",
	linux.MADV_SOFT_OFFLINE:   "MADV_SOFT_OFFLINE",
	unix.MADV_GUARD_INSTALL:   "MADV_GUARD_INSTALL",
	unix.MADV_GUARD_REMOVE:    "MADV_GUARD_REMOVE",
}

// AdviceName returns the MADV_* name of a madvise advice value.
func AdviceName(adv int64) (string, bool) {
	n, ok := adviceNames[adv]
	return n, ok
}

var protNames = []flagName{
	{unix.PROT_READ, "PROT_READ"},
	{unix.PROT_WRITE, "PROT_WRITE"},
	{unix.PROT_EXEC, "PROT_EXEC"},
	{linux.PROT_SEM, "PROT_SEM"},
	{unix.PROT_GROWSDOWN, "PROT_GROWSDOWN"},
	{unix.PROT_GROWSUP, "PROT_GROWSUP"},
}

// mapTypes are the values of the MAP_TYPE field (mmap's low 4 bits).
var mapTypes = map[uint64]string{
	unix.MAP_SHARED:          "MAP_SHARED",
	unix.MAP_PRIVATE:         "MAP_PRIVATE",
	unix.MAP_SHARED_VALIDATE: "MAP_SHARED_VALIDATE",
	unix.MAP_DROPPABLE:       "MAP_DROPPABLE",
}

// mapNames are the x86-64 mmap flag bits outside MAP_TYPE, in bit order.
var mapNames = []flagName{
	{unix.MAP_FIXED, "MAP_FIXED"},
	{unix.MAP_ANONYMOUS, "MAP_ANONYMOUS"},
	{unix.MAP_32BIT, "MAP_32BIT"},
	{unix.MAP_ABOVE4G, "MAP_ABOVE4G"},
	{unix.MAP_GROWSDOWN, "MAP_GROWSDOWN"},
	{unix.MAP_DENYWRITE, "MAP_DENYWRITE"},
	{unix.MAP_EXECUTABLE, "MAP_EXECUTABLE"},
	{unix.MAP_LOCKED, "MAP_LOCKED"},
	{unix.MAP_NORESERVE, "MAP_NORESERVE"},
	{unix.MAP_POPULATE, "MAP_POPULATE"},
	{unix.MAP_NONBLOCK, "MAP_NONBLOCK"},
	{unix.MAP_STACK, "MAP_STACK"},
	{unix.MAP_HUGETLB, "MAP_HUGETLB"},
	{unix.MAP_SYNC, "MAP_SYNC"},
	{unix.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"},
	{MAP_UNINITIALIZED, "MAP_UNINITIALIZED"},
}

var mremapNames = []flagName{
	{unix.MREMAP_MAYMOVE, "MREMAP_MAYMOVE"},
	{unix.MREMAP_FIXED, "MREMAP_FIXED"},
	{unix.MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"},
}

var mlockNames = []flagName{{unix.MLOCK_ONFAULT, "MLOCK_ONFAULT"}}

var mlockallNames = []flagName{
	{unix.MCL_CURRENT, "MCL_CURRENT"},
	{unix.MCL_FUTURE, "MCL_FUTURE"},
	{unix.MCL_ONFAULT, "MCL_ONFAULT"},
}

var shmNames = []flagName{
	{unix.SHM_RDONLY, "SHM_RDONLY"},
	{unix.SHM_RND, "SHM_RND"},
	{abi.SHM_REMAP, "abi.SHM_REMAP"},
	{abi.SHM_EXEC, "abi.SHM_EXEC"},
}

var atNames = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
	{AT_EXECVE_CHECK, "AT_EXECVE_CHECK"},
}

var uffdModeNames = []flagName{
	{UFFDIO_REGISTER_MODE_MISSING, "UFFDIO_REGISTER_MODE_MISSING"},
	{UFFDIO_REGISTER_MODE_WP, "UFFDIO_REGISTER_MODE_WP"},
	{UFFDIO_REGISTER_MODE_MINOR, "UFFDIO_REGISTER_MODE_MINOR"},
}

// cloneNames are the clone/clone3 flag bits in bit order. CLONE_NEWTIME
// (0x80) lies in clone(2)'s exit-signal byte and is meaningful only to
// clone3; formatCloneFlags masks it out for clone(2).
var cloneNames = []flagName{
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
	{unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"},
	{unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"},
	{unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"},
	{unix.CLONE_DETACHED, "CLONE_DETACHED"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"},
	{unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_IO, "CLONE_IO"},
	{unix.CLONE_CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"},
	{unix.CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"},
	{unix.CLONE_AUTOREAP, "CLONE_AUTOREAP"},
	{unix.CLONE_NNP, "CLONE_NNP"},
	{unix.CLONE_PIDFD_AUTOKILL, "CLONE_PIDFD_AUTOKILL"},
	{unix.CLONE_EMPTY_MNTNS, "CLONE_EMPTY_MNTNS"},
}

// hex prints v as strace's %#lx: "0" or "0x1f".
func hex(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// ptr prints a user pointer: "NULL" or hex.
func ptr(v uint64) string {
	if v == 0 {
		return "NULL"
	}
	return hex(v)
}

func cint(v uint64) string { return strconv.FormatInt(int64(int32(v)), 10) }

// flagParts decodes the known bits of v and returns their names and the
// bits left over.
func flagParts(v uint64, names []flagName) ([]string, uint64) {
	var parts []string
	for _, f := range names {
		if v&f.bit == f.bit {
			parts = append(parts, f.name)
			v &^= f.bit
		}
	}
	return parts, v
}

// joinFlags ends parts with the unknown bits in hex; zero is printed for an
// empty set.
func joinFlags(parts []string, rest uint64, zero string) string {
	if rest != 0 {
		parts = append(parts, hex(rest))
	}
	if len(parts) == 0 {
		return zero
	}
	return strings.Join(parts, "|")
}

func formatFlags(v uint64, names []flagName, zero string) string {
	parts, rest := flagParts(v, names)
	return joinFlags(parts, rest, zero)
}

func formatProt(v uint64) string { return formatFlags(v, protNames, "PROT_NONE") }

func formatMapFlags(v uint64) string {
	var parts []string
	unknown := v & unix.MAP_TYPE
	if name, ok := mapTypes[unknown]; ok {
		parts = append(parts, name)
		unknown = 0
	}
	rest := v &^ unix.MAP_TYPE
	var hugeName string
	if rest&unix.MAP_HUGETLB != 0 && rest&mapHugeField != 0 {
		hugeName = "MAP_HUGE_" + sizeName((rest&mapHugeField)>>unix.MAP_HUGE_SHIFT)
		rest &^= mapHugeField
	}
	names, rest := flagParts(rest, mapNames)
	parts = append(parts, names...)
	if hugeName != "" {
		parts = append(parts, hugeName)
	}
	return joinFlags(parts, rest|unknown, "0")
}

// sizeName prints 1<<shift bytes as MAP_HUGE_* does: 64KB, 2MB, 1GB.
func sizeName(shift uint64) string {
	switch {
	case shift >= 30:
		return fmt.Sprintf("%dGB", uint64(1)<<(shift-30))
	case shift >= 20:
		return fmt.Sprintf("%dMB", uint64(1)<<(shift-20))
	case shift >= 10:
		return fmt.Sprintf("%dKB", uint64(1)<<(shift-10))
	}
	return fmt.Sprintf("%dB", uint64(1)<<shift)
}

// formatCloneFlags prints clone(2)'s flags word: the flag bits of its low
// 32 bits (the kernel ignores the upper half) and the exit signal in the low
// byte, CLONE_VM|CLONE_FS|SIGCHLD.
func formatCloneFlags(v uint64) string {
	v = uint64(uint32(v))
	parts, rest := flagParts(v&^unix.CSIGNAL, cloneNames)
	rest = uint64(uint32(rest))
	if sig := v & unix.CSIGNAL; sig != 0 {
		if rest != 0 {
			parts = append(parts, hex(rest))
			rest = 0
		}
		parts = append(parts, signalName(sig))
	}
	return joinFlags(parts, rest, "0")
}

// signalName prints a signal number as strace does: SIGCHLD, and SIGRTMIN,
// SIGRT_1 ... SIGRT_32 for the real-time range (32-64).
func signalName(sig uint64) string {
	switch {
	case sig == 32:
		return "SIGRTMIN"
	case sig > 32 && sig <= 64:
		return fmt.Sprintf("SIGRT_%d", sig-32)
	case sig < 32:
		if n := unix.SignalName(unix.Signal(sig)); n != "" {
			return n
		}
	}
	return strconv.FormatUint(sig, 10)
}

func formatAdvice(v uint64) string {
	adv := int64(int32(v)) // madvise's behavior is an int
	if n, ok := AdviceName(adv); ok {
		return n
	}
	return strconv.FormatInt(adv, 10)
}

func formatPidfd(v uint64) string {
	switch int32(v) {
	case abi.PIDFD_SELF_THREAD:
		return "abi.PIDFD_SELF_THREAD"
	case abi.PIDFD_SELF_THREAD_GROUP:
		return "abi.PIDFD_SELF_THREAD_GROUP"
	}
	return cint(v)
}

func formatDirFd(v uint64) string {
	if int32(v) == unix.AT_FDCWD {
		return "AT_FDCWD"
	}
	return cint(v)
}

func formatIoctlCmd(v uint64) string {
	switch uint32(v) {
	case abi.UFFDIO_REGISTER:
		return "abi.UFFDIO_REGISTER"
	case abi.UFFDIO_UNREGISTER:
		return "abi.UFFDIO_UNREGISTER"
	case abi.USERFAULTFD_IOC_NEW:
		return "abi.USERFAULTFD_IOC_NEW"
	}
	return hex(uint64(uint32(v)))
}

func formatPrctlOption(v uint64) string {
	if uint32(v) == unix.PR_SET_VMA {
		return "PR_SET_VMA"
	}
	return cint(v)
}

// quote prints s as a C string literal the way strace does: printable ASCII
// as is, the usual backslash escapes, other bytes in octal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\v':
			b.WriteString(`\v`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c >= ' ' && c <= '~' {
				b.WriteByte(c)
				continue
			}
			// Shortest octal escape, unless an octal digit follows.
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				fmt.Fprintf(&b, `\%o`, c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// formatter decodes the arguments of one call.
type formatter struct {
	args [6]uint64
	mem  MemReader
}

func (f *formatter) u64(addr uint64) (uint64, bool) {
	b, err := f.mem.ReadBytes(addr, 8)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// u64s reads n consecutive words at addr.
func (f *formatter) u64s(addr uint64, n int) ([]uint64, bool) {
	b, err := f.mem.ReadBytes(addr, 8*n)
	if err != nil || len(b) != 8*n {
		return nil, false
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return w, true
}

// pointers returns the entries of the NULL-terminated pointer array at addr,
// at most limit of them, and whether the array ends (NULL seen) within limit.
// It reads ptrBatch words at a time, falling back to single words where a
// batch would cross into unreadable memory. ok is false when an entry before
// the end cannot be read.
func (f *formatter) pointers(addr uint64, limit int) (ptrs []uint64, ended, ok bool) {
	for len(ptrs) < limit {
		at := addr + 8*uint64(len(ptrs))
		w, ok := f.u64s(at, min(ptrBatch, limit-len(ptrs)))
		if !ok {
			v, ok1 := f.u64(at)
			if !ok1 {
				return ptrs, false, false
			}
			w = []uint64{v}
		}
		for _, p := range w {
			if p == 0 {
				return ptrs, true, true
			}
			ptrs = append(ptrs, p)
		}
	}
	// Exactly limit entries followed by NULL still counts as ended.
	if p, ok := f.u64(addr + 8*uint64(limit)); ok && p == 0 {
		return ptrs, true, true
	}
	return ptrs, false, true
}

// str prints the string at addr, at most limit bytes ("..." after the
// closing quote when longer); NULL for 0, hex when unreadable.
func (f *formatter) str(addr uint64, limit int) string {
	if addr == 0 {
		return "NULL"
	}
	if f.mem == nil {
		return hex(addr)
	}
	s, err := f.mem.ReadString(addr, limit+1)
	if err != nil {
		return hex(addr)
	}
	if len(s) > limit {
		return quote(s[:limit]) + "..."
	}
	return quote(s)
}

// strArray prints a NULL-terminated char *[]: ["ls", "-l"], ending in ...
// after maxArrayElems entries.
func (f *formatter) strArray(addr uint64) string {
	if addr == 0 || f.mem == nil {
		return ptr(addr)
	}
	ptrs, ended, ok := f.pointers(addr, maxArrayElems)
	if !ok {
		return hex(addr)
	}
	parts := make([]string, 0, len(ptrs)+1)
	for _, p := range ptrs {
		parts = append(parts, f.str(p, maxStrLen))
	}
	if !ended {
		parts = append(parts, "...")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// envArray prints envp as strace does by default: 0x7ffc.. /* 20 vars */.
func (f *formatter) envArray(addr uint64) string {
	if addr == 0 || f.mem == nil {
		return ptr(addr)
	}
	ptrs, ended, ok := f.pointers(addr, maxEnvCount)
	switch {
	case !ok:
		return hex(addr)
	case !ended:
		return fmt.Sprintf("%s /* %d+ vars */", hex(addr), len(ptrs))
	}
	return fmt.Sprintf("%s /* %d vars */", hex(addr), len(ptrs))
}

// iovec prints a struct iovec array of vlen entries:
// [{iov_base=0x7f.., iov_len=4096}].
func (f *formatter) iovec(addr, vlen uint64) string {
	if addr == 0 || f.mem == nil || vlen > uioMaxIOV {
		return ptr(addr)
	}
	n := min(vlen, maxArrayElems)
	w, ok := f.u64s(addr, 2*int(n))
	if !ok {
		return hex(addr)
	}
	parts := make([]string, 0, n+1)
	for i := uint64(0); i < n; i++ {
		parts = append(parts, fmt.Sprintf("{iov_base=%s, iov_len=%d}", ptr(w[2*i]), w[2*i+1]))
	}
	if vlen > n {
		parts = append(parts, "...")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// cloneArgs prints clone3's struct clone_args (include/uapi/linux/sched.h:
// flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
// set_tid, set_tid_size, cgroup; all __aligned_u64).
func (f *formatter) cloneArgs(addr, size uint64) string {
	if addr == 0 || f.mem == nil || size < cloneArgsVer0 {
		return ptr(addr)
	}
	w, ok := f.u64s(addr, int(min(size, cloneArgsMax)/8))
	if !ok {
		return hex(addr)
	}
	flags := w[0]
	parts := []string{"flags=" + formatFlags(flags, cloneNames, "0")}
	if flags&unix.CLONE_PIDFD != 0 {
		parts = append(parts, "pidfd="+ptr(w[1]))
	}
	if flags&(unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID) != 0 {
		parts = append(parts, "child_tid="+ptr(w[2]))
	}
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		parts = append(parts, "parent_tid="+ptr(w[3]))
	}
	parts = append(parts, "exit_signal="+signalOrZero(w[4]))
	if w[5] != 0 || w[6] != 0 {
		parts = append(parts, "stack="+ptr(w[5]), "stack_size="+hex(w[6]))
	}
	if flags&unix.CLONE_SETTLS != 0 {
		parts = append(parts, "tls="+ptr(w[7]))
	}
	if len(w) >= 10 && w[9] != 0 {
		parts = append(parts, "set_tid="+ptr(w[8]), fmt.Sprintf("set_tid_size=%d", w[9]))
	}
	if len(w) >= 11 && flags&unix.CLONE_INTO_CGROUP != 0 {
		parts = append(parts, fmt.Sprintf("cgroup=%d", w[10]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func signalOrZero(sig uint64) string {
	if sig == 0 {
		return "0"
	}
	return signalName(sig)
}

// ioctlArg decodes the userfaultfd structures of the traced requests.
func (f *formatter) ioctlArg(cmd, addr uint64) string {
	if addr == 0 || f.mem == nil {
		return ptr(addr)
	}
	switch uint32(cmd) {
	case abi.UFFDIO_REGISTER: // struct uffdio_register {range{start, len}, mode, ioctls}
		w, ok := f.u64s(addr, 3)
		if !ok {
			return hex(addr)
		}
		return fmt.Sprintf("{range={start=%s, len=%d}, mode=%s}",
			hex(w[0]), w[1], formatFlags(w[2], uffdModeNames, "0"))
	case abi.UFFDIO_UNREGISTER: // struct uffdio_range {start, len}
		w, ok := f.u64s(addr, 2)
		if !ok {
			return hex(addr)
		}
		return fmt.Sprintf("{start=%s, len=%d}", hex(w[0]), w[1])
	}
	return hex(addr)
}

// prctlArg decodes prctl's argument i (1..4) according to the option.
func (f *formatter) prctlArg(i int) string {
	v := f.args[i]
	if uint32(f.args[0]) != unix.PR_SET_VMA {
		return hex(v)
	}
	// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, start, len, name)
	switch i {
	case 1:
		if v == unix.PR_SET_VMA_ANON_NAME {
			return "PR_SET_VMA_ANON_NAME"
		}
		return hex(v)
	case 2:
		return ptr(v)
	case 3:
		return strconv.FormatUint(v, 10)
	case 4:
		if f.args[1] == unix.PR_SET_VMA_ANON_NAME {
			return f.str(v, maxVMANameLen-1)
		}
	}
	return hex(v)
}

// arg prints argument i of kind k.
func (f *formatter) arg(k ArgKind, i int) string {
	v := f.args[i]
	next := uint64(0)
	if i+1 < len(f.args) {
		next = f.args[i+1]
	}
	switch k {
	case Int, Fd, Pid, ShmID:
		return cint(v)
	case Uint, Size:
		return strconv.FormatUint(v, 10)
	case Addr:
		return ptr(v)
	case DirFd:
		return formatDirFd(v)
	case Prot:
		return formatProt(v)
	case MapFlags:
		return formatMapFlags(v)
	case MadvAdvice:
		return formatAdvice(v)
	case MremapFlags:
		return formatFlags(v, mremapNames, "0")
	case MlockFlags:
		return formatFlags(v, mlockNames, "0")
	case MlockallFlags:
		return formatFlags(v, mlockallNames, "0")
	case PrctlOption:
		return formatPrctlOption(v)
	case PrctlArg:
		return f.prctlArg(i)
	case Pidfd:
		return formatPidfd(v)
	case IovecPtr:
		return f.iovec(v, next)
	case ExecPath:
		return f.str(v, maxPathLen)
	case StrArray:
		return f.strArray(v)
	case EnvArray:
		return f.envArray(v)
	case AtFlags:
		return formatFlags(v, atNames, "0")
	case ShmFlags:
		return formatFlags(v, shmNames, "0")
	case CloneFlags:
		return formatCloneFlags(v)
	case CloneArgs:
		return f.cloneArgs(v, next)
	case IoctlCmd:
		return formatIoctlCmd(v)
	case IoctlArg:
		return f.ioctlArg(f.args[i-1], v)
	}
	return hex(v) // Hex, MsealFlags, ProcessMadviseFlags
}

// clone prints clone(2) as strace does, naming the arguments that its flags
// make meaningful (x86-64 order: flags, stack, parent_tid, child_tid, tls).
func (f *formatter) clone() string {
	flags := f.args[0]
	parts := []string{"child_stack=" + ptr(f.args[1]), "flags=" + formatCloneFlags(flags)}
	if flags&(unix.CLONE_PARENT_SETTID|unix.CLONE_PIDFD) != 0 {
		parts = append(parts, "parent_tid="+ptr(f.args[2]))
	}
	if flags&unix.CLONE_SETTLS != 0 {
		parts = append(parts, "tls="+ptr(f.args[4]))
	}
	if flags&(unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID) != 0 {
		parts = append(parts, "child_tidptr="+ptr(f.args[3]))
	}
	return strings.Join(parts, ", ")
}

// FormatCall prints a syscall entry in strace style, e.g.
// "madvise(0x7f1c2a000000, 4096, MADV_DONTNEED)". Syscalls outside the
// table print their six raw arguments in hex. mem may be nil.
func FormatCall(nr uintptr, args [6]uint64, mem MemReader) string {
	name := Name(nr)
	e, ok := Lookup(nr)
	if !ok {
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = hex(a)
		}
		return name + "(" + strings.Join(parts, ", ") + ")"
	}
	f := &formatter{args: args, mem: mem}
	if nr == unix.SYS_CLONE {
		return name + "(" + f.clone() + ")"
	}
	kinds := e.Args
	if nr == unix.SYS_MREMAP && args[3]&unix.MREMAP_FIXED == 0 {
		kinds = kinds[:4] // new_address is read only with MREMAP_FIXED
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = f.arg(k, i)
	}
	return name + "(" + strings.Join(parts, ", ") + ")"
}

// FormatReturn prints a syscall result in strace style: "= 0",
// "= -1 ENOMEM (Cannot allocate memory)", "= 0x7f1c2a000000" for the
// address-returning syscalls, "= ? ERESTARTNOINTR (To be restarted)".
func FormatReturn(nr uintptr, ret uint64) string {
	if r := int64(ret); r < 0 && r >= -maxErrno {
		e := unix.Errno(-r)
		if t, ok := restartText[e]; ok {
			return "= ? " + ErrnoName(e) + " (" + t + ")"
		}
		return "= -1 " + ErrnoName(e) + " (" + Strerror(e) + ")"
	}
	if e, ok := Lookup(nr); ok && e.Ret == RetAddr {
		return "= " + hex(ret)
	}
	return "= " + strconv.FormatInt(int64(ret), 10)
}
