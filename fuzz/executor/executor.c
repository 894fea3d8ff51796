// executor.c: runs one script of the differential fuzzer (package fuzz).
//
//   executor SCRIPT
//
// A script is a list of calls, one a line: a name and numeric arguments.
// An argument written wN (N may be negative) is the window's base plus N;
// any other is a plain number (strtoull base 0). Every call stays inside a
// fixed window (plus a margin below and above) so that it cannot hurt the
// executor itself. The executor echoes each line with its result and,
// whenever the window's mappings changed, the new list (offsets, perms,
// backing, VmFlags). Only stable facts are printed: offsets into the
// window, errno names, signal numbers and codes, content hashes. The same
// script must print the same text natively and under madvisor.
//
// Blocks: "fork" runs the lines up to its "end" in a child (the parent
// waits), "thread" runs them in a new thread (joined). A block without an
// "end" runs to the end of the script, and a stray "end" is ignored: the
// minimizer removes lines freely.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// The window: far from where the kernel puts anything by itself.
#define WINDOW_BASE UINT64_C(0x300000000000)
#define WINDOW_SIZE (UINT64_C(64) << 20)
#define MARGIN (UINT64_C(64) << 12)
#define PAGE UINT64_C(4096)

#define SYS_process_madvise_ 440
#define SYS_pidfd_open_ 434
#define SYS_mseal_ 462
#define SYS_mlock2_ 325

enum { MAXARGS = 8, MAXLINES = 1 << 16 };

struct line {
	char name[16];
	int nargs;
	uint64_t arg[MAXARGS];
	char text[160];
};

static struct line *lines;
static int nlines;

// The files a mapping can be backed by: selected by the fd argument
// 0..2 of mmap and ftrunc.
static int files[3];
static const char *file_names[3] = {"memfd", "tmpfile", "zero"};
static int self_pidfd = -1;

// Output goes through one buffer per line, written with one write(2):
// children and threads never interleave within a line, and nothing sits
// in a stdio buffer across a fork.
static __thread char outbuf[1 << 16];
static __thread size_t outlen;

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(outbuf + outlen, sizeof(outbuf) - outlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		outlen += (size_t)n < sizeof(outbuf) - outlen ? (size_t)n : sizeof(outbuf) - outlen - 1;
}

static __thread const char *prefix = "";

static void flush(void)
{
	size_t off = 0;
	while (off < outlen) {
		ssize_t n = write(1, outbuf + off, outlen - off);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			_exit(70);
		}
		off += n;
	}
	outlen = 0;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EHWPOISON: return "EHWPOISON";
	default: {
		static __thread char buf[16];
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
	}
}

static int in_reach(uint64_t a)
{
	return a >= WINDOW_BASE - MARGIN && a < WINDOW_BASE + WINDOW_SIZE + MARGIN;
}

// addr prints an address as an offset into the window, or "out".
static void out_addr(uint64_t a)
{
	if (in_reach(a)) {
		int64_t off = (int64_t)(a - WINDOW_BASE);
		out("w%s%#" PRIx64, off < 0 ? "-" : "", (uint64_t)(off < 0 ? -off : off));
	} else {
		out("out");
	}
}

// ---- touching memory: a read or write that may fault ----

static __thread sigjmp_buf touch_jmp;
static __thread volatile int touching;
static __thread volatile int fault_sig, fault_code;
static __thread volatile uint64_t fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!touching) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	fault_sig = sig;
	fault_code = si->si_code;
	fault_addr = (uint64_t)si->si_addr;
	siglongjmp(touch_jmp, 1);
}

// touch reads (write=0) or writes the byte at a; returns 0 or the signal.
static int touch(uint64_t a, int write, unsigned char val, unsigned char *got)
{
	touching = 1;
	if (sigsetjmp(touch_jmp, 1)) {
		touching = 0;
		return fault_sig;
	}
	volatile unsigned char *p = (volatile unsigned char *)a;
	if (write)
		*p = val;
	*got = *p;
	touching = 0;
	return 0;
}

// ---- the window's state ----

static __thread char last_maps[1 << 15];

// kind names a mapping's backing from its maps line.
static const char *kind(const char *path, uint64_t inode)
{
	if (inode == 0)
		return *path ? path : "anon";
	struct stat st;
	for (int i = 0; i < 3; i++)
		if (fstat(files[i], &st) == 0 && st.st_ino == inode)
			return file_names[i];
	return "file?";
}

