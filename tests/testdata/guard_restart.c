// guard_restart: MADV_GUARD_INSTALL's restart paths (issue 4, "Restart
// semantics"). Run under `madvisor run --lose-guard-races=N` the installs
// lose races on demand: madvise restarts its syscall transparently
// (-ERESTARTNOINTR), process_madvise retries the same iovec in place. The
// program must see exactly what it sees natively, where no race is lost:
// every call succeeds and every page of the range becomes a guard.
#include "madv_common.h"

static void report(const char *name, long r, int e, char *p, int n) {
	char states[64] = "";
	for (int i = 0; i < n; i++)
		strcat(states, strncmp(probe(p, p + i * PG, 0, 0), "SEGV/1/", 7) == 0 ? "G" : "-");
	line(name, r, e, "pages=%s", states);
}

static char *p;

static void with_madvise(void) {
	long r;
	// All 8 pages: restarted (not failed) when it loses.
	r = madv(p, 8 * PG, A_GUARD_INSTALL);
	report("madvise/install", r, errno, p, 8);
	r = madv(p, 8 * PG, A_GUARD_REMOVE);
	report("madvise/remove", r, errno, p, 8);
	// Contents: the install discarded them (anonymous: zero on touch).
	line("madvise/contents_after", 0, 0, "p0=%d p7=%d", p[0], p[7 * PG]);
}

static void with_process_madvise(void) {
	long r;
	// Two iovecs; one that loses its races is retried in place; the
	// byte count is both iovecs.
	struct iovec iov[2] = {{p, 2 * PG}, {p + 3 * PG, PG}};
	r = pmadv(PIDFD_SELF_THREAD_GROUP_, iov, 2, A_GUARD_INSTALL, 0);
	report("process_madvise/install", r, errno, p, 8);
	r = pmadv(PIDFD_SELF_THREAD_GROUP_, iov, 2, A_GUARD_REMOVE, 0);
	report("process_madvise/remove", r, errno, p, 8);
}

// With argument "pmadv-first" process_madvise runs first: the races lost
// are counted over the whole run, so what runs first loses them.
int main(int argc, char **argv) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 'A', 8 * PG);
	if (argc > 1 && strcmp(argv[1], "pmadv-first") == 0) {
		with_process_madvise();
		with_madvise();
	} else {
		with_madvise();
		with_process_madvise();
	}
	printf("done\n");
	return 0;
}
