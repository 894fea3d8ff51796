// procmem_limit.c: opens up to 3,000 /proc/self/pagemap (or, with an
// argument, /proc/self/mem) fds at once, each a new fd number, and reads
// a guard page through every one: natively all open and all show the
// guard. Under guard emulation each fd number needs a seccomp filter of
// its own, and a thread's filters have a bounded size: an fd the sentry
// cannot trap must be refused (EMFILE), never let through unwatched.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int mem = argc > 1;
	struct rlimit rl = {4096, 4096};
	if (setrlimit(RLIMIT_NOFILE, &rl))
		perror("setrlimit");
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p + pg, pg, 102 /* MADV_GUARD_INSTALL */)) {
		perror("guard");
		return 1;
	}
	int opened = 0, guards = 0, err = 0, last = -1;
	for (int i = 0; i < 3000; i++) {
		int fd = open(mem ? "/proc/self/mem" : "/proc/self/pagemap", O_RDONLY);
		if (fd < 0) {
			err = errno;
			break;
		}
		last = fd;
		opened++;
		if (mem) {
			char b[4];
			lseek(fd, (off_t)(uintptr_t)(p + pg), SEEK_SET);
			guards += read(fd, b, sizeof(b)) < 0 && errno == EIO;
			continue;
		}
		uint64_t e = 0;
		lseek(fd, (off_t)((uintptr_t)(p + pg) / pg * 8), SEEK_SET);
		guards += read(fd, &e, 8) == 8 && (e >> 58 & 1) && (e >> 62 & 1);
	}
	// A copy of a traced fd at a new number is refused the same way.
	int d = dup(last);
	int derr = errno;
	printf("opened=%d guards=%d err=%s dup=%s\n", opened, guards, err ? strerrorname_np(err) : "0",
	       d >= 0 ? "ok" : strerrorname_np(derr));
	return 0;
}
