// in_call waits until thread tid (of this process or a child) is in
// system call nr, as its /proc/TID/syscall says (the call's number while
// it is in one, "running" otherwise): a program that signals or wakes a
// thread once it waits then gives the same output every run, natively
// too.
#ifndef IN_CALL_H
#define IN_CALL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static void in_call(pid_t tid, long nr) {
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/syscall", tid);
	for (;;) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0 && buf[0] >= '0' && buf[0] <= '9' && strtol(buf, NULL, 10) == nr)
			return;
		usleep(1000);
	}
}

#endif
