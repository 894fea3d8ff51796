// bypass_iouring: io_uring requests run in the kernel, out of the seccomp
// filter's sight. IORING_OP_MADVISE would change memory the model does not
// hear of (DONTNEED of sealed memory, guard regions, DOFORK): under
// madvisor every ring is restricted so that a MADVISE request fails with
// EACCES, as on a ring whose owner restricted it; everything else works.
// A ring the program creates disabled keeps its own restrictions, less
// MADVISE. Natively the requests run.
#include "madv_common.h"
#include <linux/io_uring.h>

#ifndef IORING_SETUP_R_DISABLED
#define IORING_SETUP_R_DISABLED (1U << 6)
#endif
#define SYS_io_uring_setup_ 425
#define SYS_io_uring_enter_ 426
#define SYS_io_uring_register_ 427

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r, unsigned flags, unsigned *flags_after) {
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	r->fd = syscall(SYS_io_uring_setup_, 4, &p);
	if (r->fd < 0)
		return -1;
	*flags_after = p.flags;
	size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		die("mmap ring");
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

// submit runs one request and returns its result (or the enter's error).
static int submit(struct ring *r, uint8_t op, void *addr, unsigned len, int advice) {
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = op;
	sqe->fd = -1;
	sqe->addr = (uintptr_t)addr;
	sqe->len = len;
	sqe->fadvise_advice = advice;
	sqe->user_data = 42;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	long n = syscall(SYS_io_uring_enter_, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
	if (n < 0)
		return -errno;
	unsigned head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -10000;
	int res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static void result(const char *name, int res, const char *fmt, ...) {
	printf("%s: res=%s", name, res == 0 ? "0" : res > 0 ? "positive" : ename(-res));
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		putchar(' ');
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

// madvise_cases runs the MADVISE requests on ring r, names prefixed.
static void madvise_cases(const char *pre, struct ring *r) {
	char name[96];
	snprintf(name, sizeof(name), "%s-nop", pre);
	result(name, submit(r, IORING_OP_NOP, NULL, 0, 0), "");

	char *p = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, 2, 'x');
	snprintf(name, sizeof(name), "%s-madvise-dontneed", pre);
	int res = submit(r, IORING_OP_MADVISE, p, PG, A_DONTNEED);
	result(name, res, "byte=%d", p[0]);
	snprintf(name, sizeof(name), "%s-madvise-guard", pre);
	res = submit(r, IORING_OP_MADVISE, p + PG, PG, A_GUARD_INSTALL);
	result(name, res, "touch=%s", probe(p, p + PG, 0, 0));
	release(p, 2);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	struct ring r;
	unsigned after;
	if (ring_setup(&r, 0, &after) < 0) {
		note("setup", "unavailable (%s)", ename(errno));
		return 0;
	}
	note("setup", "ok flags=%#x", after);
	madvise_cases("ring", &r);

	// Sealed read-only memory: DONTNEED would zero it (the kernel refuses
	// it for a sealed VMA the caller cannot write).
	char *s = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(s, 1, 's');
	mprotect(s, PG, PROT_READ);
	long sr = mseal_(s, PG);
	line("mseal", sr, errno, "");
	int sres = submit(&r, IORING_OP_MADVISE, s, PG, A_DONTNEED);
	result("ring-madvise-sealed", sres, "byte=%d", s[0]);

	// A ring the program creates disabled and restricts itself, allowing
	// NOP and MADVISE, then enables.
	struct ring d;
	if (ring_setup(&d, IORING_SETUP_R_DISABLED, &after) < 0)
		die("io_uring_setup disabled");
	struct io_uring_restriction res[3];
	memset(res, 0, sizeof(res));
	res[0].opcode = IORING_RESTRICTION_SQE_OP;
	res[0].sqe_op = IORING_OP_NOP;
	res[1].opcode = IORING_RESTRICTION_SQE_OP;
	res[1].sqe_op = IORING_OP_MADVISE;
	res[2].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[2].register_op = IORING_REGISTER_ENABLE_RINGS;
	long rr = syscall(SYS_io_uring_register_, d.fd, IORING_REGISTER_RESTRICTIONS, res, 3);
	line("own-restrictions", rr, errno, "");
	rr = syscall(SYS_io_uring_register_, d.fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	line("own-enable", rr, errno, "");
	madvise_cases("own", &d);

	// Created disabled, enabled without restrictions of its own.
	struct ring e;
	if (ring_setup(&e, IORING_SETUP_R_DISABLED, &after) < 0)
		die("io_uring_setup disabled");
	rr = syscall(SYS_io_uring_register_, e.fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	line("enable", rr, errno, "");
	madvise_cases("enabled", &e);
	rr = syscall(SYS_io_uring_register_, e.fd, IORING_REGISTER_RESTRICTIONS, res, 3);
	line("restrict-enabled", rr, errno, "");
	return 0;
}
