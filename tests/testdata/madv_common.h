// madv_common.h: helpers shared by the madv_*.c programs of the
// differential madvise suite (tests/madvise_test.go).
//
// Every case prints exactly one line, "case-name: ret=R errno=NAME" followed
// by observables. Only stable facts are printed: offsets relative to the
// mapping under test, booleans, byte values, flag sets. Never an address.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// The x86-64 values (the machine's headers may predate some of them).
#define A_NORMAL 0
#define A_RANDOM 1
#define A_SEQUENTIAL 2
#define A_WILLNEED 3
#define A_DONTNEED 4
#define A_FREE 8
#define A_REMOVE 9
#define A_DONTFORK 10
#define A_DOFORK 11
#define A_MERGEABLE 12
#define A_UNMERGEABLE 13
#define A_HUGEPAGE 14
#define A_NOHUGEPAGE 15
#define A_DONTDUMP 16
#define A_DODUMP 17
#define A_WIPEONFORK 18
#define A_KEEPONFORK 19
#define A_COLD 20
#define A_PAGEOUT 21
#define A_POPULATE_READ 22
#define A_POPULATE_WRITE 23
#define A_DONTNEED_LOCKED 24
#define A_COLLAPSE 25
#define A_HWPOISON 100
#define A_SOFT_OFFLINE 101
#define A_GUARD_INSTALL 102
#define A_GUARD_REMOVE 103

#define SYS_process_madvise_ 440
#define SYS_pidfd_open_ 434
#define SYS_mseal_ 462
#define PIDFD_SELF_THREAD_ (-10000)
#define PIDFD_SELF_THREAD_GROUP_ (-10001)

struct advice {
	int value;
	const char *name;
};

// Every advice value, then a few unknown ones.
static const struct advice all_advice[] = {
    {A_NORMAL, "NORMAL"},
    {A_RANDOM, "RANDOM"},
    {A_SEQUENTIAL, "SEQUENTIAL"},
    {A_WILLNEED, "WILLNEED"},
    {A_DONTNEED, "DONTNEED"},
    {A_FREE, "FREE"},
    {A_REMOVE, "REMOVE"},
    {A_DONTFORK, "DONTFORK"},
    {A_DOFORK, "DOFORK"},
    {A_MERGEABLE, "MERGEABLE"},
    {A_UNMERGEABLE, "UNMERGEABLE"},
    {A_HUGEPAGE, "HUGEPAGE"},
    {A_NOHUGEPAGE, "NOHUGEPAGE"},
    {A_DONTDUMP, "DONTDUMP"},
    {A_DODUMP, "DODUMP"},
    {A_WIPEONFORK, "WIPEONFORK"},
    {A_KEEPONFORK, "KEEPONFORK"},
    {A_COLD, "COLD"},
    {A_PAGEOUT, "PAGEOUT"},
    {A_POPULATE_READ, "POPULATE_READ"},
    {A_POPULATE_WRITE, "POPULATE_WRITE"},
    {A_DONTNEED_LOCKED, "DONTNEED_LOCKED"},
    {A_COLLAPSE, "COLLAPSE"},
    {A_HWPOISON, "HWPOISON"},
    {A_SOFT_OFFLINE, "SOFT_OFFLINE"},
    {A_GUARD_INSTALL, "GUARD_INSTALL"},
    {A_GUARD_REMOVE, "GUARD_REMOVE"},
    {26, "unknown26"},
    {99, "unknown99"},
    {104, "unknown104"},
    {-1, "unknown-1"},
};
#define N_ADVICE ((int)(sizeof(all_advice) / sizeof(all_advice[0])))

static long PG;

