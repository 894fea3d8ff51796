// madv_partial: calls that fail part-way (issue 12) must leave the VMAs as
// the kernel leaves them: the split a refused munmap, MAP_FIXED mmap, mremap
// or brk made before it met a seal; the VMAs an mprotect or mlock changed
// before a hole; VMAs that stay apart because their anon_vmas differ; and
// mremap's multi-VMA moves and old_len 0 duplicates. Each case prints the
// layout of its region: one "from-to:perms" word per VMA, in pages from the
// region's start, with "+sl" on sealed VMAs and "+lo" on locked ones.
#include "madv_common.h"

// layout describes the VMAs overlapping [base, base + n pages), clipped.
static const char *layout(char *base, int n) {
	static char out[4][512];
	static int slot;
	char *o = out[slot++ % 4];
	uintptr_t lo = (uintptr_t)base, hi = lo + (uintptr_t)n * PG;
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("open smaps");
	char l[1024], perms[8] = "";
	unsigned long s = 0, e = 0;
	int in = 0;
	o[0] = 0;
	while (fgets(l, sizeof(l), f)) {
		unsigned long ns, ne;
		char p[8];
		if (sscanf(l, "%lx-%lx %7s", &ns, &ne, p) == 3 && strchr(l, '-') < strchr(l, ' ')) {
			s = ns, e = ne;
			snprintf(perms, sizeof(perms), "%s", p);
			in = s < hi && e > lo;
			continue;
		}
		if (!in || strncmp(l, "VmFlags:", 8) != 0)
			continue;
		char w[96];
		snprintf(w, sizeof(w), "%s%ld-%ld:%s%s%s", o[0] ? "," : "", ((long)(s > lo ? s : lo) - (long)lo) / PG,
			 ((long)(e < hi ? e : hi) - (long)lo) / PG, perms, strstr(l, " sl") ? "+sl" : "",
			 strstr(l, " lo") ? "+lo" : "");
		strcat(o, w);
	}
	fclose(f);
	if (!o[0])
		strcpy(o, "none");
	return o;
}

static long ret_of(void *m) { return m == MAP_FAILED ? -1 : 0; }

// sealed_tail maps n pages read-write (touched) and seals the last k.
static char *sealed_tail(int n, int k) {
	char *p = map_anon(n, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, n, 'A');
	if (mseal_(p + (long)(n - k) * PG, (long)k * PG))
		die("mseal");
	return p;
}

// apart maps [A][B], one page each: B (read-only) was touched elsewhere and
// moved next to A, which was touched after: their pgoffs and anon_vmas
// differ, so the kernel never merges them, and only the host knows it.
static char *apart(void) {
	char *p = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char *q = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(q, 1, 'B');
	mprotect(q, PG, PROT_READ);
	if (mremap(q, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG) == MAP_FAILED)
		die("mremap apart");
	fill(p, 1, 'A');
	return p;
}