// dump_maps prints the window's VMAs (from /proc/self/smaps) when they
// differ from the last dump of this thread.
static void dump_maps(int force)
{
	static __thread char cur[sizeof(last_maps)];
	size_t len = 0;
	cur[0] = 0;
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f) {
		out("%s  maps: cannot open: %s\n", prefix, errname(errno));
		return;
	}
	char buf[512];
	int inwin = 0;
	while (fgets(buf, sizeof(buf), f)) {
		uint64_t s, e, off, inode;
		char perms[8], dev[16], path[256] = "";
		int n = sscanf(buf, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %15s %" SCNu64 " %255s",
			       &s, &e, perms, &off, dev, &inode, path);
		if (n >= 6) {
			inwin = in_reach(s);
			if (inwin && len < sizeof(cur) - 256) {
				len += snprintf(cur + len, sizeof(cur) - len, "%s  vma %#" PRIx64 "-%#" PRIx64 " %s %s",
						prefix, s - WINDOW_BASE, e - WINDOW_BASE, perms, kind(path, inode));
				if (inode)
					len += snprintf(cur + len, sizeof(cur) - len, "@%#" PRIx64, off);
			}
			continue;
		}
		if (inwin && strncmp(buf, "VmFlags:", 8) == 0 && len < sizeof(cur) - 256) {
			char *v = buf + 8;
			while (*v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			// "sd" (soft-dirty) is there only with CONFIG_MEM_SOFT_DIRTY,
			// a kernel option, not madvise semantics: left out, so that
			// kernels with and without it print alike.
			char *sd = strstr(v, "sd ");
			if (sd && (sd == v || sd[-1] == ' '))
				memmove(sd, sd + 3, strlen(sd + 3) + 1);
			len += snprintf(cur + len, sizeof(cur) - len, " [%s]\n", v);
		}
	}
	fclose(f);
	if (!force && strcmp(cur, last_maps) == 0)
		return;
	strcpy(last_maps, cur);
	out("%s  maps:%s\n%s", prefix, len ? "" : " (none)", cur);
}

// dump_contents prints a hash of each VMA's bytes in the window, reading
// every page (a fault marks the page with its signal).
static void dump_contents(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	uint64_t ranges[512][2];
	int n = 0;
	char buf[512];
	while (fgets(buf, sizeof(buf), f) && n < 512) {
		uint64_t s, e;
		if (sscanf(buf, "%" SCNx64 "-%" SCNx64, &s, &e) == 2 && in_reach(s)) {
			ranges[n][0] = s;
			ranges[n][1] = e;
			n++;
		}
	}
	fclose(f);
	for (int i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ULL;
		char marks[64] = "";
		int nm = 0;
		for (uint64_t a = ranges[i][0]; a < ranges[i][1]; a += PAGE) {
			unsigned char got;
			int sig = touch(a, 0, 0, &got);
			if (sig) {
				h = (h ^ (uint64_t)(sig * 256 + fault_code)) * 1099511628211ULL;
				if (nm < 60)
					marks[nm++] = sig == SIGBUS ? 'b' : 'x';
				continue;
			}
			const uint64_t *p = (const uint64_t *)a;
			for (int k = 0; k < (int)(PAGE / 8); k++)
				h = (h ^ p[k]) * 1099511628211ULL;
			if (nm < 60)
				marks[nm++] = '.';
		}
		marks[nm] = 0;
		out("%s  data %#" PRIx64 "-%#" PRIx64 " %016" PRIx64 " %s\n", prefix, ranges[i][0] - WINDOW_BASE,
		    ranges[i][1] - WINDOW_BASE, h, marks);
	}
}

// ---- the calls ----

static void result(long r, int e, int is_addr)
{
	if (r == -1) {
		out(" = -1 %s\n", errname(e));
		return;
	}
	out(" = ");
	if (is_addr)
		out_addr((uint64_t)r);
	else
		out("%ld", r);
	out("\n");
}

static int run(int from, int to);

struct block {
	int from, to;
	const char *prefix;
};

static void *thread_main(void *arg)
{
	struct block *b = arg;
	prefix = b->prefix;
	run(b->from, b->to);
	return NULL;
}

