// bypass_ptrace: a program that wants to trace (a debugger, strace). Under
// madvisor the sentry is every thread's tracer and nesting is refused as a
// kernel with Yama ptrace_scope 3 refuses it: TRACEME, ATTACH and SEIZE
// fail with EPERM at once, other requests find no tracee (ESRCH), and
// nothing waits for a stop that never comes. Natively (ptrace_scope 0 or
// 1, as root) the attaches work.
#include "madv_common.h"
#include <sys/ptrace.h>

static void result(const char *name, long r, int err) {
	printf("%s: ret=%ld errno=%s\n", name, r, r < 0 ? ename(err) : "0");
	fflush(stdout);
}

// traceme: the child asks to be traced and stops itself if that worked.
static void traceme(void) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
		result("traceme", r, errno);
		if (r == 0)
			raise(SIGSTOP);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("traceme-stop: %s\n", WIFSTOPPED(st) ? sigabbrev_np(WSTOPSIG(st)) : "none");
	if (WIFSTOPPED(st)) {
		ptrace(PTRACE_CONT, pid, 0, 0);
		waitpid(pid, &st, 0);
	}
	printf("traceme-exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	fflush(stdout);
}

// attach: the parent attaches to (or seizes) a sleeping child.
static void attach(const char *name, int req) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	long r = ptrace(req, pid, 0, 0);
	result(name, r, errno);
	if (r == 0) {
		if (req == PTRACE_ATTACH) {
			int st;
			waitpid(pid, &st, 0);
		} else {
			ptrace(PTRACE_INTERRUPT, pid, 0, 0);
			int st;
			waitpid(pid, &st, 0);
		}
		ptrace(PTRACE_DETACH, pid, 0, 0);
	}
	// A request on a child it does not trace.
	errno = 0;
	r = ptrace(PTRACE_PEEKDATA, pid, (void *)&pid, 0);
	if (r != -1 || errno == 0)
		r = 0; // a word was read
	char peek[64];
	snprintf(peek, sizeof(peek), "%s-then-peek", name);
	result(peek, r, errno);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void) {
	traceme();
	attach("attach", PTRACE_ATTACH);
	attach("seize", PTRACE_SEIZE);
	long r = ptrace(PTRACE_ATTACH, getpid(), 0, 0);
	result("attach-self", r, errno);
	// The parent is outside the sandbox (madvisor itself, under it):
	// seizing does not stop it, and it is let go at once.
	r = ptrace(PTRACE_SEIZE, getppid(), 0, 0);
	result("seize-parent", r, errno);
	if (r == 0)
		ptrace(PTRACE_DETACH, getppid(), 0, 0);
	return 0;
}
