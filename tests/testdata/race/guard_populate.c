// guard_populate: one thread populates a range with MADV_POPULATE_WRITE
// while another installs and removes a guard region in its middle.
//
// Populating over an installed guard page fails with EFAULT; populating
// while the guard is absent succeeds. Which one each round sees depends
// only on the interleaving of the two threads' madvise calls.
//
// Prints "efault=K rounds=R seq=S", S the per-round results run-length
// encoded ("3.1F" = three successes, then one EFAULT; after SHOWN runs only
// the number of further runs); exits 1 when populate hit the guard at least
// once.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

// The x86-64 values: the machine's headers may predate them.
#define MADV_POPULATE_WRITE_ 23
#define MADV_GUARD_INSTALL_ 102
#define MADV_GUARD_REMOVE_ 103

#define PAGES 16
#define GUARD 8 // the guard page's index in the range
#define ROUNDS 2000
// Syscall-free spin after each populate and while the guard is installed.
// Without it GUARD_INSTALL keeps losing to populate refaulting the page (the
// kernel zaps and retries) until populate is done, and natively the guard is
// almost never seen.
#define SPIN 3000
#define SHOWN 12 // runs of the sequence printed in full

static char *base;
static long pagesize;
static pthread_barrier_t start;
static char result[ROUNDS];

static void *populater(void *arg) {
	(void)arg;
	pthread_barrier_wait(&start);
	for (int r = 0; r < ROUNDS; r++) {
		int ret = madvise(base, PAGES * pagesize, MADV_POPULATE_WRITE_);
		result[r] = ret == 0 ? '.' : errno == EFAULT ? 'F' : '?';
		for (volatile int i = 0; i < SPIN; i++)
			;
	}
	return NULL;
}

static void *guarder(void *arg) {
	pthread_barrier_wait(&start);
	for (int r = 0; r < ROUNDS; r++) {
		if (madvise(base + GUARD * pagesize, pagesize, MADV_GUARD_INSTALL_) != 0) {
			perror("madvise(MADV_GUARD_INSTALL)");
			*(int *)arg = 1;
			break;
		}
		for (volatile int i = 0; i < SPIN; i++)
			;
		if (madvise(base + GUARD * pagesize, pagesize, MADV_GUARD_REMOVE_) != 0) {
			perror("madvise(MADV_GUARD_REMOVE)");
			*(int *)arg = 1;
			break;
		}
	}
	return NULL;
}

int main(void) {
	pagesize = sysconf(_SC_PAGESIZE);
	base = mmap(NULL, PAGES * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	pthread_barrier_init(&start, NULL, 2);
	int gerr = 0;
	pthread_t p, g;
	if (pthread_create(&p, NULL, populater, NULL) != 0 || pthread_create(&g, NULL, guarder, &gerr) != 0) {
		perror("pthread_create");
		return 2;
	}
	pthread_join(p, NULL);
	pthread_join(g, NULL);
	if (gerr)
		return 2;

	int efault = 0, other = 0, runs = 0;
	char seq[SHOWN * 6 + 32], *s = seq;
	for (int r = 0; r < ROUNDS; runs++) {
		int n = 1;
		while (r + n < ROUNDS && result[r + n] == result[r])
			n++;
		if (runs < SHOWN)
			s += sprintf(s, "%d%c", n, result[r]);
		if (result[r] == 'F')
			efault += n;
		else if (result[r] == '?')
			other += n;
		r += n;
	}
	if (runs > SHOWN)
		sprintf(s, "+%d", runs - SHOWN);
	if (other) {
		printf("unexpected errors=%d seq=%s\n", other, seq);
		return 2;
	}
	printf("efault=%d rounds=%d seq=%s\n", efault, ROUNDS, seq);
	return efault != 0;
}
