// locks: waits for file locks. A thread waits in flock(LOCK_EX) for a lock
// another thread holds on its own open of the file; a child process waits
// in fcntl(F_SETLKW) for a record lock its parent holds. Each holder lets
// go once the waiter is in its call (in_call.h), so the output is the
// same natively every run. Under deterministic mode the waits are tried
// in their non-blocking forms, never a host wait that would hold the run.
//
// Prints one line and exits 0.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "in_call.h"

static char path[] = "/tmp/madvisor-locks-XXXXXX";
static volatile pid_t waiter_tid;
static int flock_ret = -2;

static void *flock_waiter(void *a) {
	int fd = open(path, O_RDWR);
	waiter_tid = gettid();
	flock_ret = flock(fd, LOCK_EX);
	flock(fd, LOCK_UN);
	close(fd);
	return a;
}

int main(void) {
	int fd = mkstemp(path);
	if (fd < 0)
		return 2;
	if (flock(fd, LOCK_EX) != 0)
		return 2;
	pthread_t th;
	pthread_create(&th, NULL, flock_waiter, NULL);
	while (waiter_tid == 0)
		usleep(1000);
	in_call(waiter_tid, SYS_flock);
	flock(fd, LOCK_UN);
	pthread_join(th, NULL);

	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (fcntl(fd, F_SETLK, &lk) != 0)
		return 2;
	pid_t child = fork();
	if (child == 0) {
		int cfd = open(path, O_RDWR);
		struct flock want = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
		_exit(fcntl(cfd, F_SETLKW, &want) == 0 ? 0 : 3);
	}
	in_call(child, SYS_fcntl);
	lk.l_type = F_UNLCK;
	fcntl(fd, F_SETLK, &lk);
	int st = 0;
	waitpid(child, &st, 0);
	unlink(path);
	printf("flock waited: %d; fcntl F_SETLKW child: exit %d\n", flock_ret, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
