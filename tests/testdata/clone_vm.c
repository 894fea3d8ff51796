// clone_vm starts a child process that shares the address space
// (CLONE_VM without CLONE_THREAD). The child maps memory, fills it and
// publishes the pointer; the parent reads it after the child exits, changes
// its protection and unmaps it.
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

static char *volatile shared_ptr;
static volatile int child_unmapped;

static int child(void *arg) {
	long pg = (long)arg;
	char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	memset(p, 'x', 4 * pg);
	/* Unmap one page so the parent sees two VMAs. */
	if (munmap(p + pg, pg) == 0)
		child_unmapped = 1;
	shared_ptr = p;
	return 0;
}

int main(void) {
	long pg = sysconf(_SC_PAGESIZE);
	char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		perror("mmap stack");
		return 1;
	}
	pid_t pid = clone(child, stack + STACK_SIZE, CLONE_VM | SIGCHLD,
			  (void *)pg);
	if (pid < 0) {
		perror("clone");
		return 1;
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	char *p = shared_ptr;
	if (p == NULL) {
		printf("no pointer from child\n");
		return 1;
	}
	printf("child unmapped: %d\n", child_unmapped);
	printf("parent reads: %c %c\n", p[0], p[3 * pg + 1]);
	if (mprotect(p, pg, PROT_READ) != 0)
		perror("mprotect");
	if (munmap(p, 4 * pg) != 0)
		perror("munmap");
	munmap(stack, STACK_SIZE);
	printf("done\n");
	return 0;
}
