// pmadv_outside PID: process_madvise on a process that is not this
// program's (outside madvisor's sandbox): the remote advice over its first
// mapping followed by a hole, past it into the hole, a local-only and an
// unknown advice, PAGEOUT on its mlocked pages (--serve), and the empty
// vector. Whole-mapping results print as 1.
// Run as root the access check passes; as another user it fails.
#include "madv_common.h"

// The target maps LOCKED_PAGES mlocked pages at LOCKED_AT (pmadv_outside
// --serve) and waits to be killed.
#define LOCKED_AT ((char *)0x200000000UL)
#define LOCKED_PAGES 4

int main(int argc, char **argv) {
	PG = sysconf(_SC_PAGESIZE);
	if (argc != 2)
		die("usage: pmadv_outside PID | --serve");
	if (strcmp(argv[1], "--serve") == 0) {
		char *p = mmap(LOCKED_AT, LOCKED_PAGES * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != LOCKED_AT || mlock(p, LOCKED_PAGES * PG))
			die("serve");
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	int pid = atoi(argv[1]);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	note("maps", "%s", f ? "readable" : ename(errno));
	// The first mapping followed by a hole (not by the next mapping),
	// other than the locked one.
	unsigned long lo = 0x400000, hi = lo + PG, a, b, prev_lo = 0, prev_hi = 0;
	char l[512];
	while (f && fgets(l, sizeof(l), f)) {
		if (sscanf(l, "%lx-%lx", &a, &b) != 2 || a == (unsigned long)LOCKED_AT)
			continue;
		if (prev_hi && prev_hi != a) {
			lo = prev_lo, hi = prev_hi;
			break;
		}
		prev_lo = a, prev_hi = b;
	}
	if (f)
		fclose(f);
	int pidfd = syscall(SYS_pidfd_open_, pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	struct iovec first = {(void *)lo, hi - lo};
	long r = pmadv(pidfd, &first, 1, A_COLD, 0);
	line("outside/COLD", r == (long)(hi - lo) ? 1 : r, errno, "");
	r = pmadv(pidfd, &first, 1, A_PAGEOUT, 0);
	line("outside/PAGEOUT", r == (long)(hi - lo) ? 1 : r, errno, "");
	struct iovec past = {(void *)lo, hi - lo + PG};
	r = pmadv(pidfd, &past, 1, A_WILLNEED, 0);
	line("outside/WILLNEED_past", r == (long)(hi - lo) ? 1 : r, errno, "");
	r = pmadv(pidfd, &first, 1, A_DONTNEED, 0);
	line("outside/DONTNEED", r, errno, "");
	r = pmadv(pidfd, &first, 1, 12345, 0);
	line("outside/unknown_advice", r, errno, "");
	struct iovec locked = {LOCKED_AT, LOCKED_PAGES * PG};
	r = pmadv(pidfd, &locked, 1, A_PAGEOUT, 0);
	line("outside/PAGEOUT_mlocked", r, errno, "");
	r = pmadv(pidfd, &locked, 1, A_WILLNEED, 0);
	line("outside/WILLNEED_mlocked", r, errno, "");
	r = pmadv(pidfd, NULL, 0, A_COLD, 0);
	line("outside/empty", r, errno, "");
	printf("done\n");
	return 0;
}
