// lock_protocol: every advice over the layouts of issue 3's protocol check
// (one VMA, several VMAs, a range with a gap, a userfaultfd-armed VMA, an
// anonymous VMA without an anon_vma, a file, another process's mm). Run
// under `madvisor run --lockdep=panic --strace=FILE`, each madvise and
// process_madvise line of the trace carries the locks the sentry's model
// took; the test checks them against the spec's lock table. Each case
// prints "NAME call=madvise|process_madvise start=HEX len=N" and then does
// exactly one such call, so the test can find its trace line.
#include "madv_common.h"
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#define NP 4

static void one(const char *layout, const char *adv, int advice, char *start, size_t len) {
	printf("%s/%s call=madvise start=%lx len=%zu\n", layout, adv, (unsigned long)start, len);
	fflush(stdout);
	madv(start, len, advice);
}

// fresh returns a new layout of NP anonymous read-write pages, touched so
// that the host and the model both know its anon_vma (a first
// GUARD_INSTALL prepares it in the model).
static char *fresh(void) {
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p, PG, A_GUARD_INSTALL);
	madv(p, PG, A_GUARD_REMOVE);
	return p;
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	// Where MEMORY_FAILURE is built in, HWPOISON and SOFT_OFFLINE as root
	// would poison real pages: leave them out there.
	int memory_failure = access("/proc/sys/vm/memory_failure_early_kill", F_OK) == 0;
	for (int a = 0; a < N_ADVICE; a++) {
		const struct advice *ad = &all_advice[a];
		if (memory_failure && (ad->value == A_HWPOISON || ad->value == A_SOFT_OFFLINE))
			continue;
		char *p = fresh();
		one("one_vma", ad->name, ad->value, p + PG, PG);
		release(p, NP);

		// Two VMAs: the second page is read-only.
		p = fresh();
		mprotect(p + 2 * PG, 2 * PG, PROT_READ);
		one("two_vmas", ad->name, ad->value, p + PG, 2 * PG);
		release(p, NP);

		p = fresh();
		munmap(p + PG, PG);
		one("gap", ad->name, ad->value, p, 3 * PG);
		release(p, NP);

		// An anonymous VMA never touched: no anon_vma.
		p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		one("no_anon_vma", ad->name, ad->value, p + PG, PG);
		release(p, NP);

		// A shared mapping of a regular file opened read-write.
		int fd = tmpfile_pages(NP, 'F', O_RDWR);
		p = reserve(NP);
		if (mmap(p, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
			die("mmap file");
		close(fd);
		one("file", ad->name, ad->value, p + PG, PG);
		release(p, NP);
	}

	// A userfaultfd-armed VMA (needs userfaultfd: root, or
	// vm.unprivileged_userfaultfd).
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API};
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		printf("uffd: unavailable\n");
	} else {
		for (int a = 0; a < N_ADVICE; a++) {
			char *p = fresh();
			struct uffdio_register reg = {.range = {(unsigned long)p, NP * PG}, .mode = UFFDIO_REGISTER_MODE_MISSING};
			if (ioctl(uffd, UFFDIO_REGISTER, &reg))
				die("UFFDIO_REGISTER");
			// Only advice that cannot fault: a fault would block on the
			// unserved userfaultfd.
			int v = all_advice[a].value;
			int faults = v == A_POPULATE_READ || v == A_POPULATE_WRITE || v == A_COLLAPSE || v == A_WILLNEED;
			int poisons = memory_failure && (v == A_HWPOISON || v == A_SOFT_OFFLINE);
			if (!faults && !poisons)
				one("uffd", all_advice[a].name, v, p + PG, PG);
			struct uffdio_range r = {(unsigned long)p, NP * PG};
			ioctl(uffd, UFFDIO_UNREGISTER, &r);
			release(p, NP);
		}
		close(uffd);
	}

	// Another process's mm: process_madvise on a forked child.
	char *p = fresh();
	int go[2];
	if (pipe(go))
		die("pipe");
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(go[1]);
		_exit(read(go[0], &c, 1) < 0);
	}
	close(go[0]);
	int cfd = syscall(SYS_pidfd_open_, child, 0);
	for (int a = 0; a < N_ADVICE; a++) {
		struct iovec iov = {p + PG, PG};
		printf("remote/%s call=process_madvise start=%lx len=%ld\n", all_advice[a].name, (unsigned long)(p + PG), PG);
		fflush(stdout);
		pmadv(cfd, &iov, 1, all_advice[a].value, 0);
	}
	if (write(go[1], "x", 1) != 1)
		die("write");
	waitpid(child, NULL, 0);
	printf("done\n");
	return 0;
}
