// segv_catch faults on an unmapped page and on a PROT_NONE page, catches
// SIGSEGV with an SA_SIGINFO handler and prints si_code and whether si_addr
// is the faulting address.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile void *fault_addr;
static volatile int fault_code;
static volatile int fault_signo;

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	fault_signo = sig;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(env, 1);
}

static const char *code_name(int code) {
	switch (code) {
	case SEGV_MAPERR:
		return "SEGV_MAPERR";
	case SEGV_ACCERR:
		return "SEGV_ACCERR";
	default:
		return "other";
	}
}

static void probe(const char *what, volatile char *addr, int write) {
	fault_code = 0;
	fault_addr = NULL;
	fault_signo = 0;
	if (sigsetjmp(env, 1) == 0) {
		if (write)
			*addr = 1;
		else
			(void)*addr;
		printf("%s: no fault\n", what);
		return;
	}
	printf("%s: signal=%d si_code=%d (%s) si_addr_matches=%s\n", what,
	       fault_signo, fault_code, code_name(fault_code),
	       fault_addr == (void *)addr ? "yes" : "no");
}

int main(void) {
	long pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0) {
		perror("sigaction");
		return 1;
	}

	char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* Unmap the middle page: a hole. */
	if (munmap(p + pg, pg) != 0) {
		perror("munmap");
		return 1;
	}
	probe("unmapped read", p + pg + 17, 0);
	probe("unmapped write", p + pg + 100, 1);

	/* Make the last page inaccessible. */
	if (mprotect(p + 2 * pg, pg, PROT_NONE) != 0) {
		perror("mprotect");
		return 1;
	}
	probe("prot_none read", p + 2 * pg + 5, 0);
	probe("prot_none write", p + 2 * pg + 9, 1);

	/* Read-only page written. */
	if (mprotect(p, pg, PROT_READ) != 0) {
		perror("mprotect");
		return 1;
	}
	probe("read-only read", p + 3, 0);
	probe("read-only write", p + 3, 1);

	/* Again after restoring access: no fault. */
	if (mprotect(p + 2 * pg, pg, PROT_READ | PROT_WRITE) != 0) {
		perror("mprotect");
		return 1;
	}
	probe("restored write", p + 2 * pg + 9, 1);
	printf("done\n");
	return 0;
}
