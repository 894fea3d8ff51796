// signal_interrupt: signals from one thread interrupt another's waits:
// a sleep (EINTR, with the time left), a futex wait and a wait for a child
// (EINTR: no SA_RESTART) and a pipe read (restarted: SA_RESTART). The main thread
// sends each signal once the target is in its call (in_call.h), so the
// output is the same natively every run. Under deterministic mode these waits are the
// sentry's, and the signal must end them as a kernel does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "in_call.h"

static volatile sig_atomic_t usr1, usr2;
static void on_usr1(int s) { (void)s; usr1++; }
static void on_usr2(int s) { (void)s; usr2++; }

static volatile pid_t tids[4];
static int pfd[2];
static uint32_t word;
static long sleep_ret, sleep_errno, sleep_left, futex_ret, futex_errno, read_ret, wait_ret, wait_errno;

static void *sleeper(void *a) {
	tids[0] = gettid();
	struct timespec req = {10, 0}, rem = {0, 0};
	sleep_ret = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, &rem);
	sleep_errno = errno;
	sleep_left = rem.tv_sec;
	return a;
}

static void *futexer(void *a) {
	tids[1] = gettid();
	futex_ret = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	futex_errno = errno;
	return a;
}

static void *waiter(void *a) {
	pid_t child = fork();
	if (child == 0) {
		sleep(10);
		_exit(0);
	}
	tids[3] = gettid();
	wait_ret = waitpid(child, NULL, 0);
	wait_errno = errno;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return a;
}

static void *reader(void *a) {
	tids[2] = gettid();
	char c;
	read_ret = read(pfd[0], &c, 1);
	return a;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	if (pipe(pfd) != 0)
		return 2;
	pthread_t th[4];
	void *(*fn[4])(void *) = {sleeper, futexer, reader, waiter};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, fn[i], NULL);
	for (int i = 0; i < 4; i++)
		while (tids[i] == 0)
			usleep(1000);

	in_call(tids[0], SYS_clock_nanosleep);
	pthread_kill(th[0], SIGUSR1);
	in_call(tids[1], SYS_futex);
	pthread_kill(th[1], SIGUSR1);
	in_call(tids[3], SYS_wait4);
	pthread_kill(th[3], SIGUSR1);
	in_call(tids[2], SYS_read);
	pthread_kill(th[2], SIGUSR2);
	while (usr2 == 0)
		usleep(1000);
	in_call(tids[2], SYS_read); // restarted
	if (write(pfd[1], "x", 1) != 1)
		return 2;
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);

	printf("sleep %ld %s %lds left, futex %ld %s, wait4 %ld %s, read %ld (restarted), handlers usr1=%d usr2=%d\n",
	       sleep_ret, sleep_errno == EINTR ? "EINTR" : "?", sleep_left, futex_ret,
	       futex_errno == EINTR ? "EINTR" : "?", wait_ret, wait_errno == EINTR ? "EINTR" : "?", read_ret,
	       (int)usr1, (int)usr2);
	return 0;
}
