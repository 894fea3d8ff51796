// block_forever: the main thread waits for a thread that waits on a
// condition nobody signals. Under deterministic mode both wait in
// madvisor's futexes; a signal from outside (Ctrl-C) must still end it.
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static void *wait_forever(void *arg) {
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&never, &mu);
	return arg;
}

int main(void) {
	pthread_t t;
	pthread_create(&t, NULL, wait_forever, NULL);
	printf("waiting\n");
	fflush(stdout);
	pthread_join(t, NULL);
	return 0;
}
