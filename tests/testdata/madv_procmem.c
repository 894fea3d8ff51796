// madv_procmem.c: /proc/PID/mem and /proc/PID/pagemap opened every way
// the kernel resolves to them (a dirfd, a relative path, an O_PATH fd
// reopened through /proc/self/fd, /proc/self/root, thread-self, the task
// directory, a symlink, redundant slashes and dots, openat2): accesses
// through each must meet the guard page as natively (EIO from mem, bits 62
// and 58 from pagemap), by pread/pwrite and by read/write at the file
// position; maps and smaps opened the same ways show the VMA whole, with
// "gu"; and many pagemap fds open at once each show the guard.
#include "madv_common.h"

#include <linux/openat2.h>
#include <sys/stat.h>

#define NP 3

static char *p;

typedef int (*opener)(const char *file, int flags);

static int o_plain(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", file);
	return open(path, flags);
}

static int o_dotted(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "//proc/./self//%s", file);
	return open(path, flags);
}

static int o_dirfd(const char *file, int flags) {
	int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
	int fd = openat(d, file, flags);
	int e = errno;
	close(d);
	errno = e;
	return fd;
}

static int o_procdirfd(const char *file, int flags) {
	char rel[64];
	snprintf(rel, sizeof(rel), "%d/%s", getpid(), file);
	int d = open("/proc", O_RDONLY | O_DIRECTORY);
	int fd = openat(d, rel, flags);
	int e = errno;
	close(d);
	errno = e;
	return fd;
}

static int o_relative(const char *file, int flags) {
	int cwd = open(".", O_RDONLY | O_DIRECTORY);
	if (chdir("/proc/self"))
		die("chdir");
	int fd = open(file, flags);
	int e = errno;
	if (fchdir(cwd))
		die("fchdir");
	close(cwd);
	errno = e;
	return fd;
}

static int o_opath(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", file);
	int o = open(path, O_PATH);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o);
	int fd = open(path, flags);
	int e = errno;
	close(o);
	errno = e;
	return fd;
}

static int o_reopen(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", file);
	int o = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o);
	int fd = open(path, flags);
	int e = errno;
	close(o);
	errno = e;
	return fd;
}

static int o_root(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/root/proc/self/%s", file);
	return open(path, flags);
}

static int o_threadself(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/thread-self/%s", file);
	return open(path, flags);
}

static int o_task(const char *file, int flags) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", getpid(), gettid(), file);
	return open(path, flags);
}

static int o_symlink(const char *file, int flags) {
	char link[] = "/tmp/madv_procmem_XXXXXX";
	int t = mkstemp(link);
	close(t);
	unlink(link);
	char target[64];
	snprintf(target, sizeof(target), "/proc/self/%s", file);
	if (symlink(target, link))
		die("symlink");
	int fd = open(link, flags);
	int e = errno;
	unlink(link);
	errno = e;
	return fd;
}

static int o_openat2(const char *file, int flags) {
	struct open_how how = {.flags = flags};
	int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
	int fd = syscall(SYS_openat2, d, file, &how, sizeof(how));
	int e = errno;
	close(d);
	errno = e;
	return fd;
}

static const struct {
	const char *name;
	opener open;
} openers[] = {
    {"plain", o_plain},       {"dotted", o_dotted},         {"dirfd", o_dirfd}, {"procdirfd", o_procdirfd},
    {"relative", o_relative}, {"opath", o_opath},           {"reopen", o_reopen}, {"root", o_root},
    {"threadself", o_threadself}, {"task", o_task},         {"symlink", o_symlink}, {"openat2", o_openat2},
};

// fresh moves the program's lowest free fd number past every number a case
// used: a trap on an fd number outlives the fd, so each way of opening
// must be tried on numbers that no earlier file had.
static void fresh(void) {
	for (int i = 0; i < 4; i++)
		if (open("/dev/null", O_RDONLY) < 0)
			die("open /dev/null");
}

