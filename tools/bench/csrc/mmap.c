// mmap: N iterations of mmap of 4 anonymous pages, a write to the first,
// and munmap. Prints the elapsed time of the loop alone.
// Usage: mmap [N]
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 100000;
	long len = 4 * sysconf(_SC_PAGESIZE);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		p[0] = (char)i;
		if (munmap(p, len) != 0) {
			perror("munmap");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
