// host_block: a thread blocks in a call deterministic mode leaves to the
// host (msgrcv on a System V message queue) until the main thread sends
// it a message. The blocked thread holds the run's only turn, so the
// watchdog must take it back (the run then says it was not
// deterministic) rather than let the program hang.
//
// Prints one line and exits 0.
#include <pthread.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

static int queue;
struct message {
	long type;
	char text[8];
};

static void *receive(void *arg) {
	struct message m;
	long n = msgrcv(queue, &m, sizeof(m.text), 0, 0);
	printf("received %ld bytes: %s\n", n, m.text);
	return arg;
}

int main(void) {
	queue = msgget(IPC_PRIVATE, 0600);
	if (queue < 0)
		return 2;
	pthread_t th;
	pthread_create(&th, NULL, receive, NULL);
	usleep(100000);
	struct message m = {1, "hi"};
	msgsnd(queue, &m, 3, 0);
	pthread_join(th, NULL);
	msgctl(queue, IPC_RMID, NULL);
	return 0;
}
