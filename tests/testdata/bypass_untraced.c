// bypass_untraced: children made with CLONE_UNTRACED (clone and clone3).
// Natively the flag changes nothing the program sees (nobody traces it);
// under madvisor the child must still be traced: its memory calls work and
// are modelled as anyone's, and it dies with the run. With "orphan" the
// parent leaves such a child sleeping and prints its pid (the test checks
// that it is gone once madvisor has exited).
#include "madv_common.h"
#include <linux/sched.h>

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

struct clone_args_ {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
	    cgroup;
};

// work is the child's part: memory calls, each printed.
static void work(const char *who) {
	char name[64];
	char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snprintf(name, sizeof(name), "%s-mmap", who);
	line(name, p == MAP_FAILED ? -1 : 0, errno, "");
	if (p == MAP_FAILED)
		return;
	fill(p, 4, 'x');
	snprintf(name, sizeof(name), "%s-guard-install", who);
	long r = madv(p + PG, PG, A_GUARD_INSTALL);
	line(name, r, errno, "vmas=%d", count_vmas(p, p + 4 * PG));
	snprintf(name, sizeof(name), "%s-dontneed", who);
	r = madv(p + 2 * PG, PG, A_DONTNEED);
	line(name, r, errno, "byte=%d", p[2 * PG]);
	snprintf(name, sizeof(name), "%s-munmap", who);
	r = munmap(p, 4 * PG);
	line(name, r, errno, "");
}

static void reap(const char *who, pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	printf("%s: exit %d\n", who, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	fflush(stdout);
}

int main(int argc, char **argv) {
	PG = sysconf(_SC_PAGESIZE);
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "orphan") == 0) {
		long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0) {
			sleep(60);
			_exit(0);
		}
		printf("orphan: %ld\n", pid);
		return 0;
	}

	long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		die("clone");
	if (pid == 0) {
		work("clone");
		_exit(3);
	}
	reap("clone", pid);

	struct clone_args_ args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_UNTRACED;
	args.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		note("clone3", "unavailable (%s)", ename(errno));
		return 0;
	}
	if (pid == 0) {
		work("clone3");
		_exit(4);
	}
	printf("clone3-args: flags %s\n", args.flags == CLONE_UNTRACED ? "kept" : "changed");
	reap("clone3", pid);
	return 0;
}
