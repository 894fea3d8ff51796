// madv_guard: what a program can observe of guard regions
// (MADV_GUARD_INSTALL / MADV_GUARD_REMOVE): SIGSEGV with si_code and si_addr,
// EFAULT from read(2)/write(2)/process_vm_readv, EIO from /proc/self/mem,
// maps without a split, smaps VmFlags "gu" and Rss, pagemap bits 58 and 62,
// PAGEMAP_SCAN's PAGE_IS_GUARD, POPULATE and mlock over a guard, the advice
// that leaves markers alone, mprotect, munmap, mremap, fork (inherit,
// WIPEONFORK, DONTFORK, the child's GUARD_REMOVE), GUARD_REMOVE's contents.
//
// Each case uses 4 fenced pages with a guard on page 1; offsets are relative
// to the mapping.
#define _GNU_SOURCE
#include "madv_common.h"
#include <sys/ioctl.h>

#define NP 4

enum kind { ANON_PRIV, ANON_SHARED, MEMFD, FILE_PRIV, FILE_SHARED, FILE_RO, ANON_RO, N_KINDS };
static const char *kind_name[] = {"anon_priv", "anon_shared", "memfd", "file_priv", "file_shared", "file_ro", "anon_ro"};

static int kind_fd = -1;

static char *setup(enum kind k) {
	char *p;
	int fd;
	if (kind_fd >= 0)
		close(kind_fd);
	kind_fd = -1;
	switch (k) {
	case ANON_PRIV:
	case ANON_SHARED:
	case ANON_RO:
		p = map_anon(NP, PROT_READ | PROT_WRITE, k == ANON_SHARED ? MAP_SHARED : MAP_PRIVATE);
		fill(p, NP, 'A');
		if (k == ANON_RO && mprotect(p, NP * PG, PROT_READ))
			die("mprotect");
		return p;
	case MEMFD:
		fd = memfd_create("madv_guard", 0);
		if (fd < 0 || ftruncate(fd, NP * PG))
			die("memfd");
		p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap memfd");
		fill(p, NP, 'A');
		kind_fd = fd;
		return p;
	case FILE_PRIV:
	case FILE_SHARED:
	case FILE_RO:
		fd = tmpfile_pages(NP, 'F', k == FILE_RO ? O_RDONLY : O_RDWR);
		p = mmap(reserve(NP), NP * PG, k == FILE_RO ? PROT_READ : PROT_READ | PROT_WRITE,
			 (k == FILE_PRIV ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap file");
		if (k == FILE_PRIV)
			fill(p, NP, 'P');
		if (k == FILE_SHARED)
			fill(p, NP, 'A');
		for (int i = 0; i < NP; i++)
			(void)*(volatile char *)(p + i * PG);
		kind_fd = fd;
		return p;
	default:
		return NULL;
	}
}

static const char *pm_bits(void *addr) {
	static char out[2][64];
	static int slot;
	char *o = out[slot++ % 2];
	uint64_t e = pagemap(addr);
	snprintf(o, 64, "present=%d swapped=%d guard=%d frame_bits_zero=%d", (int)(e >> 63 & 1), (int)(e >> 62 & 1),
		 (int)(e >> 58 & 1), (e & ((1ULL << 55) - 1)) == 0);
	return o;
}

// ---- PAGEMAP_SCAN (6.7; PAGE_IS_GUARD 6.15) ----
struct page_region_ {
	uint64_t start, end, categories;
};
struct pm_scan_arg_ {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
	    category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN_ _IOWR('f', 16, struct pm_scan_arg_)
#define PAGE_IS_PRESENT_ (1 << 3)
#define PAGE_IS_SWAPPED_ (1 << 4)
#define PAGE_IS_GUARD_ (1 << 8)

static void pagemap_scan(const char *name, char *p) {
	int fd = open("/proc/self/pagemap", O_RDONLY);
	struct page_region_ vec[8];
	struct pm_scan_arg_ arg;
	memset(&arg, 0, sizeof(arg));
	memset(vec, 0, sizeof(vec));
	arg.size = sizeof(arg);
	arg.start = (uintptr_t)p;
	arg.end = (uintptr_t)(p + NP * PG);
	arg.vec = (uintptr_t)vec;
	arg.vec_len = 8;
	arg.category_anyof_mask = PAGE_IS_PRESENT_ | PAGE_IS_SWAPPED_ | PAGE_IS_GUARD_;
	arg.return_mask = PAGE_IS_PRESENT_ | PAGE_IS_SWAPPED_ | PAGE_IS_GUARD_;
	long r = ioctl(fd, PAGEMAP_SCAN_, &arg);
	int e = errno;
	char regions[256] = "";
	for (long i = 0; i < r && i < 8; i++) {
		char one[64];
		snprintf(one, sizeof(one), "%s[%ld,%ld):%s%s%s", i ? " " : "", (long)(vec[i].start - (uintptr_t)p) / PG,
			 (long)(vec[i].end - (uintptr_t)p) / PG, vec[i].categories & PAGE_IS_PRESENT_ ? "P" : "",
			 vec[i].categories & PAGE_IS_SWAPPED_ ? "S" : "", vec[i].categories & PAGE_IS_GUARD_ ? "G" : "");
		strcat(regions, one);
	}
	line(name, r, e, "regions=%s", r > 0 ? regions : "-");
	close(fd);
}

// child_probe forks; the child runs what (with p) and prints its line; the
// parent waits.
static void in_child(const char *name, char *p, void (*what)(const char *, char *)) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		what(name, p);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		note(name, "child status %d", st);
}

static void child_touch(const char *name, char *p) {
	int vmas = count_vmas(p, p + NP * PG);
	const char *pm = pages(p, NP);
	const char *b0 = probe(p, p, 0, 0);
	const char *b1 = probe(p, p + PG + 7, 0, 0);
	line(name, 0, 0, "child vmas=%d pm=%s b0=%s b1=%s", vmas, pm, b0, b1);
}

static void child_remove(const char *name, char *p) {
	long r = madv(p + PG, PG, A_GUARD_REMOVE);
	int e = errno;
	line(name, r, e, "child b1=%s", probe(p, p + PG, 0, 0));
}

static void kind_cases(enum kind k) {
	char name[128];
	const char *kn = kind_name[k];
#define NAME(what) (snprintf(name, sizeof(name), "%s/%s", kn, what), name)
	int writable = k != FILE_RO && k != ANON_RO;
	char *p = setup(k);
	long r, rss;
	int e;
	const char *pm, *b1;

	r = madv(p + PG, PG, A_GUARD_INSTALL);
	e = errno;
	const char *fl = vmflags_rss(p, &rss);
	line(NAME("install"), r, e, "vmas=%d flags=%s rss_kb=%ld pm=%s", count_vmas(p, p + NP * PG), fl, rss, pages(p, NP));
	line(NAME("pagemap_guard"), 0, 0, "%s", pm_bits(p + PG));
	line(NAME("pagemap_neighbour"), 0, 0, "present=%d", (int)(pagemap(p) >> 63));
	pagemap_scan(NAME("pagemap_scan"), p);
	line(NAME("touch_read"), 0, 0, "b=%s", probe(p, p + PG + 123, 0, 0));
	line(NAME("touch_read_last_byte"), 0, 0, "b=%s", probe(p, p + 2 * PG - 1, 0, 0));
	line(NAME("touch_write"), 0, 0, "b=%s", probe(p, p + PG + 5, 1, 'x'));
	line(NAME("touch_neighbours"), 0, 0, "b0=%s b2=%s", probe(p, p + PG - 1, 0, 0), probe(p, p + 2 * PG, 0, 0));

	// Kernel copies.
	int zero = open("/dev/zero", O_RDONLY);
	r = read(zero, p + PG, 100);
	line(NAME("read_into_guard"), r, errno, NULL);
	r = read(zero, p + PG - 10, 100);
	line(NAME("read_across_into_guard"), r, errno, NULL);
	close(zero);
	int pfd[2];
	if (pipe(pfd))
		die("pipe");
	r = write(pfd[1], p + PG, 100);
	line(NAME("write_from_guard"), r, errno, NULL);
	r = write(pfd[1], p + PG - 10, 100);
	line(NAME("write_across_guard"), r, errno, NULL);
	close(pfd[0]);
	close(pfd[1]);
	int mem = open("/proc/self/mem", O_RDWR);
	char buf[128];
	r = pread(mem, buf, 100, (off_t)(uintptr_t)(p + PG));
	line(NAME("proc_mem_read"), r, errno, NULL);
	r = pread(mem, buf, 100, (off_t)(uintptr_t)(p + PG - 10));
	line(NAME("proc_mem_read_across"), r, errno, NULL);
	r = pwrite(mem, "zz", 2, (off_t)(uintptr_t)(p + PG));
	line(NAME("proc_mem_write"), r, errno, NULL);
	// The same through read(2)/write(2) at the file position, which only
	// a successful access moves.
	off_t at = lseek(mem, (off_t)(uintptr_t)(p + PG), SEEK_SET);
	r = read(mem, buf, 100);
	line(NAME("proc_mem_read_at_pos"), r, errno, "moved=%ld", (long)(lseek(mem, 0, SEEK_CUR) - at));
	at = lseek(mem, (off_t)(uintptr_t)(p + PG - 10), SEEK_SET);
	r = read(mem, buf, 100);
	line(NAME("proc_mem_read_at_pos_across"), r, errno, "moved=%ld", (long)(lseek(mem, 0, SEEK_CUR) - at));
	at = lseek(mem, (off_t)(uintptr_t)(p + PG), SEEK_SET);
	r = write(mem, "zz", 2);
	line(NAME("proc_mem_write_at_pos"), r, errno, "moved=%ld", (long)(lseek(mem, 0, SEEK_CUR) - at));
	// Vector calls: one access per iovec, stopping at the first short or
	// failed one.
	char buf2[128];
	struct iovec two[2] = {{buf, 10}, {buf2, 100}};
	r = preadv(mem, two, 2, (off_t)(uintptr_t)(p + PG - 10));
	line(NAME("proc_mem_preadv_across"), r, errno, NULL);
	r = preadv(mem, two, 2, (off_t)(uintptr_t)(p + PG));
	line(NAME("proc_mem_preadv_at_guard"), r, errno, NULL);
	at = lseek(mem, (off_t)(uintptr_t)(p + PG - 20), SEEK_SET);
	r = readv(mem, two, 2);
	line(NAME("proc_mem_readv_across"), r, errno, "moved=%ld", (long)(lseek(mem, 0, SEEK_CUR) - at));
	struct iovec wv = {"zz", 2};
	r = pwritev(mem, &wv, 1, (off_t)(uintptr_t)(p + PG));
	line(NAME("proc_mem_pwritev"), r, errno, NULL);
	// A copy of the fd reads the same file.
	int mem2 = fcntl(mem, F_DUPFD_CLOEXEC, 100), mem3 = dup(mem2);
	close(mem);
	at = lseek(mem3, (off_t)(uintptr_t)(p + PG - 10), SEEK_SET);
	r = read(mem3, buf, 100);
	line(NAME("proc_mem_read_dup"), r, errno, "moved=%ld", (long)(lseek(mem2, 0, SEEK_CUR) - at));
	close(mem2);
	close(mem3);
	int pmfd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t ents[NP];
	at = lseek(pmfd, (off_t)((uintptr_t)p / PG * 8), SEEK_SET);
	r = read(pmfd, ents, sizeof(ents));
	char bits[NP * 3 + 1] = "";
	for (int i = 0, n = 0; i < NP && r == sizeof(ents); i++)
		n += snprintf(bits + n, sizeof(bits) - n, "%s%d%d", i ? "," : "", (int)(ents[i] >> 62 & 1),
			      (int)(ents[i] >> 58 & 1));
	line(NAME("pagemap_read_at_pos"), r, errno, "swap_guard=%s moved=%ld", bits,
	     (long)(lseek(pmfd, 0, SEEK_CUR) - at));
	uint64_t e0 = 0, e12[2] = {0, 0};
	struct iovec pv[2] = {{&e0, 8}, {e12, 16}};
	r = preadv(pmfd, pv, 2, (off_t)((uintptr_t)p / PG * 8));
	line(NAME("pagemap_preadv"), r, errno, "guard=%d%d%d", (int)(e0 >> 58 & 1), (int)(e12[0] >> 58 & 1),
	     (int)(e12[1] >> 58 & 1));
	close(pmfd);
	struct iovec local = {buf, 100}, remote = {p + PG, 100};
	r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	line(NAME("process_vm_readv"), r, errno, NULL);
	remote.iov_base = p + PG - 10;
	r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	line(NAME("process_vm_readv_across"), r, errno, NULL);

	// POPULATE and mlock over the guard.
	r = madv(p, NP * PG, A_POPULATE_READ);
	line(NAME("populate_read"), r, errno, NULL);
	r = madv(p, NP * PG, A_POPULATE_WRITE);
	line(NAME("populate_write"), r, errno, NULL);
	r = mlock(p, NP * PG);
	e = errno;
	line(NAME("mlock"), r, e, "flags=%s b1=%s", vmflags(p), probe(p, p + PG, 0, 0));
	munlock(p, NP * PG);
	r = syscall(SYS_mlock2, p, NP * PG, 1 /* MLOCK_ONFAULT */);
	e = errno;
	line(NAME("mlock2_onfault"), r, e, "flags=%s b1=%s", vmflags(p), probe(p, p + PG, 0, 0));
	munlock(p, NP * PG);

	// Advice that leaves markers alone.
	static const struct advice keep[] = {{A_DONTNEED, "DONTNEED"}, {A_DONTNEED_LOCKED, "DONTNEED_LOCKED"}, {A_FREE, "FREE"},
					     {A_COLD, "COLD"},	       {A_PAGEOUT, "PAGEOUT"},			{A_WILLNEED, "WILLNEED"},
					     {A_REMOVE, "REMOVE"},     {A_RANDOM, "RANDOM"},			{A_NORMAL, "NORMAL"}};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "survives/%s", keep[i].name);
		r = madv(p, NP * PG, keep[i].value);
		e = errno;
		int vmas = count_vmas(p, p + NP * PG);
		const char *pm = pages(p, NP);
		line(NAME(what), r, e, "vmas=%d pm=%s b1=%s", vmas, pm, probe(p, p + PG, 0, 0));
	}
	if (kind_fd >= 0 && writable && k != FILE_PRIV) {
		r = fallocate(kind_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, NP * PG);
		e = errno;
		const char *pm = pages(p, NP);
		line(NAME("survives/punch_hole"), r, e, "pm=%s b1=%s", pm, probe(p, p + PG, 0, 0));
	}

	// mprotect never removes or alters markers.
	r = mprotect(p, NP * PG, PROT_READ);
	e = errno;
	pm = pages(p, NP);
	line(NAME("mprotect_ro"), r, e, "pm=%s b1=%s", pm, probe(p, p + PG, 0, 0));
	r = mprotect(p, NP * PG, PROT_NONE);
	e = errno;
	pm = pages(p, NP);
	b1 = probe(p, p + PG, 0, 0);
	line(NAME("mprotect_none"), r, e, "pm=%s b1=%s b2=%s", pm, b1, probe(p, p + 2 * PG, 0, 0));
	r = mprotect(p, NP * PG, writable ? PROT_READ | PROT_WRITE : PROT_READ);
	line(NAME("mprotect_back"), r, errno, "b1=%s vmas=%d", probe(p, p + PG, 0, 0), count_vmas(p, p + NP * PG));

	// Install is idempotent; remove clears the markers, not the data loss.
	r = madv(p + PG, PG, A_GUARD_INSTALL);
	line(NAME("install_again"), r, errno, "pm=%s", pages(p, NP));
	r = madv(p, NP * PG, A_GUARD_REMOVE);
	e = errno;
	fl = vmflags_rss(p, &rss);
	pm = pages(p, NP);
	line(NAME("remove"), r, e, "flags=%s pm=%s b1=%s", fl, pm, probe(p, p + PG, 0, 0));
	r = madv(p, NP * PG, A_GUARD_REMOVE);
	// Page 1 only: the read above may have faulted file pages around it.
	line(NAME("remove_again"), r, errno, "pm1=%s", pages(p + PG, 1));
	// Installing over a populated page discards its contents.
	if (writable)
		p[2 * PG] = 'B';
	r = madv(p + 2 * PG, PG, A_GUARD_INSTALL);
	e = errno;
	madv(p + 2 * PG, PG, A_GUARD_REMOVE);
	line(NAME("install_discards"), r, e, "b2=%s", probe(p, p + 2 * PG, 0, 0));

	// munmap removes markers: a new mapping there is unguarded.
	madv(p + PG, PG, A_GUARD_INSTALL);
	r = munmap(p + PG, PG);
	e = errno;
	char *q = mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	pm = pages(p + PG, 1);
	line(NAME("munmap_remap"), r, e, "remapped=%d pm1=%s b1=%s", q == p + PG, pm, probe(p, p + PG, 0, 0));
	release(p, NP);
#undef NAME
}

