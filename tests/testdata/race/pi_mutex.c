// pi_mutex: priority-inheritance mutexes (FUTEX_LOCK_PI / UNLOCK_PI under
// contention) and robust mutexes whose owner dies holding them (plain and
// priority-inheriting): the next locker gets EOWNERDEAD. Under
// deterministic mode these futexes are the sentry's, and the owner's
// death must hand the lock on as the kernel does.
//
// Prints one line and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { threads = 4, iters = 2000 };

static pthread_mutex_t pi;
static long counter;

static void *worker(void *a) {
	for (int i = 0; i < iters; i++) {
		pthread_mutex_lock(&pi);
		long v = counter;
		if (i % 100 == 0)
			sched_yield(); // hold it across a scheduling point: contention
		counter = v + 1;
		pthread_mutex_unlock(&pi);
	}
	return a;
}

static pthread_mutex_t robust;
static sem_t locked;

static void *die_holding(void *a) {
	pthread_mutex_lock(&robust);
	sem_post(&locked);
	usleep(10000); // the main thread blocks on the lock meanwhile
	return a;      // exits holding it
}

// owner_dies returns what pthread_mutex_lock says after the owner died
// holding a robust mutex with protocol proto.
static const char *owner_dies(int proto) {
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_setprotocol(&at, proto);
	pthread_mutex_init(&robust, &at);
	sem_init(&locked, 0, 0);
	pthread_t th;
	pthread_create(&th, NULL, die_holding, NULL);
	sem_wait(&locked);
	int r = pthread_mutex_lock(&robust);
	pthread_join(th, NULL);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&robust);
		pthread_mutex_unlock(&robust);
	}
	pthread_mutex_destroy(&robust);
	return r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r);
}

int main(void) {
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&pi, &at);
	pthread_t th[threads];
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	const char *plain = owner_dies(PTHREAD_PRIO_NONE);
	const char *inherit = owner_dies(PTHREAD_PRIO_INHERIT);
	printf("pi counter=%ld want=%d; owner died: robust %s, robust pi %s\n", counter, threads * iters, plain, inherit);
	return 0;
}
