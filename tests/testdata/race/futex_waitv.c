// futex_waitv: a thread waits on three futexes at once and is woken by a
// wake on the second (the call returns its index); a vector whose value
// differs fails with EAGAIN, and an absolute timeout passes with
// ETIMEDOUT. Under deterministic mode futex_waitv is the sentry's.
//
// Prints one line and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "in_call.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32 // before Linux 6.7's headers (FUTEX_32, FUTEX_PRIVATE_FLAG)
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128
#endif

static uint32_t words[3];
static volatile pid_t waiter_tid;
static long woke;

static long waitv(struct futex_waitv *v, int n, struct timespec *abs) {
	return syscall(SYS_futex_waitv, v, n, 0, abs, CLOCK_MONOTONIC);
}

static void vector(struct futex_waitv *v) {
	memset(v, 0, 3 * sizeof(*v));
	for (int i = 0; i < 3; i++) {
		v[i].uaddr = (uintptr_t)&words[i];
		v[i].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	}
}

static void *waiter(void *a) {
	struct futex_waitv v[3];
	vector(v);
	waiter_tid = gettid();
	woke = waitv(v, 3, NULL);
	return a;
}

int main(void) {
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	while (waiter_tid == 0)
		usleep(1000);
	in_call(waiter_tid, SYS_futex_waitv);
	__atomic_store_n(&words[1], 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &words[1], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(th, NULL);

	struct futex_waitv v[3];
	vector(v); // words[1] is 1 now, the vector says 0
	long mismatch = waitv(v, 3, NULL);
	int mismatch_errno = errno;

	words[1] = 0;
	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 10000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	long timed = waitv(v, 3, &abs);
	int timed_errno = errno;
	printf("woke %ld; mismatch %ld %s; timeout %ld %s\n", woke, mismatch, mismatch_errno == EAGAIN ? "EAGAIN" : "?",
	       timed, timed_errno == ETIMEDOUT ? "ETIMEDOUT" : "?");
	return 0;
}
