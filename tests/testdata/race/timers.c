// timers: POSIX timers (a signal with its value, and glibc's SIGEV_THREAD
// on its helper thread), a timerfd (poll, read, time left, disarm) and
// setitimer(ITIMER_PROF).
// Under deterministic mode they run in virtual time: the same signals at
// the same points every run, without the watchdog.
//
// Prints one line and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static sem_t fired;
static volatile sig_atomic_t profs;
static void on_prof(int s) {
	(void)s;
	profs++;
}
static void notify(union sigval v) {
	(void)v;
	sem_post(&fired);
}

int main(void) {
	// A periodic timer's signal, taken with sigwaitinfo.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	ev.sigev_value.sival_int = 42;
	timer_t tm;
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm) != 0)
		return 2;
	struct itimerspec its = {{0, 20000000}, {0, 50000000}};
	timer_settime(tm, 0, &its, NULL);
	int timer_signals = 0, all_timer = 1;
	for (int i = 0; i < 3; i++) {
		siginfo_t si;
		if (sigwaitinfo(&set, &si) != SIGRTMIN)
			return 2;
		timer_signals++;
		all_timer &= si.si_code == SI_TIMER && si.si_value.sival_int == 42;
	}
	timer_delete(tm);

	// SIGEV_THREAD: glibc's helper thread calls notify.
	sem_init(&fired, 0, 0);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = notify;
	timer_t tt;
	if (timer_create(CLOCK_REALTIME, &ev, &tt) != 0)
		return 2;
	struct itimerspec once = {{0, 0}, {0, 30000000}};
	timer_settime(tt, 0, &once, NULL);
	sem_wait(&fired);
	timer_delete(tt);

	// A timerfd: one expiration, then the time left, then disarmed.
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		return 2;
	struct itimerspec shot = {{0, 0}, {0, 10000000}};
	timerfd_settime(tfd, 0, &shot, NULL);
	struct pollfd p = {tfd, POLLIN, 0};
	int polled = poll(&p, 1, -1);
	uint64_t expirations = 0;
	if (read(tfd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return 2;
	struct itimerspec sec = {{1, 0}, {1, 0}}, cur;
	timerfd_settime(tfd, 0, &sec, NULL);
	timerfd_gettime(tfd, &cur);
	long left = cur.it_value.tv_sec + (cur.it_value.tv_nsec >= 500000000);
	struct itimerspec off = {{0, 0}, {0, 0}};
	timerfd_settime(tfd, 0, &off, NULL);
	int eagain = read(tfd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN;

	// setitimer(ITIMER_PROF) while the process works (system calls: CPU
	// time natively, scheduling points in deterministic mode).
	signal(SIGPROF, on_prof);
	struct itimerval prof = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_PROF, &prof, NULL);
	while (profs < 3)
		getppid();
	setitimer(ITIMER_PROF, &(struct itimerval){{0, 0}, {0, 0}}, NULL);

	printf("posix: %d signals, all SI_TIMER with value 42: %d; thread: notified; timerfd: poll %d, %llu expiration, %lds left, then EAGAIN %d; itimer prof: %d signals\n",
	       timer_signals, all_timer, polled, (unsigned long long)expirations, left, eagain, (int)profs);
	return 0;
}
