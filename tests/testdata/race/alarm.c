// alarm: alarm and setitimer(ITIMER_REAL) in virtual time: alarm(5) then
// alarm(2) (which returns 5), pause for the SIGALRM, then four 100 ms
// interval ticks, disarmed; natively about 5 s, deterministic mode at once.
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>
static volatile int n;
static void h(int s) { (void)s; n++; }
int main(void) {
	signal(SIGALRM, h);
	unsigned a5 = alarm(5), a2 = alarm(2);
	pause();
	struct itimerval v = {{0, 100000}, {0, 100000}}, old;
	setitimer(ITIMER_REAL, &v, NULL);
	while (n < 4) pause();
	setitimer(ITIMER_REAL, &(struct itimerval){0}, &old);
	getitimer(ITIMER_REAL, &old);
	printf("alarm(5)=%u alarm(2)=%u alarms=%d left=%ld.%06ld\n", a5, a2, n, (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);
	sleep(3);
	return 0;
}
