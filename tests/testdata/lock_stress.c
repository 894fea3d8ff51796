/* lock_stress: 2 processes (a fork: private mms) x 8 threads (one shared mm
 * each) run mixed mmap / mprotect / madvise / munmap for SECS seconds. Every
 * operation bumps a per-thread count and a shared atomic counter in a
 * MAP_SHARED page; at the end the two must agree (no lost update), and every
 * page must still hold what its thread wrote. Prints one stable line. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
static atomic_long *shared_ops;
static double secs;

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
	long id = (long)arg, ops = 0, bad = 0;
	double end = now() + secs;
	static const int advice[] = {MADV_DONTNEED, MADV_DONTFORK, MADV_DOFORK, MADV_RANDOM, MADV_NORMAL, MADV_WILLNEED};
	while (now() < end) {
		size_t len = 4096 * (1 + (ops % 4));
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { bad++; break; }
		memset(p, (int)id, len);
		if (mprotect(p, 4096, PROT_READ) != 0) bad++;
		if (p[len - 1] != (unsigned char)id) bad++;
		if (madvise(p + 4096 * (ops % 2), 4096, advice[ops % 6]) != 0 && len > 4096) bad++;
		if (munmap(p, len) != 0) bad++;
		ops++;
		atomic_fetch_add(shared_ops, 1);
	}
	return (void *)(ops | (bad << 40));
}

/* run returns this process's operation count, or -1 on a failed check. */
static long run(void) {
	pthread_t t[THREADS];
	long total = 0, bad = 0;
	for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		total += (long)r & ((1L << 40) - 1);
		bad += (long)r >> 40;
	}
	return bad == 0 && total > 0 ? total : -1;
}

int main(int argc, char **argv) {
	secs = argc > 1 ? atof(argv[1]) : 1;
	shared_ops = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long *child_total = (long *)shared_ops + 1;
	pid_t pid = fork();
	long mine = run();
	if (pid == 0) {
		*child_total = mine;
		_exit(mine < 0);
	}
	int st;
	waitpid(pid, &st, 0);
	int rc = mine < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	/* No lost update: every operation counted once in the shared counter. */
	rc |= atomic_load(shared_ops) != mine + *child_total;
	printf("%s\n", rc == 0 ? "lock_stress OK" : "lock_stress FAILED");
	return rc;
}
