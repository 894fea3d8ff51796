// fork_pipe: a fork tree writing lines to one pipe.
//
// The root forks 3 children and each child forks one grandchild; all 7
// processes write LINES lines each to one pipe, which the root drains. The
// order in which the lines arrive is the schedule's: natively it varies, and
// under `madvisor run --seed=N` it must be the same for the same seed.
//
// Prints "order: WHO:K ..." (root, c1, c1.g, ...) and exits 0.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 3
#define LINES 3

// emit writes one line per write(2): each is below PIPE_BUF, so atomic.
static void emit(int fd, const char *who) {
	char line[32];
	for (int k = 0; k < LINES; k++) {
		int n = snprintf(line, sizeof(line), "%s:%d\n", who, k);
		if (write(fd, line, n) != n)
			_exit(3);
	}
}

int main(void) {
	int p[2];
	if (pipe(p) != 0) {
		perror("pipe");
		return 2;
	}
	for (int c = 1; c <= CHILDREN; c++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			char who[16];
			close(p[0]);
			pid_t g = fork();
			if (g == 0) {
				snprintf(who, sizeof(who), "c%d.g", c);
				emit(p[1], who);
				_exit(0);
			}
			snprintf(who, sizeof(who), "c%d", c);
			emit(p[1], who);
			int st = 0;
			if (g > 0)
				waitpid(g, &st, 0);
			// _exit: nothing of the root's stdio is flushed twice.
			_exit(g > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 4);
		}
	}
	emit(p[1], "root");
	// The root's write end must be closed for read to see EOF once every
	// descendant has exited.
	close(p[1]);

	char data[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(data) - 1 && (n = read(p[0], data + len, sizeof(data) - 1 - len)) > 0)
		len += n;
	data[len] = 0;
	int st, bad = 0;
	while (wait(&st) > 0)
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;

	int lines = 0;
	printf("order:");
	for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n"), lines++)
		printf(" %s", l);
	printf("\n");
	if (bad || lines != (1 + 2 * CHILDREN) * LINES) {
		fprintf(stderr, "fork_pipe: got %d lines, want %d (child failed: %d)\n", lines, (1 + 2 * CHILDREN) * LINES, bad);
		return 2;
	}
	return 0;
}