static void anon_cases(void) {
	const char *pm;
	char *p, *q;
	long r;
	int e;

	// mremap moves markers with the pages.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	char *dst = reserve(NP);
	q = mremap(p, NP * PG, NP * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	e = errno;
	line("mremap_move", q == MAP_FAILED ? -1 : 0, e, "moved=%d pm=%s b0=%s b1=%s old=%s", q == dst, pages(dst, NP),
	     probe(dst, dst, 0, 0), probe(dst, dst + PG, 0, 0), probe(p, p + PG, 0, 0));
	release(dst, NP);
	release(p, NP); // the old fences

	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	q = mremap(p, NP * PG, 2 * NP * PG, MREMAP_MAYMOVE);
	e = errno;
	if (q == MAP_FAILED)
		line("mremap_expand", -1, e, NULL);
	else {
		const char *pm = pages(q, 2 * NP);
		line("mremap_expand", 0, e, "pm=%s b1=%s b5=%s", pm, probe(q, q + PG, 0, 0), probe(q, q + 5 * PG, 0, 0));
		munmap(q, 2 * NP * PG);
	}
	release(p, NP);

	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	q = mremap(p, NP * PG, PG, 0);
	e = errno;
	char *q2 = mremap(p, PG, NP * PG, 0); // grow back in place (the fence follows)
	int e2 = errno;
	pm = pages(p, NP);
	line("mremap_shrink_grow", q == MAP_FAILED ? -1 : 0, e, "grow=%s pm=%s b1=%s", q2 == p ? "in_place" : ename(e2), pm,
	     probe(p, p + PG, 0, 0));
	release(p, NP);

	// fork: the child inherits markers; its GUARD_REMOVE is its own.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	in_child("fork/child_touch", p, child_touch);
	in_child("fork/child_remove", p, child_remove);
	line("fork/parent_after_child_remove", 0, 0, "b1=%s", probe(p, p + PG, 0, 0));
	release(p, NP);

	// A WIPEONFORK VMA reaches the child with no markers (and zeroed).
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	r = madv(p, NP * PG, A_WIPEONFORK);
	line("fork/wipeonfork", r, errno, "flags=%s", vmflags(p));
	in_child("fork/wipeonfork/child_touch", p, child_touch);
	line("fork/wipeonfork/parent", 0, 0, "b0=%s b1=%s", probe(p, p, 0, 0), probe(p, p + PG, 0, 0));
	release(p, NP);

	// A DONTFORK VMA is absent in the child.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	r = madv(p, NP * PG, A_DONTFORK);
	line("fork/dontfork", r, errno, "flags=%s", vmflags(p));
	in_child("fork/dontfork/child_touch", p, child_touch);
	release(p, NP);

	// A shared mapping: the child's markers are its own page tables too.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_SHARED);
	fill(p, NP, 'A');
	madv(p + PG, PG, A_GUARD_INSTALL);
	in_child("fork/shared/child_touch", p, child_touch);
	in_child("fork/shared/child_remove", p, child_remove);
	line("fork/shared/parent_after_child_remove", 0, 0, "b1=%s", probe(p, p + PG, 0, 0));
	release(p, NP);

	// Guard on PROT_NONE memory: the marker's fault or the protection's?
	p = map_anon(NP, PROT_NONE, MAP_PRIVATE);
	r = madv(p + PG, PG, A_GUARD_INSTALL);
	e = errno;
	pm = pages(p, NP);
	line("prot_none/install", r, e, "pm=%s b1=%s", pm, probe(p, p + PG, 0, 0));
	mprotect(p, NP * PG, PROT_READ);
	line("prot_none/then_read", 0, 0, "b0=%s b1=%s", probe(p, p, 0, 0), probe(p, p + PG, 0, 0));
	release(p, NP);

	// Guards over the whole range, then smaps Rss and maps.
	p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');
	r = madv(p, NP * PG, A_GUARD_INSTALL);
	e = errno;
	long rss;
	const char *fl = vmflags_rss(p, &rss);
	line("whole_range", r, e, "vmas=%d flags=%s rss_kb=%ld pm=%s", count_vmas(p, p + NP * PG), fl, rss, pages(p, NP));
	// A split keeps "gu" on both halves.
	mprotect(p, PG, PROT_READ);
	line("whole_range/split", 0, 0, "vmas=%d flags=%s|%s", count_vmas(p, p + NP * PG), vmflags(p), vmflags(p + PG));
	release(p, NP);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	for (int k = 0; k < N_KINDS; k++)
		kind_cases(k);
	anon_cases();
	printf("done\n");
	return 0;
}