// block_end finds the "end" that closes the block opened at i.
static int block_end(int i, int to)
{
	int depth = 0;
	for (int j = i + 1; j < to; j++) {
		if (!strcmp(lines[j].name, "fork") || !strcmp(lines[j].name, "thread"))
			depth++;
		else if (!strcmp(lines[j].name, "end") && depth-- == 0)
			return j;
	}
	return to;
}

static char *prefix_for(const char *tag)
{
	char *p = malloc(strlen(prefix) + strlen(tag) + 1);
	strcpy(p, prefix);
	strcat(p, tag);
	return p;
}

static void do_line(struct line *l)
{
	uint64_t *a = l->arg;
	long r = 0;
	int is_addr = 0;
	const char *n = l->name;
	errno = 0;
	out("%s%s", prefix, l->text);
	if (!strcmp(n, "mmap")) {
		int fd = (int)a[4] < 3 && (int)a[4] >= 0 ? files[a[4]] : -1;
		void *p = mmap((void *)a[0], a[1], (int)a[2], (int)a[3], fd, (off_t)a[5]);
		int e = errno;
		if (p != MAP_FAILED && !in_reach((uint64_t)p))
			munmap(p, a[1]);
		errno = e;
		r = p == MAP_FAILED ? -1 : (long)p;
		is_addr = 1;
	} else if (!strcmp(n, "munmap")) {
		r = munmap((void *)a[0], a[1]);
	} else if (!strcmp(n, "mprotect")) {
		r = mprotect((void *)a[0], a[1], (int)a[2]);
	} else if (!strcmp(n, "madvise")) {
		r = syscall(SYS_madvise, a[0], a[1], (long)(int)a[2]);
	} else if (!strcmp(n, "mseal")) {
		r = syscall(SYS_mseal_, a[0], a[1], a[2]);
	} else if (!strcmp(n, "mlock")) {
		r = mlock((void *)a[0], a[1]);
	} else if (!strcmp(n, "mlock2")) {
		r = syscall(SYS_mlock2_, a[0], a[1], a[2]);
	} else if (!strcmp(n, "munlock")) {
		r = munlock((void *)a[0], a[1]);
	} else if (!strcmp(n, "mlockall")) {
		r = mlockall((int)a[0]);
	} else if (!strcmp(n, "munlockall")) {
		r = munlockall();
	} else if (!strcmp(n, "mremap")) {
		void *p = (void *)syscall(SYS_mremap, a[0], a[1], a[2], a[3], a[4]);
		int e = errno;
		if (p != MAP_FAILED && !in_reach((uint64_t)p))
			munmap(p, a[2]);
		errno = e;
		r = p == MAP_FAILED ? -1 : (long)p;
		is_addr = 1;
	} else if (!strcmp(n, "pmadv")) {
		// pmadv WHO ADVICE ADDR1 LEN1 [ADDR2 LEN2]: WHO 0 a pidfd of
		// this process, 1 PIDFD_SELF_THREAD, 2 PIDFD_SELF_THREAD_GROUP.
		int pidfd = a[0] == 0 ? self_pidfd : a[0] == 1 ? -10000 : -10001;
		struct iovec iov[2] = {{(void *)a[2], a[3]}, {(void *)a[4], a[5]}};
		int vlen = l->nargs >= 6 ? 2 : 1;
		r = syscall(SYS_process_madvise_, pidfd, iov, vlen, (long)(int)a[1], 0);
	} else if (!strcmp(n, "touch")) {
		// touch ADDR WRITE: one byte, read or written (with the line's
		// number, so that contents tell writes apart).
		unsigned char got = 0;
		int sig = touch(a[0], (int)a[1], (unsigned char)(l - lines), &got);
		if (sig)
			out(" = sig %d code %d at ", sig, fault_code), out_addr(fault_addr), out("\n");
		else
			out(" = ok %02x\n", got);
		return;
	} else if (!strcmp(n, "ftrunc")) {
		r = a[0] < 2 ? ftruncate(files[a[0]], (off_t)a[1]) : (errno = EINVAL, -1);
	} else if (!strcmp(n, "state")) {
		out("\n");
		dump_contents();
		dump_maps(1);
		return;
	} else {
		out(" = unknown call\n");
		return;
	}
	result(r, errno, is_addr);
}

