// bypass_seccomp: the program's own seccomp filters. A user-notification
// listener could continue a call the sentry never sees (RET_USER_NOTIF
// outranks RET_TRACE): madvisor refuses listeners as a kernel older than
// 5.0 does (the flag and SECCOMP_GET_NOTIF_SIZES are EINVAL, the action
// is not available). A filter returning RET_TRACE, with no tracer of the
// program's own, fails the call with ENOSYS without running it, natively
// and under madvisor alike. Each case runs in a child: filters stay.
#include "madv_common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

static long seccomp_(unsigned op, unsigned flags, void *arg) { return syscall(SYS_seccomp, op, flags, arg); }

// filter installs a filter that returns action for nr and allows the
// rest.
static long filter(int nr, unsigned action, unsigned flags) {
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, action),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("PR_SET_NO_NEW_PRIVS");
	return seccomp_(SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int mapped(void *p) { return madv(p, PG, A_NORMAL) == 0; }

// in_child runs fn in a child and waits for it.
static void in_child(void (*fn)(void)) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("child: status %#x\n", st);
}

static void listener(void) {
	long r = filter(SYS_getppid, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
	line("new-listener", r < 0 ? r : 0, errno, "");
	// Without a listener (refused above, or never asked for), a
	// notifying filter fails the call.
	r = filter(SYS_getpid, SECCOMP_RET_USER_NOTIF, 0);
	line("user-notif-filter", r, errno, "");
	r = syscall(SYS_getpid);
	line("user-notif-no-listener", r < 0 ? r : 0, errno, "");
}

static void trace_munmap(void) {
	char *p = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = filter(SYS_munmap, SECCOMP_RET_TRACE, 0);
	line("trace-filter", r, errno, "");
	r = munmap(p, PG);
	line("trace-munmap", r, errno, "mapped=%s", mapped(p) ? "yes" : "no");
	r = syscall(SYS_getppid);
	line("trace-other", r < 0 ? r : 0, errno, "");
}

static void trace_data(void) {
	char *p = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = filter(SYS_madvise, SECCOMP_RET_TRACE | 0x1234, 0);
	line("trace-data-filter", r, errno, "");
	r = madv(p, PG, A_DONTNEED);
	line("trace-data-madvise", r, errno, "");
	r = filter(SYS_getppid, SECCOMP_RET_TRACE | 7, 0);
	r = syscall(SYS_getppid);
	line("trace-data-getppid", r < 0 ? r : 0, errno, "");
}

static void errno_munmap(void) {
	char *p = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = filter(SYS_munmap, SECCOMP_RET_ERRNO | EACCES, 0);
	r = munmap(p, PG);
	line("errno-munmap", r, errno, "mapped=%s", mapped(p) ? "yes" : "no");
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	unsigned action = SECCOMP_RET_USER_NOTIF;
	long r = seccomp_(SECCOMP_GET_ACTION_AVAIL, 0, &action);
	line("action-avail-user-notif", r, errno, "");
	action = SECCOMP_RET_TRACE;
	r = seccomp_(SECCOMP_GET_ACTION_AVAIL, 0, &action);
	line("action-avail-trace", r, errno, "");
	struct seccomp_notif_sizes sizes;
	r = seccomp_(SECCOMP_GET_NOTIF_SIZES, 0, &sizes);
	line("notif-sizes", r, errno, "");
	in_child(listener);
	in_child(trace_munmap);
	in_child(trace_data);
	in_child(errno_munmap);
	return 0;
}
