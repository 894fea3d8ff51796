// spawn starts children through posix_spawn (clone with CLONE_VM|CLONE_VFORK
// in glibc) and through vfork+exec, and reports their exit statuses.
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int report(const char *how, pid_t pid) {
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (WIFEXITED(status))
		printf("%s: exited %d\n", how, WEXITSTATUS(status));
	else
		printf("%s: signal %d\n", how, WTERMSIG(status));
	fflush(stdout);
	return 0;
}

int main(void) {
	for (int i = 0; i < 3; i++) {
		pid_t pid;
		char code[8];
		snprintf(code, sizeof(code), "exit %d", i + 2);
		char *argv[] = {"sh", "-c", code, NULL};
		int err = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
		if (err != 0) {
			fprintf(stderr, "posix_spawn: error %d\n", err);
			return 1;
		}
		if (report("posix_spawn", pid))
			return 1;
	}

	char *argv[] = {"echo", "from posix_spawnp", NULL};
	pid_t pid;
	fflush(stdout);
	if (posix_spawnp(&pid, "echo", NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, "posix_spawnp failed\n");
		return 1;
	}
	if (report("posix_spawnp", pid))
		return 1;

	fflush(stdout);
	pid = vfork();
	if (pid < 0) {
		perror("vfork");
		return 1;
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "echo from vfork; exit 5", (char *)NULL);
		_exit(127);
	}
	if (report("vfork", pid))
		return 1;
	return 0;
}
