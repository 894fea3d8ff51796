// dontneed_writer: a writer stores to a private anonymous page while
// another thread discards the page with MADV_DONTNEED.
//
// DONTNEED on private anonymous memory drops the page: the next access sees
// a fresh zero page, so a store made before the discard is gone. The writer
// stores a nonzero value, runs a short syscall-free loop, and re-reads its
// word; a changed word is a lost store. Whether a discard lands inside that
// window depends only on the interleaving.
//
// Prints "lost=N rounds=R"; exits 1 when any store was lost.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 20000
#define ZAPS 20000
#define SPIN 200

static volatile long *word;
static long pagesize;
static pthread_barrier_t start;

static void *writer(void *arg) {
	long lost = 0;
	pthread_barrier_wait(&start);
	for (long r = 0; r < ROUNDS; r++) {
		long v = r + 1;
		*word = v;
		for (volatile int i = 0; i < SPIN; i++)
			;
		if (*word != v)
			lost++;
	}
	*(long *)arg = lost;
	return NULL;
}

static void *zapper(void *arg) {
	pthread_barrier_wait(&start);
	for (int z = 0; z < ZAPS; z++)
		if (madvise((void *)word, pagesize, MADV_DONTNEED) != 0) {
			perror("madvise(MADV_DONTNEED)");
			*(int *)arg = 1;
			break;
		}
	return NULL;
}

int main(void) {
	pagesize = sysconf(_SC_PAGESIZE);
	word = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (word == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	pthread_barrier_init(&start, NULL, 2);
	long lost = 0;
	int zerr = 0;
	pthread_t w, z;
	if (pthread_create(&w, NULL, writer, &lost) != 0 || pthread_create(&z, NULL, zapper, &zerr) != 0) {
		perror("pthread_create");
		return 2;
	}
	pthread_join(w, NULL);
	pthread_join(z, NULL);
	if (zerr)
		return 2;
	printf("lost=%ld rounds=%d\n", lost, ROUNDS);
	return lost != 0;
}
