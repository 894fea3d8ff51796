// madv_oldadv: what a program sees of the advice that kernels before 6.1
// lack (madvisor emulates them there): POPULATE_READ / POPULATE_WRITE
// (the pages faulted in, copy-on-write broken, a file's end, no waiter
// woken, no concurrent store lost), WIPEONFORK / KEEPONFORK (the child's
// memory, the flag in smaps, the split), DONTNEED_LOCKED on mlocked memory
// (contents, still locked), PAGEOUT on a shared file (contents kept),
// FREE, and process_madvise on the own process and on a child.
#include "madv_common.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define NP 4

// pm_kind describes n pages: P present and anonymous, F present and in
// the page cache (a file or shmem page: pagemap bit 61), - not present.
static const char *pm_kind(char *base, int n) {
	static char out[4][32];
	static int slot;
	char *o = out[slot++ % 4];
	for (int i = 0; i < n; i++) {
		uint64_t e = pagemap(base + (long)i * PG);
		o[i] = !(e & (1ULL << 63)) ? '-' : (e & (1ULL << 61)) ? 'F' : 'P';
		o[i + 1] = 0;
	}
	return o;
}

static long vm_locked_kb(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char l[256];
	long kb = -1;
	while (f && fgets(l, sizeof(l), f))
		if (sscanf(l, "VmLck: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

// ---- POPULATE ----

static volatile int *wait_word;
static atomic_int waiter_state; // 1 waiting, then 2 woken, 3 timed out

static void *waiter(void *arg) {
	(void)arg;
	struct timespec ts = {0, 300 * 1000 * 1000};
	atomic_store(&waiter_state, 1);
	long r = syscall(SYS_futex, wait_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	atomic_store(&waiter_state, r == 0 ? 2 : errno == ETIMEDOUT ? 3 : 4);
	return NULL;
}

#define STORES 2000000
static volatile int *counter;
static atomic_int stores_go;

static void *storer(void *arg) {
	(void)arg;
	while (!atomic_load(&stores_go))
		;
	for (int i = 0; i < STORES; i++)
		(*counter)++;
	return NULL;
}

static void populate_cases(void) {
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = madv(p, NP * PG, A_POPULATE_READ);
	line("populate/anon/READ", r, errno, "pm=%s b=%s", pm_kind(p, NP), first_bytes(p, 2));
	r = madv(p, NP * PG, A_POPULATE_WRITE);
	line("populate/anon/WRITE", r, errno, "pm=%s b=%s", pm_kind(p, NP), first_bytes(p, 2));
	release(p, NP);

	// A private file mapping: READ maps the page cache, WRITE copies.
	int fd = tmpfile_pages(NP, 'F', O_RDWR);
	p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	r = madv(p, 2 * PG, A_POPULATE_READ);
	// (Only the populated pages: fault-around may map their neighbours.)
	line("populate/file_priv/READ", r, errno, "pm=%s", pm_kind(p, 2));
	r = madv(p + 2 * PG, 2 * PG, A_POPULATE_WRITE);
	char f3;
	if (pread(fd, &f3, 1, 3 * PG) != 1)
		die("pread");
	line("populate/file_priv/WRITE", r, errno, "pm=%s b=%s file=%c", pm_kind(p, NP), first_bytes(p, NP), f3);
	release(p, NP);

	// A shared mapping past the end of its file: pages before the end are
	// populated, then EFAULT.
	if (ftruncate(fd, 2 * PG))
		die("ftruncate");
	p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	r = madv(p, NP * PG, A_POPULATE_READ);
	line("populate/past_eof/READ", r, errno, "pm=%s", pm_kind(p, NP));
	madv(p, NP * PG, A_DONTNEED);
	r = madv(p, NP * PG, A_POPULATE_WRITE);
	line("populate/past_eof/WRITE", r, errno, "pm=%s", pm_kind(p, NP));
	release(p, NP);
	close(fd);

	// Read-only: WRITE refused, READ done; PROT_NONE: READ refused.
	p = map_anon(NP, PROT_READ, MAP_PRIVATE);
	r = madv(p, NP * PG, A_POPULATE_WRITE);
	line("populate/readonly/WRITE", r, errno, "pm=%s", pm_kind(p, NP));
	r = madv(p, NP * PG, A_POPULATE_READ);
	line("populate/readonly/READ", r, errno, "pm=%s", pm_kind(p, NP));
	mprotect(p, NP * PG, PROT_NONE);
	r = madv(p, NP * PG, A_POPULATE_READ);
	line("populate/none/READ", r, errno, "pm=%s", pm_kind(p, NP));
	release(p, NP);

	// A thread waiting on the first word of a page is not woken by
	// POPULATE_WRITE of that page.
	p = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	wait_word = (volatile int *)p;
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	while (atomic_load(&waiter_state) != 1)
		;
	usleep(50 * 1000);
	r = madv(p, PG, A_POPULATE_WRITE);
	int e = errno;
	pthread_join(th, NULL);
	line("populate/waiter/WRITE", r, e, "waiter=%s pm=%s",
	     atomic_load(&waiter_state) == 3 ? "timed-out" : atomic_load(&waiter_state) == 2 ? "woken" : "error",
	     pm_kind(p, 1));
	release(p, 1);

	// A thread storing to a page while it is populated for writing loses
	// no store.
	p = map_anon(64, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	counter = (volatile int *)p;
	*counter = 0;
	pthread_create(&th, NULL, storer, NULL);
	atomic_store(&stores_go, 1);
	long rs = 0;
	for (int i = 0; i < 20; i++) {
		madv(p + PG, 63 * PG, A_DONTNEED);
		rs |= madv(p, 64 * PG, A_POPULATE_WRITE);
	}
	pthread_join(th, NULL);
	line("populate/concurrent_stores/WRITE", rs, errno, "counter=%s", *counter == STORES ? "all-stores" : "lost-stores");
	release(p, 64);
}

// ---- WIPEONFORK / KEEPONFORK ----

static void fork_cases(void) {
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	long r = madv(p + PG, 2 * PG, A_WIPEONFORK);
	line("fork/WIPEONFORK", r, errno, "vmas=%d flags=%s|%s|%s", count_vmas(p, p + NP * PG), vmflags(p),
	     vmflags(p + PG), vmflags(p + 3 * PG));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		const char *pm = pm_kind(p, NP);
		note("fork/child", "pm=%s b=%s flags=%s", pm, first_bytes(p, NP), vmflags(p + PG));
		p[PG] = 'C';
		pid_t g = fork();
		if (g == 0) {
			note("fork/grandchild", "b=%s", first_bytes(p, NP));
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	note("fork/parent_after", "b=%s", first_bytes(p, NP));
	r = madv(p + PG, PG, A_KEEPONFORK);
	line("fork/KEEPONFORK", r, errno, "vmas=%d flags=%s|%s|%s", count_vmas(p, p + NP * PG), vmflags(p + PG),
	     vmflags(p + 2 * PG), vmflags(p + 3 * PG));
	fflush(stdout);
	c = fork();
	if (c == 0) {
		note("fork/child_after_keep", "b=%s", first_bytes(p, NP));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	// WIPEONFORK is refused on anything but private anonymous memory.
	int fd = tmpfile_pages(1, 'F', O_RDWR);
	char *f = mmap(reserve(1), PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	r = madv(f, PG, A_WIPEONFORK);
	line("fork/WIPEONFORK_file", r, errno, "flags=%s", vmflags(f));
	release(f, 1);
	close(fd);
	release(p, NP);
}

// ---- DONTNEED_LOCKED, PAGEOUT, COLD, FREE ----

static void discard_cases(void) {
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	if (mlock(p, NP * PG))
		die("mlock");
	long before = vm_locked_kb();
	long r = madv(p + PG, 2 * PG, A_DONTNEED_LOCKED);
	line("discard/DONTNEED_LOCKED_mlocked", r, errno, "b=%s vmas=%d flags=%s locked_kb_delta=%ld", first_bytes(p, NP),
	     count_vmas(p, p + NP * PG), vmflags(p + PG), vm_locked_kb() - before);
	r = madv(p, NP * PG, A_DONTNEED);
	line("discard/DONTNEED_mlocked", r, errno, "b=%s", first_bytes(p, NP));
	munlock(p, NP * PG);
	release(p, NP);

	p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	fill(p, NP, 'A');
	if (mlock2(p, NP * PG, MLOCK_ONFAULT))
		die("mlock2");
	r = madv(p, 2 * PG, A_DONTNEED_LOCKED);
	int e = errno;
	const char *pm = pm_kind(p, NP);
	line("discard/DONTNEED_LOCKED_onfault", r, e, "pm=%s b=%s flags=%s", pm, first_bytes(p, NP), vmflags(p));
	munlock(p, NP * PG);
	release(p, NP);

	// PAGEOUT on a shared file mapping: the contents stay in the file.
	int fd = tmpfile_pages(NP, 'F', O_RDWR);
	p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	p[0] = 'S';
	(void)*(volatile char *)(p + PG);
	// (Which pages reclaim takes is best effort, and fault-around may
	// have mapped pages 2 and 3: no pagemap here.)
	r = madv(p, 2 * PG, A_PAGEOUT);
	line("discard/PAGEOUT_file_shared", r, errno, "");
	note("discard/PAGEOUT_file_shared_after", "b=%s", first_bytes(p, NP));
	r = madv(p, NP * PG, A_COLD);
	line("discard/COLD_file_shared", r, errno, "b=%s", first_bytes(p, NP));
	release(p, NP);
	close(fd);

	// PAGEOUT and COLD on a locked VMA: EINVAL.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mlock(p, NP * PG);
	r = madv(p, NP * PG, A_PAGEOUT);
	line("discard/PAGEOUT_mlocked", r, errno, "");
	r = madv(p, NP * PG, A_COLD);
	line("discard/COLD_mlocked", r, errno, "");
	munlock(p, NP * PG);
	// FREE: the contents may stay or go until written again; a write
	// keeps the page.
	fill(p, NP, 'A');
	r = madv(p, NP * PG, A_FREE);
	p[0] = 'W';
	line("discard/FREE", r, errno, "b0=%s", probe(p, p, 0, 0));
	release(p, NP);
}

// ---- process_madvise ----

static void pmadv_cases(void) {
	int self = syscall(SYS_pidfd_open_, getpid(), 0);
	int fd = tmpfile_pages(2, 'F', O_RDWR);
	char *p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	struct iovec iov[2] = {{p, PG}, {p + PG, 3 * PG}};
	long r = pmadv(self, iov, 2, A_POPULATE_WRITE, 0);
	line("pmadv/self/POPULATE_WRITE_past_eof", r, errno, "pm=%s", pm_kind(p, NP));
	struct iovec one = {p + 2 * PG, 2 * PG};
	r = pmadv(self, &one, 1, A_POPULATE_READ, 0);
	line("pmadv/self/POPULATE_READ_past_eof", r, errno, "");
	r = pmadv(self, iov, 1, A_PAGEOUT, 0);
	line("pmadv/self/PAGEOUT", r, errno, "pm=%s", best_effort(pm_kind(p, NP), 0, 1));
	release(p, NP);
	close(fd);

	char *q = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(q, NP, 'A');
	struct iovec qv = {q, NP * PG};
	r = pmadv(self, &qv, 1, A_WIPEONFORK, 0);
	line("pmadv/self/WIPEONFORK", r, errno, "flags=%s", vmflags(q));
	fflush(stdout);
	int go[2], ready[2];
	if (pipe(go) || pipe(ready))
		die("pipe");
	pid_t c = fork();
	if (c == 0) {
		char x;
		note("pmadv/child", "b=%s", first_bytes(q, 2));
		fflush(stdout);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &x, 1) != 1)
			_exit(1);
		_exit(0);
	}
	int child = syscall(SYS_pidfd_open_, c, 0);
	struct iovec cv = {q, NP * PG};
	char x;
	if (read(ready[0], &x, 1) != 1) // the child's note comes first
		die("read");
	r = pmadv(child, &cv, 1, A_COLD, 0);
	line("pmadv/child/COLD", r, errno, "");
	r = pmadv(child, &cv, 1, A_PAGEOUT, 0);
	line("pmadv/child/PAGEOUT", r, errno, "");
	r = pmadv(child, &cv, 1, A_DONTNEED, 0);
	line("pmadv/child/DONTNEED", r, errno, "");
	struct iovec hole = {q + NP * PG, PG};
	r = pmadv(child, &hole, 1, A_COLD, 0);
	line("pmadv/child/COLD_fence", r, errno, "");
	if (write(go[1], "x", 1) != 1)
		die("write");
	waitpid(c, NULL, 0);
	close(child);
	close(self);
	release(q, NP);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	populate_cases();
	fork_cases();
	discard_cases();
	pmadv_cases();
	printf("done\n");
	return 0;
}
