// pagemapread: N read(2) calls of one /proc/self/pagemap entry at the file
// position (under guard emulation each is trapped by the per-fd filter and
// answered by the sentry). Usage: pagemapread [N]
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 20000;
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (p == MAP_FAILED || fd < 0) {
		perror("mmap/open");
		return 1;
	}
	p[0] = 1;
	off_t off = (off_t)((uintptr_t)p / pg * 8);
	uint64_t e;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (lseek(fd, off, SEEK_SET) != off || read(fd, &e, 8) != 8 || !(e >> 63)) {
			perror("pagemap");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