static __attribute__((unused)) const char *ename(int e) {
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static __attribute__((unused)) void die(const char *what) {
	printf("FATAL %s: %s\n", what, ename(errno));
	fflush(stdout);
	exit(1);
}

// line prints "name: ret=R errno=E" and the formatted observables.
static __attribute__((unused)) void line(const char *name, long ret, int err, const char *fmt, ...) {
	printf("%s: ret=%ld errno=%s", name, ret, ret < 0 ? ename(err) : "0");
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		putchar(' ');
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

// note prints a line that is not a syscall result (a skipped case).
static __attribute__((unused)) void note(const char *name, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	printf("%s: ", name);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static __attribute__((unused)) long madv(void *addr, size_t len, int advice) {
	return syscall(SYS_madvise, addr, len, advice);
}

static __attribute__((unused)) long pmadv(int pidfd, const struct iovec *iov, size_t vlen, int advice, unsigned flags) {
	return syscall(SYS_process_madvise_, pidfd, iov, vlen, advice, flags);
}

static __attribute__((unused)) long mseal_(void *addr, size_t len) {
	return syscall(SYS_mseal_, addr, len, 0UL);
}

// ---- faults: probe a byte, catching SIGSEGV/SIGBUS ----

static sigjmp_buf probe_env;
static volatile int probing;
static volatile int probe_sig, probe_code;
static volatile uintptr_t probe_addr;

static __attribute__((unused)) void probe_handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (!probing) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	probe_sig = sig;
	probe_code = si->si_code;
	probe_addr = (uintptr_t)si->si_addr;
	siglongjmp(probe_env, 1);
}

static __attribute__((unused)) void probe_init(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = probe_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		die("sigaction");
}

// probe reads (or, with write set, writes val to) *p and describes the
// outcome relative to base: "65" (the byte read), "w" (written), or
// "SEGV/1/+4096" (signal, si_code, si_addr - base; "?" when si_addr is not
// p). The text is in buf.
static char probe_buf[8][64];
static int probe_slot;

static __attribute__((unused)) const char *probe(char *base, volatile char *p, int write, char val) {
	char *buf = probe_buf[probe_slot++ % 8];
	probe_sig = 0;
	probing = 1;
	if (sigsetjmp(probe_env, 1) == 0) {
		if (write) {
			*p = val;
			snprintf(buf, 64, "w");
		} else {
			char c = *p;
			snprintf(buf, 64, "%d", (unsigned char)c);
		}
		probing = 0;
		return buf;
	}
	probing = 0;
	if (probe_addr == (uintptr_t)p)
		snprintf(buf, 64, "%s/%d/+%ld", probe_sig == SIGSEGV ? "SEGV" : probe_sig == SIGBUS ? "BUS" : "SIG",
			 probe_code, (long)((char *)p - base));
	else
		snprintf(buf, 64, "%s/%d/?", probe_sig == SIGSEGV ? "SEGV" : probe_sig == SIGBUS ? "BUS" : "SIG",
			 probe_code);
	return buf;
}

// ---- /proc observables ----

// count_vmas returns the number of /proc/self/maps lines overlapping
// [lo, hi).
static __attribute__((unused)) int count_vmas(void *lo_, void *hi_) {
	uintptr_t lo = (uintptr_t)lo_, hi = (uintptr_t)hi_;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("open maps");
	char l[512];
	int n = 0;
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo)
			n++;
	}
	fclose(f);
	return n;
}

