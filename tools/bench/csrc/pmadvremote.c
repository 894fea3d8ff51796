// pmadvremote: N process_madvise(MADV_COLD) calls on one page of a child
// process (another mm: under madvisor, the caller's access check and the
// child's model). Usage: pmadvremote [N]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 10000;
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p[0] = 1;
	int go[2];
	if (p == MAP_FAILED || pipe(go)) {
		perror("mmap/pipe");
		return 1;
	}
	pid_t c = fork();
	if (c == 0) {
		char x;
		_exit(read(go[0], &x, 1) == 1 ? 0 : 1);
	}
	int fd = syscall(SYS_pidfd_open, c, 0);
	struct iovec v = {p, pg};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (syscall(SYS_process_madvise, fd, &v, 1, MADV_COLD, 0) != pg) {
			perror("process_madvise");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (write(go[1], "x", 1) != 1 || waitpid(c, NULL, 0) != c)
		return 1;
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("elapsed_ns %lld iterations %ld\n", ns, n);
	return 0;
}
