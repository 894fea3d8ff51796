// threads_mm: NTHREADS threads map, protect, advise and unmap memory
// concurrently. Each thread checks what it observes (contents after
// MADV_DONTNEED, data kept across mprotect) and contributes to a checksum
// that depends only on the iteration count, so the output is stable.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NTHREADS 8
#define NPAGES 4

static long iterations = 10000;
static long pagesz;

struct result {
	uint64_t sum;
	long errors;
};

static void *worker(void *arg) {
	struct result *r = arg;
	for (long i = 0; i < iterations; i++) {
		size_t len = NPAGES * pagesz;
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			r->errors++;
			continue;
		}
		for (int pg = 0; pg < NPAGES; pg++)
			p[pg * pagesz] = (unsigned char)(i + pg);
		if (mprotect(p + pagesz, pagesz, PROT_READ) != 0)
			r->errors++;
		r->sum += p[pagesz];
		if (madvise(p + 2 * pagesz, pagesz, MADV_DONTNEED) != 0)
			r->errors++;
		if (p[2 * pagesz] != 0)
			r->errors++;
		r->sum += p[3 * pagesz];
		if (munmap(p + 3 * pagesz, pagesz) != 0)
			r->errors++;
		if (munmap(p, 3 * pagesz) != 0)
			r->errors++;
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc > 1)
		iterations = atol(argv[1]);
	pagesz = sysconf(_SC_PAGESIZE);
	pthread_t th[NTHREADS];
	struct result res[NTHREADS];
	memset(res, 0, sizeof(res));
	for (int t = 0; t < NTHREADS; t++) {
		if (pthread_create(&th[t], NULL, worker, &res[t]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	uint64_t total = 0;
	long errors = 0;
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		total += res[t].sum;
		errors += res[t].errors;
	}
	printf("threads=%d iterations=%ld checksum=%llu errors=%ld\n", NTHREADS,
	       iterations, (unsigned long long)total, errors);
	if (errors == 0)
		printf("OK\n");
	return errors == 0 ? 0 : 1;
}