static void seal_splits(void) {
	char *p, *t;
	long r;
	void *m;

	// munmap from inside an unsealed VMA into a sealed one: the first VMA
	// is split at the start before the seal is met.
	p = sealed_tail(4, 2);
	r = munmap(p + PG, 2 * PG);
	line("munmap/split_then_sealed", r, errno, "l=%s", layout(p, 4));
	p = sealed_tail(4, 2);
	r = munmap(p, 3 * PG);
	line("munmap/from_start_then_sealed", r, errno, "l=%s", layout(p, 4));
	p = sealed_tail(4, 2);
	r = munmap(p + 3 * PG, PG);
	line("munmap/inside_sealed", r, errno, "l=%s", layout(p, 4));
	p = sealed_tail(5, 2);
	r = munmap(p + PG, PG);
	r = munmap(p, 4 * PG);
	line("munmap/hole_then_sealed", r, errno, "l=%s", layout(p, 5));

	p = sealed_tail(4, 2);
	m = mmap(p + PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	line("mmap_fixed/split_then_sealed", ret_of(m), errno, "l=%s", layout(p, 4));

	// mremap MREMAP_FIXED unmaps the target first: a move (old_len ==
	// new_len) and a resize.
	p = sealed_tail(4, 2);
	t = map_anon(2, PROT_READ, MAP_PRIVATE);
	m = mremap(t, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG);
	line("mremap_fixed/move_onto_split_then_sealed", ret_of(m), errno, "l=%s t=%s", layout(p, 4), layout(t, 2));
	p = sealed_tail(4, 2);
	t = map_anon(1, PROT_READ, MAP_PRIVATE);
	m = mremap(t, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG);
	line("mremap_fixed/grow_onto_split_then_sealed", ret_of(m), errno, "l=%s t=%s", layout(p, 4),
	     layout(t, 1));

	// A shrink unmaps the tail, across VMA ends.
	p = sealed_tail(4, 2);
	m = mremap(p, 4 * PG, PG, 0);
	line("mremap/shrink_across_sealed", ret_of(m), errno, "l=%s", layout(p, 4));
	p = sealed_tail(4, 2);
	m = mremap(p, 2 * PG, PG, 0);
	line("mremap/shrink_before_sealed", ret_of(m), errno, "l=%s", layout(p, 4));
	// With MREMAP_FIXED the target is unmapped before the shrink fails.
	p = sealed_tail(4, 2);
	t = map_anon(1, PROT_READ, MAP_PRIVATE);
	m = mremap(p, 4 * PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("mremap_fixed/shrink_across_sealed", ret_of(m), errno, "l=%s t=%s", layout(p, 4), layout(t, 1));
}

// Seals and the kernel's order of checks: argument errors come first, a
// hole before a sealed VMA ends the walk, and an mprotect's EACCES on a
// sealed VMA comes before its EPERM.
static void seal_order(void) {
	char *p;
	long r;
	void *m;

	p = sealed_tail(4, 2);
	r = munmap(p + PG, PG);
	r = mprotect(p, 4 * PG, PROT_READ);
	line("mprotect/vma_hole_sealed", r, errno, "l=%s", layout(p, 4));
	p = sealed_tail(2, 2);
	r = mprotect(p, 2 * PG, 0x100 | PROT_READ);
	line("mprotect/bad_prot_sealed", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p, 2 * PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP);
	line("mprotect/both_grows_sealed", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p, 2 * PG, PROT_READ | PROT_GROWSUP);
	line("mprotect/growsup_sealed", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p, 2 * PG, PROT_READ | PROT_GROWSDOWN);
	line("mprotect/growsdown_sealed", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p + 1, PG, PROT_READ);
	line("mprotect/unaligned_sealed", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p, -PG, PROT_READ);
	line("mprotect/wrap_sealed", r, errno, "l=%s", layout(p, 2));

	// prot beyond VM_MAY*: a shared mapping of a read-only file, sealed.
	int fd = tmpfile_pages(2, 'F', O_RDONLY);
	char *f = mmap(reserve(2), 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	if (f == MAP_FAILED)
		die("mmap file");
	close(fd);
	if (mseal_(f, 2 * PG))
		die("mseal file");
	r = mprotect(f, 2 * PG, PROT_READ | PROT_WRITE);
	line("mprotect/eacces_sealed", r, errno, "l=%s", layout(f, 2));
	r = mprotect(f, 2 * PG, PROT_READ | PROT_EXEC);
	line("mprotect/exec_sealed", r, errno, "l=%s", layout(f, 2));

	// mremap: the argument checks come before the VMA is looked up, and a
	// range that starts in a hole is EFAULT.
	p = sealed_tail(2, 2);
	char *t = reserve(2);
	m = mremap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t + 1);
	line("mremap/unaligned_new_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	m = mremap(p, PG, PG, MREMAP_FIXED, t);
	line("mremap/fixed_no_maymove_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	m = mremap(p, PG, PG, 0x40 | MREMAP_MAYMOVE, NULL);
	line("mremap/bad_flags_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	m = mremap(p, PG, 0, MREMAP_MAYMOVE);
	line("mremap/new_len0_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	m = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG);
	line("mremap/overlap_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	m = mremap(p, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	line("mremap/dontunmap_resize_sealed", ret_of(m), errno, "l=%s", layout(p, 2));
	p = sealed_tail(3, 2);
	munmap(p, PG);
	m = mremap(p, 2 * PG, PG, 0);
	line("mremap/hole_then_sealed", ret_of(m), errno, "l=%s", layout(p, 3));
	m = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("mremap/move_hole_then_sealed", ret_of(m), errno, "l=%s", layout(p, 3));
}

// VMAs whose anon_vmas differ stay apart through an mprotect, an mlock or
// a flag advice that makes them otherwise identical.
static void anon_vmas(void) {
	char *p;
	long r;

	p = apart();
	line("apart/setup", 0, 0, "l=%s", layout(p, 2));
	r = mprotect(p, 2 * PG, PROT_READ);
	line("apart/mprotect", r, errno, "l=%s", layout(p, 2));
	r = mprotect(p, 2 * PG, PROT_READ | PROT_WRITE);
	line("apart/mprotect_back", r, errno, "l=%s", layout(p, 2));
	r = madv(p, 2 * PG, A_DONTDUMP);
	line("apart/madvise", r, errno, "l=%s", layout(p, 2));
	r = mlock(p, 2 * PG);
	line("apart/mlock", r, errno, "l=%s", layout(p, 2));
	r = munlock(p, 2 * PG);
	line("apart/munlock", r, errno, "l=%s", layout(p, 2));
	r = mseal_(p, 2 * PG);
	line("apart/mseal", r, errno, "l=%s", layout(p, 2));

}

// Walks that stop at a hole keep what they changed before it.
static void holes(void) {
	char *p;
	long r;

	p = map_anon(3, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	munmap(p + PG, PG);
	r = mprotect(p, 3 * PG, PROT_READ);
	line("hole/mprotect", r, errno, "l=%s", layout(p, 3));
	r = mlock(p, 3 * PG);
	line("hole/mlock", r, errno, "l=%s", layout(p, 3));
	r = munlock(p, 3 * PG);
	line("hole/munlock", r, errno, "l=%s", layout(p, 3));
	r = syscall(SYS_mlock2, p, 3 * PG, MLOCK_ONFAULT);
	line("hole/mlock2", r, errno, "l=%s", layout(p, 3));
	munlock(p, PG);
	r = madv(p, 3 * PG, A_DONTDUMP);
	line("hole/madvise", r, errno, "l=%s", layout(p, 3));
	r = mseal_(p, 3 * PG);
	line("hole/mseal", r, errno, "l=%s", layout(p, 3));
}

// mremap moves of several VMAs at once (Linux 6.17+: MREMAP_FIXED with
// old_len == new_len) and old_len 0 duplicates of shared mappings.
static void remaps(void) {
	char *p, *t;
	void *m;

	p = map_anon(3, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, 3, 'M');
	mprotect(p + PG, PG, PROT_READ);
	t = reserve(3);
	m = mremap(p, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/move", ret_of(m), errno, "l=%s t=%s b=%s", layout(p, 3), layout(t, 3), first_bytes(t, 3));

	p = map_anon(4, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, 4, 'G');
	munmap(p + PG, PG);
	t = reserve(4);
	m = mremap(p, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/move_gap", ret_of(m), errno, "l=%s t=%s", layout(p, 4), layout(t, 4));

	p = map_anon(4, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	munmap(p + 3 * PG, PG);
	t = reserve(4);
	m = mremap(p, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/move_gap_at_end", ret_of(m), errno, "l=%s t=%s", layout(p, 4), layout(t, 4));

	p = map_anon(3, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	munmap(p, PG);
	t = reserve(3);
	m = mremap(p, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/move_gap_at_start", ret_of(m), errno, "l=%s t=%s", layout(p, 3), layout(t, 3));

	p = sealed_tail(4, 2);
	mprotect(p + PG, PG, PROT_READ);
	t = reserve(4);
	m = mremap(p, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/move_then_sealed", ret_of(m), errno, "l=%s t=%s", layout(p, 4), layout(t, 4));

	// Without MREMAP_FIXED, or resizing, a range across VMAs is EFAULT.
	p = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mprotect(p + PG, PG, PROT_READ);
	m = mremap(p, 2 * PG, 3 * PG, MREMAP_MAYMOVE);
	line("multi/grow", ret_of(m), errno, "l=%s", layout(p, 2));
	t = reserve(3);
	m = mremap(p, 2 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("multi/grow_fixed", ret_of(m), errno, "l=%s t=%s", layout(p, 2), layout(t, 3));
	t = reserve(2);
	m = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, t);
	line("multi/dontunmap", ret_of(m), errno, "l=%s", layout(p, 2));

	// old_len 0: a second mapping of the same shared memory.
	p = mmap(reserve(2), 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		die("mmap shared");
	fill(p, 2, 'S');
	t = reserve(2);
	m = mremap(p, 0, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	if (m != MAP_FAILED)
		p[PG] = 'T';
	line("dup/shared", ret_of(m), errno, "l=%s t=%s b=%s", layout(p, 2), layout(t, 2), first_bytes(t, 2));
	m = mremap(p + PG, 0, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t + PG);
	line("dup/shared_tail", ret_of(m), errno, "l=%s t=%s b=%s", layout(p, 2), layout(t, 2), first_bytes(t, 2));
	p = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	t = reserve(1);
	m = mremap(p, 0, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	line("dup/private", ret_of(m), errno, "l=%s t=%s", layout(p, 1), layout(t, 1));
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	seal_splits();
	seal_order();
	anon_vmas();
	holes();
	remaps();
	printf("done\n");
	return 0;
}
