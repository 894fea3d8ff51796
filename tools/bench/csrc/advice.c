// advice: N madvise(ADVICE) calls over one range, timed call by call.
//
// Usage: advice [-w] [-r RESET] ADVICE PAGES N
//
//   ADVICE  an advice name without MADV_ (DONTNEED, GUARD_INSTALL, ...)
//   PAGES   the range: PAGES pages in one VMA; with -w, PAGES one-page VMAs
//           that cannot merge (alternately read-write and read-only)
//   N       iterations
//   -r      override the advice's reset step (none, touch, opposite, zap,
//           zaptouch; see below)
//
// The range is isolated (unmapped pages on both sides, so no flag change can
// merge it with a neighbour) and 2 MiB aligned. Before every timed call an
// untimed reset step puts the range back in the state the call changes, so
// that each call does its work every time:
//
//   none      nothing: the whole loop is timed at once
//   touch     write one byte per writable page (refault what the call dropped,
//             re-dirty, mark young)
//   opposite  madvise with the opposite advice (flag and guard advice: the
//             timed call always changes the VMA's flags / installs or removes
//             guards, never finds them already set)
//   zap       MADV_DONTNEED (POPULATE_*: every call populates an empty range)
//   zaptouch  MADV_DONTNEED, then touch (COLLAPSE: every call collapses small
//             pages into huge pages; a 1-page range holds no aligned 2 MiB
//             block, so there COLLAPSE returns 0 without work)
//
// With a reset step, only the madvise calls are timed (clock_gettime around
// each, about 20-40 ns per pair through the vDSO), and the reset calls are
// not. Mappings: private anonymous, populated (most advice); a shared memfd,
// populated (REMOVE, which needs a shared file); a shared mapping of a
// regular file under $TMPDIR (or /tmp), in the page cache (WILLNEED, which
// reads ahead on files); private anonymous, mlocked (DONTNEED_LOCKED).
// HWPOISON and SOFT_OFFLINE poison or offline real pages with CAP_SYS_ADMIN:
// the program drops CAP_SYS_ADMIN first (and refuses to run if it cannot),
// so they time the EPERM path (EINVAL where the kernel lacks
// CONFIG_MEMORY_FAILURE).
//
// Prints "elapsed_ns T iterations N" (T: the timed calls only), "setup
// MAPPING; reset RESET" and "result K ok[, K ERRNO...][; reset ...]": the
// outcomes of the timed calls (and of the reset calls), which must be the
// same natively and under madvisor.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum mapping { ANON, MEMFD, FILEMAP, LOCKED };
enum reset { NONE, TOUCH, OPPOSITE, ZAP, ZAPTOUCH };
static const char *reset_names[] = {"none", "touch", "opposite", "zap", "zaptouch"};

struct advice {
	const char *name;
	int advice;
	enum mapping mapping;
	enum reset reset;
	int opposite; /* for OPPOSITE; -1: none */
	int drop_sys_admin;
};

