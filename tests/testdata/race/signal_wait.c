// signal_wait: the main thread waits for signals another thread sends:
// sigwait(SIGUSR1), then pause() until a SIGUSR2 handler runs. Under
// deterministic mode both waits are readiness checks on the thread's
// pending signals: no watchdog, the same run every time.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static pthread_t main_t;
static void h(int s) { (void)s; }
static void *killer(void *a) { usleep(100000); pthread_kill(main_t, SIGUSR1); usleep(100000); pthread_kill(main_t, SIGUSR2); return a; }
int main(void) {
	sigset_t set; sigemptyset(&set); sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGUSR2, h);
	main_t = pthread_self();
	pthread_t t; pthread_create(&t, NULL, killer, NULL);
	int sig = 0; sigwait(&set, &sig);
	pause();
	printf("sigwait got %d, pause returned\n", sig);
	pthread_join(t, NULL);
	return 0;
}
