// counter: 4 threads each increment an unlocked global 200,000 times.
//
// counter++ on a volatile long is a load, an add and a store: a thread
// preempted (or running on another CPU) between its load and its store
// overwrites the other threads' increments. The loop makes no syscall, so
// under `madvisor run --seed` only a preemption inside syscall-free code
// (--chaos) can make the race bite.
//
// Prints "counter=N want=800000"; exits 1 when updates were lost.
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ITERS 200000

static volatile long counter;
static pthread_barrier_t start;

static void *work(void *arg) {
	(void)arg;
	// Start together, so that the loops overlap instead of one thread
	// finishing before the next is created.
	pthread_barrier_wait(&start);
	for (long i = 0; i < ITERS; i++)
		counter++;
	return NULL;
}

int main(void) {
	pthread_t th[THREADS];
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, work, NULL) != 0) {
			perror("pthread_create");
			return 2;
		}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	printf("counter=%ld want=%ld\n", counter, (long)THREADS * ITERS);
	return counter != (long)THREADS * ITERS;
}