static const struct advice advices[] = {
	{"NORMAL", 0, ANON, OPPOSITE, 1, 0},
	{"RANDOM", 1, ANON, OPPOSITE, 0, 0},
	{"SEQUENTIAL", 2, ANON, OPPOSITE, 0, 0},
	{"WILLNEED", 3, FILEMAP, NONE, -1, 0},
	{"DONTNEED", 4, ANON, TOUCH, -1, 0},
	{"FREE", 8, ANON, TOUCH, -1, 0},
	{"REMOVE", 9, MEMFD, TOUCH, -1, 0},
	{"DONTFORK", 10, ANON, OPPOSITE, 11, 0},
	{"DOFORK", 11, ANON, OPPOSITE, 10, 0},
	{"MERGEABLE", 12, ANON, OPPOSITE, 13, 0},
	{"UNMERGEABLE", 13, ANON, OPPOSITE, 12, 0},
	{"HUGEPAGE", 14, ANON, OPPOSITE, 15, 0},
	{"NOHUGEPAGE", 15, ANON, OPPOSITE, 14, 0},
	{"DONTDUMP", 16, ANON, OPPOSITE, 17, 0},
	{"DODUMP", 17, ANON, OPPOSITE, 16, 0},
	{"WIPEONFORK", 18, ANON, OPPOSITE, 19, 0},
	{"KEEPONFORK", 19, ANON, OPPOSITE, 18, 0},
	{"COLD", 20, ANON, TOUCH, -1, 0},
	{"PAGEOUT", 21, ANON, TOUCH, -1, 0},
	{"POPULATE_READ", 22, ANON, ZAP, -1, 0},
	{"POPULATE_WRITE", 23, ANON, ZAP, -1, 0},
	{"DONTNEED_LOCKED", 24, LOCKED, TOUCH, -1, 0},
	{"COLLAPSE", 25, ANON, ZAPTOUCH, -1, 0},
	{"HWPOISON", 100, ANON, NONE, -1, 1},
	{"SOFT_OFFLINE", 101, ANON, NONE, -1, 1},
	{"GUARD_INSTALL", 102, ANON, OPPOSITE, 103, 0},
	{"GUARD_REMOVE", 103, ANON, OPPOSITE, 102, 0},
};

static long pg;
static char *base;
static size_t len;
static int walk;

/* outcomes counts a call's results: ok and up to 8 distinct errnos. */
struct outcomes {
	long ok;
	int err[8];
	long nerr[8];
};

static void record(struct outcomes *o, int ret) {
	if (ret == 0) {
		o->ok++;
		return;
	}
	for (int i = 0; i < 8; i++) {
		if (o->nerr[i] == 0 || o->err[i] == errno) {
			o->err[i] = errno;
			o->nerr[i]++;
			return;
		}
	}
}

static void print_outcomes(const struct outcomes *o) {
	const char *sep = "";
	if (o->ok > 0 || o->nerr[0] == 0) {
		printf("%ld ok", o->ok);
		sep = ", ";
	}
	for (int i = 0; i < 8 && o->nerr[i] > 0; i++) {
		const char *name = strerrorname_np(o->err[i]);
		printf("%s%ld %s", sep, o->nerr[i], name ? name : "?");
		sep = ", ";
	}
}

static void die(const char *what) {
	perror(what);
	exit(1);
}

/* reserve maps len bytes (plus room) of private anonymous memory and keeps
 * a 2 MiB aligned range with at least one unmapped page on either side. */
static char *reserve(size_t len) {
	const size_t huge = 2UL << 20;
	size_t total = len + huge + 2 * pg;
	char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	char *start = (char *)(((unsigned long)p + pg + huge - 1) & ~(huge - 1));
	if (start > p && munmap(p, start - p) != 0)
		die("munmap");
	if (munmap(start + len, p + total - (start + len)) != 0)
		die("munmap");
	return start;
}

static int tmpfile_fd(size_t len) {
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/madvisor-bench-advice-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	if (ftruncate(fd, len) != 0)
		die("ftruncate");
	return fd;
}

/* touch writes one byte in each writable page (with -w: every other page). */
static void touch(void) {
	size_t step = walk ? 2 * pg : pg;
	for (size_t off = 0; off < len; off += step)
		((volatile char *)base)[off] = 1;
}

static void drop_sys_admin(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		die("capget");
	int w = CAP_SYS_ADMIN / 32;
	unsigned bit = 1u << (CAP_SYS_ADMIN % 32);
	d[w].effective &= ~bit;
	d[w].permitted &= ~bit;
	d[w].inheritable &= ~bit;
	if (syscall(SYS_capset, &h, d) != 0)
		die("capset");
	if (syscall(SYS_capget, &h, d) != 0)
		die("capget");
	if ((d[w].effective | d[w].permitted) & bit) {
		fprintf(stderr, "advice: could not drop CAP_SYS_ADMIN; refusing to poison pages\n");
		exit(1);
	}
}

