// madv_uffd: VMAs registered with a userfaultfd are unregistered, and merge
// with their neighbours, when the last reference to the userfaultfd goes
// away (userfaultfd_release): at close, close_range, dup2/dup3 over it,
// exec (close-on-exec) or the exit of another process holding it — none of
// them a memory syscall. A copy made by dup or inherited by fork keeps the
// registration. Each case registers the middle page of 3 fenced pages and
// prints the VMA count of the 3 pages, the uffd VmFlags of the middle one,
// and then a move of the 3 pages with one mremap (a move spanning several
// VMAs is refused with EFAULT while one of them is registered).
#include "madv_common.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// new_uffd returns a userfaultfd with its API handshake done, or -1.
static int new_uffd(int flags) {
	int fd = syscall(SYS_userfaultfd, flags | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -1;
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	return fd;
}

static long reg(int uffd, char *p, int n, int mode) {
	struct uffdio_register r = {.range = {(unsigned long)p, n * PG}, .mode = mode};
	return ioctl(uffd, UFFDIO_REGISTER, &r);
}

// uflags returns the userfaultfd VmFlags (um, uw, ui) of the VMA holding
// addr, "-" for none.
static const char *uflags(void *addr) {
	static char out[4][32];
	static int slot;
	char *o = out[slot++ % 4];
	static const char *const keep[] = {"um", "uw", "ui"};
	char l[1024];
	if (!smaps_vma((uintptr_t)addr, l, sizeof(l), NULL))
		strcpy(o, "unmapped");
	else
		keep_flags(l, keep, 3, o);
	return o;
}

// show prints the state of the 3 pages at p after a call (ret, errno).
static void show(const char *name, long ret, int err, char *p) {
	line(name, ret, err, "vmas=%d first=%s mid=%s last=%s", count_vmas(p, p + 3 * PG), uflags(p), uflags(p + PG),
	     uflags(p + 2 * PG));
}

// move moves the 3 pages at p elsewhere with one mremap and prints the
// outcome, then unmaps whatever is left.
static void move(const char *name, char *p) {
	char *dst = reserve(3);
	errno = 0;
	void *r = mremap(p, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	int err = errno;
	if (r == MAP_FAILED) {
		line(name, -1, err, "src_vmas=%d", count_vmas(p, p + 3 * PG));
		release(p, 3);
	} else {
		line(name, r == dst ? 0 : 1, 0, "dst_vmas=%d", count_vmas(dst, dst + 3 * PG));
	}
	release(dst, 3);
}

// three maps 3 fenced read-write pages; apart: the outer two read-only,
// so that the middle one merges with neither.
static char *three(int apart) {
	char *p = map_anon(3, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (apart && (mprotect(p, PG, PROT_READ) || mprotect(p + 2 * PG, PG, PROT_READ)))
		die("mprotect");
	return p;
}

static char cname[128];

static const char *cn(const char *c, const char *step) {
	snprintf(cname, sizeof(cname), "%s/%s", c, step);
	return cname;
}

// dropper drops the userfaultfd fd in the calling process.
typedef long (*dropper)(int uffd);

static long drop_close(int uffd) { return close(uffd); }

static long drop_dup2(int uffd) {
	int fd = open("/dev/null", O_RDONLY);
	long r = dup2(fd, uffd);
	close(fd);
	close(uffd);
	return r < 0 ? r : 0;
}

static long drop_dup3(int uffd) {
	int fd = open("/dev/null", O_RDONLY);
	long r = dup3(fd, uffd, O_CLOEXEC);
	close(fd);
	close(uffd);
	return r < 0 ? r : 0;
}

static long drop_close_range(int uffd) { return syscall(SYS_close_range, uffd, uffd, 0); }

static long drop_close_range_up(int uffd) { return syscall(SYS_close_range, uffd, ~0U, 0); }

// simple: register the middle page, drop the fd, move the pages.
static void simple(const char *c, dropper drop, int mode, int apart) {
	int uffd = new_uffd(O_CLOEXEC);
	if (uffd < 0) {
		note(c, "no userfaultfd (%s)", ename(errno));
		return;
	}
	char *p = three(apart);
	long r = reg(uffd, p + PG, 1, mode);
	show(cn(c, "register"), r, errno, p);
	r = drop(uffd);
	show(cn(c, "drop"), r, errno, p);
	move(cn(c, "mremap"), p);
}

// dupcopy: a dup of the fd keeps the registration until it is closed too.
static void dupcopy(void) {
	const char *c = "dup_copy";
	int uffd = new_uffd(O_CLOEXEC);
	if (uffd < 0) {
		note(c, "no userfaultfd");
		return;
	}
	char *p = three(0);
	long r = reg(uffd, p + PG, 1, UFFDIO_REGISTER_MODE_MISSING);
	int d = dup(uffd);
	r = close(uffd);
	show(cn(c, "close_original"), r, errno, p);
	r = close(d);
	show(cn(c, "close_copy"), r, errno, p);
	move(cn(c, "mremap"), p);
}

// two: two userfaultfds; closing one unregisters only its VMAs.
static void two(void) {
	const char *c = "two_uffds";
	int u1 = new_uffd(O_CLOEXEC), u2 = new_uffd(O_CLOEXEC);
	if (u1 < 0 || u2 < 0) {
		note(c, "no userfaultfd");
		return;
	}
	char *p = three(0);
	long r = reg(u1, p, 1, UFFDIO_REGISTER_MODE_MISSING);
	if (!r)
		r = reg(u2, p + 2 * PG, 1, UFFDIO_REGISTER_MODE_MISSING);
	show(cn(c, "register"), r, errno, p);
	r = close(u1);
	show(cn(c, "close_first"), r, errno, p);
	move(cn(c, "mremap_one_left"), p);
	p = three(0);
	r = reg(u2, p + PG, 1, UFFDIO_REGISTER_MODE_MISSING);
	show(cn(c, "register_again"), r, errno, p);
	r = close(u2);
	show(cn(c, "close_second"), r, errno, p);
	move(cn(c, "mremap"), p);
}

static void wait_byte(int fd) {
	char b;
	if (read(fd, &b, 1) != 1)
		die("read pipe");
}

static void send_byte(int fd) {
	if (write(fd, "x", 1) != 1)
		die("write pipe");
}

// child: a forked child holds a copy of the fd. early: the child is forked
// before the registration (it holds the fd all the same). how: 'e' the
// child exits, 'c' it closes its copy and stays, 'x' it execs (the fd is
// close-on-exec) and stays.
static void child(const char *c, int early, char how, const char *self) {
	int uffd = new_uffd(O_CLOEXEC);
	if (uffd < 0) {
		note(c, "no userfaultfd");
		return;
	}
	char *p = three(0);
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		die("pipe");
	long r = 0;
	if (!early)
		r = reg(uffd, p + PG, 1, UFFDIO_REGISTER_MODE_MISSING);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		wait_byte(go[0]);
		switch (how) {
		case 'e':
			_exit(0);
		case 'c':
			close(uffd);
			send_byte(done[1]);
			wait_byte(go[0]);
			_exit(0);
		case 'x': {
			char in[16], out[16];
			snprintf(in, sizeof(in), "%d", go[0]);
			snprintf(out, sizeof(out), "%d", done[1]);
			execl(self, self, "exec-helper", in, out, (char *)NULL);
			_exit(127);
		}
		}
		_exit(1);
	}
	if (early)
		r = reg(uffd, p + PG, 1, UFFDIO_REGISTER_MODE_MISSING);
	show(cn(c, "register"), r, errno, p);
	r = close(uffd);
	show(cn(c, "parent_close"), r, errno, p);
	send_byte(go[1]);
	if (how == 'e') {
		int st;
		r = waitpid(pid, &st, 0) == pid ? 0 : -1;
		show(cn(c, "child_exit"), r, errno, p);
	} else {
		wait_byte(done[0]);
		show(cn(c, how == 'c' ? "child_close" : "child_exec"), 0, 0, p);
	}
	move(cn(c, "mremap"), p);
	if (how != 'e') {
		send_byte(go[1]);
		int st;
		waitpid(pid, &st, 0);
	}
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "exec-helper") == 0) {
		// The exec'd child: tell the parent it runs, wait to be let go.
		int in = atoi(argv[2]), out = atoi(argv[3]);
		send_byte(out);
		wait_byte(in);
		return 0;
	}
	PG = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("readlink exe");
	self[n] = 0;

	simple("close", drop_close, UFFDIO_REGISTER_MODE_MISSING, 0);
	simple("close/wp", drop_close, UFFDIO_REGISTER_MODE_WP, 0);
	simple("close/missing_wp", drop_close, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP, 0);
	simple("close/apart", drop_close, UFFDIO_REGISTER_MODE_MISSING, 1);
	simple("dup2", drop_dup2, UFFDIO_REGISTER_MODE_MISSING, 0);
	simple("dup2/apart", drop_dup2, UFFDIO_REGISTER_MODE_MISSING, 1);
	simple("dup3", drop_dup3, UFFDIO_REGISTER_MODE_MISSING, 0);
	simple("close_range", drop_close_range, UFFDIO_REGISTER_MODE_MISSING, 0);
	simple("close_range/up", drop_close_range_up, UFFDIO_REGISTER_MODE_WP, 0);
	simple("close_range/apart", drop_close_range, UFFDIO_REGISTER_MODE_MISSING, 1);
	dupcopy();
	two();
	child("fork_exit", 0, 'e', self);
	child("fork_exit/early", 1, 'e', self);
	child("fork_close", 0, 'c', self);
	child("fork_close/early", 1, 'c', self);
	child("fork_exec", 0, 'x', self);
	printf("done\n");
	return 0;
}