static int run(int from, int to)
{
	for (int i = from; i < to; i++) {
		struct line *l = &lines[i];
		if (!strcmp(l->name, "end"))
			continue;
		if (!strcmp(l->name, "fork") || !strcmp(l->name, "thread")) {
			int end = block_end(i, to);
			out("%s%s\n", prefix, l->text);
			flush();
			if (l->name[0] == 'f') {
				pid_t pid = fork();
				if (pid == 0) {
					prefix = prefix_for("c| ");
					last_maps[0] = 0;
					run(i + 1, end);
					dump_contents();
					dump_maps(1);
					flush();
					_exit(0);
				}
				int st = 0;
				if (pid < 0 || waitpid(pid, &st, 0) < 0)
					out("%s  fork failed: %s\n", prefix, errname(errno));
				else if (WIFSIGNALED(st))
					out("%s  child killed by signal %d\n", prefix, WTERMSIG(st));
				else
					out("%s  child exit %d\n", prefix, WEXITSTATUS(st));
			} else {
				pthread_t t;
				struct block b = {i + 1, end, prefix_for("t| ")};
				int e = pthread_create(&t, NULL, thread_main, &b);
				if (e)
					out("%s  pthread_create failed: %s\n", prefix, errname(e));
				else
					pthread_join(t, NULL);
				// The thread's own maps dumps are its own: show this one's
				// view again.
			}
			i = end;
			dump_maps(0);
			flush();
			continue;
		}
		do_line(l);
		dump_maps(0);
		flush();
	}
	return 0;
}

static uint64_t parse_arg(const char *tok)
{
	if (tok[0] == 'w') {
		const char *s = tok + 1;
		int neg = *s == '-';
		if (neg || *s == '+')
			s++;
		uint64_t off = strtoull(s, NULL, 0);
		return neg ? WINDOW_BASE - off : WINDOW_BASE + off;
	}
	if (tok[0] == '-')
		return (uint64_t)strtoll(tok, NULL, 0);
	return strtoull(tok, NULL, 0);
}

static void load(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "executor: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	lines = calloc(MAXLINES, sizeof(*lines));
	char buf[512];
	while (fgets(buf, sizeof(buf), f) && nlines < MAXLINES) {
		buf[strcspn(buf, "\n#")] = 0;
		char *save, *tok = strtok_r(buf, " \t", &save);
		if (!tok)
			continue;
		struct line *l = &lines[nlines++];
		snprintf(l->name, sizeof(l->name), "%s", tok);
		int len = snprintf(l->text, sizeof(l->text), "%s", tok);
		while ((tok = strtok_r(NULL, " \t", &save)) && l->nargs < MAXARGS) {
			l->arg[l->nargs++] = parse_arg(tok);
			len += snprintf(l->text + len, sizeof(l->text) - len, " %s", tok);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: executor SCRIPT\n");
		return 2;
	}
	load(argv[1]);

	files[0] = memfd_create("fuzz", 0);
	char tmpl[] = "/tmp/madvisor-fuzz-XXXXXX";
	files[1] = mkstemp(tmpl);
	if (files[1] >= 0)
		unlink(tmpl);
	files[2] = open("/dev/zero", O_RDWR | O_CLOEXEC);
	if (files[0] < 0 || files[1] < 0 || files[2] < 0 || ftruncate(files[0], 16 * PAGE) ||
	    ftruncate(files[1], 8 * PAGE)) {
		fprintf(stderr, "executor: cannot make the backing files: %s\n", strerror(errno));
		return 2;
	}
	// Recognizable file contents.
	static char page[PAGE];
	for (int i = 0; i < 16; i++) {
		memset(page, 'A' + i, sizeof(page));
		if (pwrite(files[0], page, PAGE, i * PAGE) != (ssize_t)PAGE ||
		    (i < 8 && pwrite(files[1], page, PAGE, i * PAGE) != (ssize_t)PAGE)) {
			fprintf(stderr, "executor: cannot fill the backing files: %s\n", strerror(errno));
			return 2;
		}
	}
	self_pidfd = (int)syscall(SYS_pidfd_open_, getpid(), 0);

	struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	dump_maps(1);
	flush();
	run(0, nlines);
	out("final\n");
	dump_contents();
	dump_maps(1);
	flush();
	return 0;
}