static const char *opposite_name(const struct advice *a) {
	for (size_t i = 0; i < sizeof advices / sizeof advices[0]; i++)
		if (advices[i].advice == a->opposite)
			return advices[i].name;
	return "?";
}

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void usage(void) {
	fprintf(stderr, "usage: advice [-w] [-r none|touch|opposite|zap|zaptouch] ADVICE PAGES N\nADVICE:");
	for (size_t i = 0; i < sizeof advices / sizeof advices[0]; i++)
		fprintf(stderr, " %s", advices[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv) {
	int opt;
	const char *reset_arg = NULL;
	while ((opt = getopt(argc, argv, "wr:")) != -1) {
		switch (opt) {
		case 'w':
			walk = 1;
			break;
		case 'r':
			reset_arg = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	const struct advice *a = NULL;
	for (size_t i = 0; i < sizeof advices / sizeof advices[0]; i++)
		if (strcmp(argv[optind], advices[i].name) == 0)
			a = &advices[i];
	if (a == NULL)
		usage();
	long pages = atol(argv[optind + 1]);
	long n = atol(argv[optind + 2]);
	if (pages < 1 || n < 1)
		usage();
	enum reset reset = a->reset;
	if (reset_arg != NULL) {
		int found = 0;
		for (int i = 0; i <= ZAPTOUCH; i++)
			if (strcmp(reset_arg, reset_names[i]) == 0) {
				reset = i;
				found = 1;
			}
		if (!found)
			usage();
	}
	if (reset == OPPOSITE && a->opposite < 0) {
		fprintf(stderr, "advice: %s has no opposite\n", a->name);
		exit(2);
	}

	pg = sysconf(_SC_PAGESIZE);
	len = pages * pg;
	base = reserve(len);
	if (a->mapping == MEMFD || a->mapping == FILEMAP) {
		int fd = a->mapping == MEMFD ? memfd_create("advice", 0) : tmpfile_fd(len);
		if (fd < 0)
			die("memfd_create");
		if (ftruncate(fd, len) != 0)
			die("ftruncate");
		if (mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
			die("mmap");
		close(fd);
	}
	if (walk)
		for (long i = 1; i < pages; i += 2)
			if (mprotect(base + i * pg, pg, PROT_READ) != 0)
				die("mprotect");
	if (a->mapping == LOCKED && mlock(base, len) != 0)
		die("mlock");
	touch();
	if (a->drop_sys_admin)
		drop_sys_admin();

	struct outcomes res = {0}, rres = {0};
	long long elapsed = 0;
	if (reset == NONE) {
		long long t0 = now_ns();
		for (long i = 0; i < n; i++)
			record(&res, madvise(base, len, a->advice));
		elapsed = now_ns() - t0;
	} else {
		for (long i = 0; i < n; i++) {
			switch (reset) {
			case TOUCH:
				touch();
				break;
			case OPPOSITE:
				record(&rres, madvise(base, len, a->opposite));
				break;
			case ZAP:
				record(&rres, madvise(base, len, MADV_DONTNEED));
				break;
			case ZAPTOUCH:
				record(&rres, madvise(base, len, MADV_DONTNEED));
				touch();
				break;
			case NONE:
				break;
			}
			long long t0 = now_ns();
			int ret = madvise(base, len, a->advice);
			elapsed += now_ns() - t0;
			record(&res, ret);
		}
	}
	static const char *mapping_names[] = {"private anon", "shared memfd", "shared file", "private anon, mlocked"};
	printf("elapsed_ns %lld iterations %ld\n", elapsed, n);
	printf("setup %s", mapping_names[a->mapping]);
	if (walk)
		printf(", %ld one-page VMAs, rw r rw r ...", pages);
	printf("; reset %s", reset_names[reset]);
	if (reset == OPPOSITE)
		printf(" (%s)", opposite_name(a));
	printf("\n");
	printf("result ");
	print_outcomes(&res);
	if (reset == OPPOSITE || reset == ZAP || reset == ZAPTOUCH) {
		printf("; reset ");
		print_outcomes(&rres);
	}
	printf("\n");
	return 0;
}
