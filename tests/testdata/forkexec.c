// forkexec builds a chain of processes: each level forks, the child
// re-executes this program (via /proc/self/exe) with depth-1, and the parent
// waits and reports the child's exit status. The leaf exits with status 7.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int depth = argc > 1 ? atoi(argv[1]) : 4;
	/* Some memory traffic at every level. */
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(p, depth, 1 << 20);
	if (depth == 0) {
		printf("leaf reached\n");
		fflush(stdout);
		return 7;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* The child still sees the parent's data (copy-on-write). */
		if (p[12345] != (char)depth)
			return 99;
		munmap(p, 1 << 20);
		char arg[16];
		snprintf(arg, sizeof(arg), "%d", depth - 1);
		execl("/proc/self/exe", argv[0], arg, (char *)NULL);
		perror("execl");
		_exit(127);
	}
	p[0] = 0; /* break COW in the parent */
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (WIFEXITED(status))
		printf("depth %d: child exited %d\n", depth, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("depth %d: child killed by signal %d\n", depth,
		       WTERMSIG(status));
	munmap(p, 1 << 20);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
