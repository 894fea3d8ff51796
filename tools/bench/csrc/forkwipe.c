// forkwipe: N fork + _exit + waitpid with a 16-page WIPEONFORK VMA that the
// child checks is zero (under --emulate=wipeonfork, the child's fix-up at
// its first stop). Usage: forkwipe [N]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, 16 * pg, MADV_WIPEONFORK) != 0) {
		perror("mmap/MADV_WIPEONFORK");
		return 1;
	}
	memset(p, 'A', 16 * pg);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(p[0] == 0 && p[15 * pg] == 0 ? 0 : 1);
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "the child saw the parent's wipe-on-fork memory\n");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
