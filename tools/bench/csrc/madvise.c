// madvise: N madvise(MADV_DONTNEED) calls on one page, touching the page
// again after each call (a fresh zero page fault every time). Prints the
// elapsed time of the loop alone. Usage: madvise [N]
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 200000;
	long pg = sysconf(_SC_PAGESIZE);
	volatile char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p[0] = 1;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (madvise((void *)p, pg, MADV_DONTNEED) != 0) {
			perror("madvise");
			return 1;
		}
		if (p[0] != 0) {
			fprintf(stderr, "page not zero after MADV_DONTNEED\n");
			return 1;
		}
		p[0] = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
