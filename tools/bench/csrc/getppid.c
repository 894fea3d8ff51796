// getppid: N getppid() calls (a syscall madvisor does not intercept).
// Prints the elapsed time of the loop alone, so process start-up is
// excluded. Usage: getppid [N]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a, b;
	volatile long sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		sink += getppid();
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return sink == 0 && n > 0; /* never true: keeps the loop */
}
