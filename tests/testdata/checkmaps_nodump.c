// checkmaps_nodump.c: a program that makes itself non-dumpable
// (PR_SET_DUMPABLE 0), then maps and unmaps, and forks a child (which
// inherits non-dumpability from birth) that does the same. Prints its
// own and the child's pid on stderr as "pids P C", for the test to match
// madvisor's messages.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void churn(void) {
	void *q = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(q, 4096, PROT_READ | PROT_WRITE);
	munmap(q, 4096);
}

int main(void) {
	if (prctl(PR_SET_DUMPABLE, 0))
		perror("prctl");
	churn();
	pid_t c = fork();
	if (c == 0) {
		churn();
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	churn();
	fprintf(stderr, "pids %d %d\n", getpid(), c);
	printf("dumpable=%d child=%d\n", prctl(PR_GET_DUMPABLE), WEXITSTATUS(st));
	return 0;
}
