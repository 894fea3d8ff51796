// bypass_abi: system calls of the other x86 ABIs from a 64-bit program,
// which the model does not follow. i386 calls (int $0x80; munmap is number
// 91 there) run on a kernel with IA32 emulation; madvisor refuses them as a
// kernel without it does: int $0x80 raises a general protection fault,
// SIGSEGV with si_code SI_KERNEL, rip still on the instruction; blocked or
// ignored, the fault's signal kills. x32 calls (the number with bit 30)
// fail with ENOSYS, as on a kernel without the x32 ABI (this host's).
// Each case prints what happened.
#include "madv_common.h"
#include <ucontext.h>

static sigjmp_buf jb;
static volatile int got_code;
static volatile uintptr_t got_addr;
static volatile int got_at_insn;

static void on_segv(int sig, siginfo_t *si, void *uc_) {
	ucontext_t *uc = uc_;
	const unsigned char *rip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
	got_code = si->si_code;
	got_addr = (uintptr_t)si->si_addr;
	got_at_insn = rip[0] == 0xcd && rip[1] == 0x80;
	siglongjmp(jb, 1);
}

static long int80(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static const char *code_name(int code) {
	switch (code) {
	case SI_KERNEL:
		return "SI_KERNEL";
	case SI_TKILL:
		return "SI_TKILL";
	case SI_USER:
		return "SI_USER";
	case SEGV_MAPERR:
		return "SEGV_MAPERR";
	case SEGV_ACCERR:
		return "SEGV_ACCERR";
	}
	return "other";
}

// call runs one i386 call and prints its result or its fault.
static void call(const char *name, long nr, long a, long b, long c) {
	if (sigsetjmp(jb, 1)) {
		printf("%s: SIGSEGV code=%s addr=%s at_insn=%s\n", name, code_name(got_code), got_addr ? "set" : "0",
		       got_at_insn ? "yes" : "no");
		fflush(stdout);
		return;
	}
	long r = int80(nr, a, b, c);
	if (r < 0 && r > -4096)
		printf("%s: ret=-1 errno=%s\n", name, ename(-r));
	else if (nr == 20)
		printf("%s: ret=%s\n", name, r == getpid() ? "pid" : "other");
	else
		printf("%s: ret=%ld\n", name, r);
	fflush(stdout);
}

static int mapped(void *p) { return madv(p, PG, A_NORMAL) == 0; }

// child runs a call with SIGSEGV blocked (how=1) or ignored (how=2) and
// reports how it ended.
static void child(const char *name, int how) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (how == 1) {
			sigset_t s;
			sigemptyset(&s);
			sigaddset(&s, SIGSEGV);
			sigprocmask(SIG_BLOCK, &s, NULL);
		} else {
			signal(SIGSEGV, SIG_IGN);
		}
		int80(20 /* getpid */, 0, 0, 0);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", name, sigabbrev_np(WTERMSIG(st)));
	else
		printf("%s: exit %d\n", name, WEXITSTATUS(st));
	fflush(stdout);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	// The i386 ABI passes 32-bit arguments: the page must lie below 4 GiB.
	char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	call("int80-munmap", 91, (long)(uintptr_t)p, PG, 0);
	printf("int80-munmap-after: mapped=%s\n", mapped(p) ? "yes" : "no");
	call("int80-mprotect", 125, (long)(uintptr_t)p, PG, PROT_READ);
	call("int80-madvise", 219, (long)(uintptr_t)p, PG, A_DONTNEED);
	call("int80-getpid", 20, 0, 0, 0);
	call("int80-bad-nr", 100000, 0, 0, 0);
	child("int80-blocked", 1);
	child("int80-ignored", 2);

	char *q = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = syscall(0x40000000 | SYS_munmap, q, PG);
	line("x32-munmap", r, errno, "mapped=%s", mapped(q) ? "yes" : "no");
	return 0;
}