// mem_case opens mem one way and accesses the guard page (page 1) and the
// page before it: positional, then at the file position.
static void mem_case(const char *how, opener op) {
	char name[64], buf[100];
	int fd = op("mem", O_RDWR);
	snprintf(name, sizeof(name), "mem/%s/open", how);
	line(name, fd < 0 ? -1 : 0, errno, NULL);
	if (fd < 0)
		return;
	off_t g = (off_t)(uintptr_t)(p + PG);
	long r = pread(fd, buf, 10, g);
	snprintf(name, sizeof(name), "mem/%s/pread", how);
	line(name, r, errno, NULL);
	r = pwrite(fd, "zz", 2, g);
	snprintf(name, sizeof(name), "mem/%s/pwrite", how);
	line(name, r, errno, NULL);
	lseek(fd, g - 10, SEEK_SET);
	r = read(fd, buf, 100);
	snprintf(name, sizeof(name), "mem/%s/read_across", how);
	line(name, r, errno, "moved=%ld", (long)(lseek(fd, 0, SEEK_CUR) - (g - 10)));
	lseek(fd, g, SEEK_SET);
	r = write(fd, "zz", 2);
	snprintf(name, sizeof(name), "mem/%s/write", how);
	line(name, r, errno, "moved=%ld", (long)(lseek(fd, 0, SEEK_CUR) - g));
	struct iovec v = {"zz", 2};
	lseek(fd, g, SEEK_SET);
	r = writev(fd, &v, 1);
	snprintf(name, sizeof(name), "mem/%s/writev", how);
	line(name, r, errno, NULL);
	// A copy of the fd is the same file.
	int d = dup(fd);
	lseek(d, g, SEEK_SET);
	r = write(d, "zz", 2);
	snprintf(name, sizeof(name), "mem/%s/write_dup", how);
	line(name, r, errno, NULL);
	close(d);
	close(fd);
}

// pagemap_case reads the entries of the three pages at the file position.
static void pagemap_case(const char *how, opener op) {
	char name[64];
	int fd = op("pagemap", O_RDONLY);
	snprintf(name, sizeof(name), "pagemap/%s/open", how);
	line(name, fd < 0 ? -1 : 0, errno, NULL);
	if (fd < 0)
		return;
	uint64_t e[NP] = {0};
	lseek(fd, (off_t)((uintptr_t)p / PG * 8), SEEK_SET);
	long r = read(fd, e, sizeof(e));
	char bits[NP * 3 + 1] = "";
	for (int i = 0, n = 0; i < NP; i++)
		n += snprintf(bits + n, sizeof(bits) - n, "%s%d%d", i ? "," : "", (int)(e[i] >> 62 & 1),
			      (int)(e[i] >> 58 & 1));
	snprintf(name, sizeof(name), "pagemap/%s/read", how);
	line(name, r, errno, "swap_guard=%s", bits);
	close(fd);
}

// maps_case opens maps or smaps one way and counts the VMAs over the three
// pages (the guard page does not split the VMA) and, in smaps, whether the
// VMA shows "gu".
static void maps_case(const char *how, opener op, const char *file) {
	char name[64];
	int fd = op(file, O_RDONLY);
	snprintf(name, sizeof(name), "%s/%s/open", file, how);
	line(name, fd < 0 ? -1 : 0, errno, NULL);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "r");
	char l[1024];
	int vmas = 0, gu = 0, in = 0;
	uintptr_t lo = (uintptr_t)p, hi = (uintptr_t)(p + NP * PG);
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx ", &s, &e) == 2 && strchr(l, '-') < strchr(l, ' ')) {
			in = s < hi && e > lo;
			vmas += in;
			continue;
		}
		if (in && strncmp(l, "VmFlags:", 8) == 0 && strstr(l, " gu"))
			gu = 1;
	}
	fclose(f);
	snprintf(name, sizeof(name), "%s/%s/read", file, how);
	line(name, 0, 0, "vmas=%d gu=%d", vmas, gu);
}

// many_pagemaps holds n pagemap fds open at once (each a new fd number)
// and reads the guard page's entry through every one.
static void many_pagemaps(int n) {
	int *fds = calloc(n, sizeof(int));
	int opened = 0, guards = 0, err = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = open("/proc/self/pagemap", O_RDONLY);
		if (fds[i] < 0) {
			err = errno;
			break;
		}
		opened++;
		uint64_t e = 0;
		lseek(fds[i], (off_t)((uintptr_t)(p + PG) / PG * 8), SEEK_SET);
		if (read(fds[i], &e, 8) == 8 && (e >> 58 & 1) && (e >> 62 & 1))
			guards++;
	}
	char name[64];
	snprintf(name, sizeof(name), "pagemap/many%d", n);
	line(name, err ? -1 : 0, err, "opened=%d guards=%d", opened, guards);
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'a');
	long r = madv(p + PG, PG, A_GUARD_INSTALL);
	line("guard_install", r, errno, NULL);
	for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++) {
		fresh();
		mem_case(openers[i].name, openers[i].open);
		fresh();
		pagemap_case(openers[i].name, openers[i].open);
		maps_case(openers[i].name, openers[i].open, "maps");
		maps_case(openers[i].name, openers[i].open, "smaps");
	}
	// Nothing was written through a guard: removing it leaves a zero page.
	r = madv(p + PG, PG, A_GUARD_REMOVE);
	line("guard_remove", r, errno, "bytes=%s", first_bytes(p, NP));
	r = madv(p + PG, PG, A_GUARD_INSTALL);
	many_pagemaps(600);
	printf("done\n");
	return 0;
}
