// guardfault: N touches of a guard page, each delivering SIGSEGV to a
// handler that siglongjmps back (the cost of a guard fault as a program
// sees it; under guard emulation, with the si_code fix-up). Checks that
// every fault is SEGV_MAPERR at the page. Usage: guardfault [N]
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static sigjmp_buf env;
static volatile int code;
static void *volatile addr;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	code = si->si_code;
	addr = si->si_addr;
	siglongjmp(env, 1);
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 20000;
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p + pg, pg, MADV_GUARD_INSTALL) != 0) {
		perror("mmap/MADV_GUARD_INSTALL");
		return 1;
	}
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sa, NULL);
	volatile char *g = p + pg;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (sigsetjmp(env, 1) == 0) {
			(void)*g;
			fprintf(stderr, "no fault on the guard page\n");
			return 1;
		}
		if (code != SEGV_MAPERR || addr != (void *)g) {
			fprintf(stderr, "fault: si_code %d at %p, want SEGV_MAPERR at %p\n", code, addr, (void *)g);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