// smaps_vma copies the VmFlags line of the VMA holding addr in
// /proc/self/smaps into line (n bytes), and its Rss into *rss_kb (if not
// NULL); it returns 0 when no VMA holds addr.
static __attribute__((unused)) int smaps_vma(uintptr_t addr, char *line, size_t n, long *rss_kb) {
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("open smaps");
	char l[1024];
	int in = 0, found = 0;
	if (rss_kb)
		*rss_kb = -1;
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx ", &s, &e) == 2 && strchr(l, '-') < strchr(l, ' ')) {
			in = s <= addr && addr < e;
			continue;
		}
		if (!in)
			continue;
		if (rss_kb && strncmp(l, "Rss:", 4) == 0)
			*rss_kb = strtol(l + 4, NULL, 10);
		if (strncmp(l, "VmFlags:", 8) == 0) {
			snprintf(line, n, "%s", l);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

// keep_flags writes to o the flags of keep (n of them) that the VmFlags
// line has, in keep's order and joined by ",", or "-" for none.
static __attribute__((unused)) void keep_flags(const char *line, const char *const *keep, size_t n, char *o) {
	o[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char pat[8];
		snprintf(pat, sizeof(pat), " %s", keep[i]);
		const char *hit = strstr(line + 8, pat);
		if (hit && (hit[3] == ' ' || hit[3] == '\n')) {
			if (o[0])
				strcat(o, ",");
			strcat(o, keep[i]);
		}
	}
	if (!o[0])
		strcpy(o, "-");
}

// vmflags returns the VmFlags of the VMA holding addr, keeping only the
// flags madvise can change (and "lo"), in a fixed order; "unmapped" when no
// VMA holds it. rss_kb (if not NULL) receives the VMA's Rss.
static __attribute__((unused)) const char *vmflags_rss(void *addr, long *rss_kb) {
	static char out[8][128];
	static int slot;
	char *o = out[slot++ % 8];
	static const char *const keep[] = {"sr", "rr", "dc", "de", "lo", "dd", "wf", "hg", "nh", "mg", "gu", "io", "pf", "mm", "sl"};
	char l[1024];
	if (!smaps_vma((uintptr_t)addr, l, sizeof(l), rss_kb))
		snprintf(o, 128, "unmapped");
	else
		keep_flags(l, keep, sizeof(keep) / sizeof(keep[0]), o);
	return o;
}

static __attribute__((unused)) const char *vmflags(void *addr) { return vmflags_rss(addr, NULL); }

// pagemap returns the pagemap entry of addr's page.
static __attribute__((unused)) uint64_t pagemap(void *addr) {
	static int fd = -1;
	static pid_t pid;
	if (fd >= 0 && pid != getpid()) {
		// A forked child: the inherited fd reads the parent's pagemap.
		close(fd);
		fd = -1;
	}
	if (fd < 0 && (fd = open("/proc/self/pagemap", O_RDONLY)) < 0)
		die("open pagemap");
	pid = getpid();
	uint64_t e = 0;
	if (pread(fd, &e, 8, ((uintptr_t)addr / PG) * 8) != 8)
		die("read pagemap");
	return e;
}

// pages describes n pages from base, one character each: P present,
// G guard (bits 58+62), S swapped, - none.
static __attribute__((unused)) const char *pages(char *base, int n) {
	static char out[4][80];
	static int slot;
	char *o = out[slot++ % 4];
	for (int i = 0; i < n && i < 79; i++) {
		uint64_t e = pagemap(base + (long)i * PG);
		char c = '-';
		if (e & (1ULL << 63))
			c = 'P';
		else if ((e & (1ULL << 62)) && (e & (1ULL << 58)))
			c = 'G';
		else if (e & (1ULL << 62))
			c = 'S';
		o[i] = c;
		o[i + 1] = 0;
	}
	return o;
}

// best_effort replaces pagemap states in pm[from, to) by '?': PAGEOUT
// reclaims what it can isolate at that moment (a page busy elsewhere stays
// mapped), so which pages it unmapped is not a stable fact.
static __attribute__((unused)) const char *best_effort(const char *pm, int from, int to) {
	static char out[2][80];
	static int slot;
	char *o = out[slot++ % 2];
	snprintf(o, 80, "%s", pm);
	for (int i = from; i < to && o[i]; i++)
		o[i] = '?';
	return o;
}

// ---- mappings ----

// tmpfile_pages creates an unlinked temporary file of n pages filled with
// fill and returns an fd opened with flags (O_RDWR or O_RDONLY).
static __attribute__((unused)) int tmpfile_pages(int n, char fill, int flags) {
	char path[] = "/tmp/madv_test_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	char *buf = malloc(PG);
	memset(buf, fill, PG);
	for (int i = 0; i < n; i++)
		if (write(fd, buf, PG) != PG)
			die("write tmpfile");
	free(buf);
	int ret = fd;
	if (flags != O_RDWR) {
		ret = open(path, flags);
		if (ret < 0)
			die("reopen tmpfile");
		close(fd);
	}
	unlink(path);
	return ret;
}

// reserve returns n pages of address space between two PROT_NONE fence
// pages (so that what is mapped there with MAP_FIXED never merges with an
// unrelated neighbour); release unmaps the n pages and the fences.
static __attribute__((unused)) char *reserve(int n) {
	char *r = mmap(NULL, (n + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		die("mmap reserve");
	return r + PG;
}

static __attribute__((unused)) void release(char *p, int n) { munmap(p - PG, (n + 2) * PG); }

// map_anon maps n fenced anonymous pages.
static __attribute__((unused)) void *map_anon(int n, int prot, int flags) {
	void *p = mmap(reserve(n), n * PG, prot, flags | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		die("mmap anon");
	return p;
}

static __attribute__((unused)) void fill(char *p, int n, char c) { memset(p, c, n * PG); }

// first_bytes describes byte 0 of each of n pages: the byte, or "SEGV/..".
static __attribute__((unused)) const char *first_bytes(char *base, int n) {
	static char out[4][256];
	static int slot;
	char *o = out[slot++ % 4];
	o[0] = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(o, ",");
		strcat(o, probe(base, base + (long)i * PG, 0, 0));
	}
	return o;
}

// find_maps returns the start of the first /proc/self/maps line naming tag
// ("[vdso]") and its length in *len, or NULL.
static __attribute__((unused)) char *find_maps(const char *tag, size_t *len) {
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	char *found = NULL;
	while (f && fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (strstr(l, tag) && sscanf(l, "%lx-%lx", &s, &e) == 2) {
			found = (char *)s;
			*len = e - s;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}
