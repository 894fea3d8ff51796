// madv_untraced.c: VMAs the kernel changes without a memory syscall the
// sentry traces (issue 12): stack growth by page fault (the main [stack]
// and MAP_GROWSDOWN mappings), personality(READ_IMPLIES_EXEC),
// remap_file_pages and arch_prctl(ARCH_MAP_VDSO_64). The model must learn each change before it
// decides a later call, and --check-maps must stay quiet.
#include "madv_common.h"

#include <asm/prctl.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/auxv.h>

// vma_of returns the /proc/self/maps line holding addr ("" if none), and
// its bounds.
static const char *vma_of(void *addr_, uintptr_t *s_out, uintptr_t *e_out) {
	static char line_buf[4][512];
	static int slot;
	char *o = line_buf[slot++ % 4];
	uintptr_t addr = (uintptr_t)addr_;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("open maps");
	o[0] = 0;
	char l[512];
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s <= addr && addr < e) {
			snprintf(o, 512, "%s", l);
			if (s_out)
				*s_out = s;
			if (e_out)
				*e_out = e;
			break;
		}
	}
	fclose(f);
	return o;
}

// perms returns the permission field of the VMA holding addr.
static const char *perms(void *addr) {
	static char out[4][8];
	static int slot;
	char *o = out[slot++ % 4];
	const char *l = vma_of(addr, NULL, NULL);
	const char *sp = strchr(l, ' ');
	if (!sp) {
		snprintf(o, 8, "none");
		return o;
	}
	snprintf(o, 8, "%.4s", sp + 1);
	return o;
}

// start_pages returns how many pages below base the VMA holding base
// starts (-1 when unmapped).
static long start_pages(char *base) {
	uintptr_t s = 0;
	if (!vma_of(base, &s, NULL)[0])
		return -1;
	return ((uintptr_t)base - s) / PG;
}

// ---- stack growth ----

// The main thread's [stack]: touched below its start, it grows; madvise,
// mprotect, mlock over the grown part then behave as natively.
static void main_stack(void) {
	uintptr_t s = 0, e = 0;
	int x;
	if (!vma_of(&x, &s, &e)[0])
		die("no stack");
	char *old = (char *)s;
	// Touch 8 pages below the stack's start: the fault grows it (far
	// below the stack pointer: the kernel no longer checks the distance).
	volatile char *below = old - 8 * PG;
	*below = 1;
	line("stack/grown", 0, 0, "below=%ld", start_pages(old));
	long r = madv(old - 8 * PG, 9 * PG, A_DONTNEED);
	line("stack/dontneed_grown", r, errno, "byte=%d", *below);
	r = madv(old - 8 * PG, 8 * PG, A_WILLNEED);
	line("stack/willneed_grown", r, errno, "");
	r = madv(old - 12 * PG, 4 * PG, A_DONTNEED);
	line("stack/dontneed_below_grown", r, errno, "");
	r = madv(old - 6 * PG, 2 * PG, A_DONTDUMP);
	line("stack/dontdump_grown", r, errno, "flags=%s vmas=%d", vmflags(old - 6 * PG),
	     count_vmas(old - 8 * PG, old + PG));
	r = madv(old - 6 * PG, 2 * PG, A_DODUMP);
	line("stack/dodump_grown", r, errno, "flags=%s vmas=%d", vmflags(old - 6 * PG),
	     count_vmas(old - 8 * PG, old + PG));
	r = mlock(old - 8 * PG, 2 * PG);
	line("stack/mlock_grown", r, errno, "flags=%s", vmflags(old - 8 * PG));
	r = munlock(old - 8 * PG, 2 * PG);
	line("stack/munlock_grown", r, errno, "flags=%s vmas=%d", vmflags(old - 8 * PG),
	     count_vmas(old - 8 * PG, old + PG));
	// A second growth, then a guard over it (guard pages keep their
	// addresses when the VMA grows again; not its lowest page: an
	// emulated guard there is a PROT_NONE VMA on the host, which a fault
	// below would grow instead).
	volatile char *lower = old - 15 * PG;
	old[-16 * PG] = 2;
	*lower = 2;
	line("stack/grown_again", 0, 0, "below=%ld", start_pages(old));
	r = madv(old - 15 * PG, PG, A_GUARD_INSTALL);
	line("stack/guard_grown", r, errno, "probe=%s", probe(old, lower, 0, 0));
	volatile char *lowest = old - 20 * PG;
	*lowest = 3;
	r = madv(old - 15 * PG, PG, A_GUARD_REMOVE);
	line("stack/guard_remove_after_growth", r, errno, "below=%ld probe=%s", start_pages(old),
	     probe(old, lower, 0, 0));
	r = madv(old - 20 * PG, 20 * PG, A_COLD);
	line("stack/cold_grown", r, errno, "");
	fflush(stdout);
	// In a child, after fork.
	pid_t pid = fork();
	if (pid == 0) {
		volatile char *child = old - 24 * PG;
		*child = 4;
		long cr = madv(old - 24 * PG, 24 * PG, A_DONTNEED);
		line("stack/child_grown", cr, errno, "below=%ld", start_pages(old));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	r = madv(old - 24 * PG, 4 * PG, A_DONTNEED);
	line("stack/parent_after_child", r, errno, "");
}

// A MAP_GROWSDOWN mapping in a hole above a PROT_NONE fence (no guard
// gap below it: the fence is not accessible).
static void growsdown_mapping(void) {
	char *r = reserve(32);
	if (munmap(r, 28 * PG))
		die("munmap");
	char *g = mmap(r + 24 * PG, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
		       -1, 0);
	if (g == MAP_FAILED)
		die("mmap growsdown");
	volatile char *b = g - 3 * PG;
	*b = 7;
	line("growsdown/grown", 0, 0, "below=%ld vmas=%d", start_pages(g), count_vmas(r, g + 4 * PG));
	long ret = madv(g - 3 * PG, 3 * PG, A_DONTNEED);
	line("growsdown/dontneed_grown", ret, errno, "byte=%d", *b);
	ret = madv(g - 3 * PG, PG, A_RANDOM);
	line("growsdown/random_grown", ret, errno, "flags=%s vmas=%d", vmflags(g - 3 * PG), count_vmas(r, g + 4 * PG));
	ret = mprotect(g - 3 * PG, PG, PROT_READ);
	line("growsdown/mprotect_grown", ret, errno, "perms=%s vmas=%d", perms(g - 3 * PG), count_vmas(r, g + 4 * PG));
	// A flag advice that splits the grown part from the rest: the lower
	// piece keeps growing down.
	const char *pr = probe(g, g - 6 * PG, 0, 0);
	ret = madv(g - 6 * PG, 3 * PG, A_NORMAL);
	line("growsdown/normal_lower", ret, errno, "probe=%s perms=%s vmas=%d", pr, perms(g - 6 * PG),
	     count_vmas(r, g + 4 * PG));
	ret = madv(g - 6 * PG, 10 * PG, A_DONTNEED);
	line("growsdown/dontneed_all", ret, errno, "");
	// mmap next to it: a hint in the hole below, and MAP_FIXED_NOREPLACE
	// there.
	char *h = mmap(g - 12 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	line("growsdown/hint_below", h == MAP_FAILED ? -1 : 0, errno, "at_hint=%d", h == g - 12 * PG);
	if (h != MAP_FAILED && h != g - 12 * PG)
		munmap(h, PG);
	char *n = mmap(g - 8 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	line("growsdown/noreplace_below", n == MAP_FAILED ? -1 : 0, errno, "vmas=%d", count_vmas(r, g + 4 * PG));
	// The accessible (read-only) page just mapped is now in the guard
	// gap: the stack can no longer grow into it.
	ret = madv(g - 7 * PG, PG, A_DONTNEED);
	line("growsdown/between", ret, errno, "");
	release(r, 32);
}

// Under an accessible neighbour, the stack guard gap forbids growth: the
// touch faults and nothing changes.
static void growsdown_gap(void) {
	char *r = reserve(32);
	if (mprotect(r - PG, PG, PROT_READ))
		die("mprotect fence");
	if (munmap(r, 28 * PG))
		die("munmap");
	char *g = mmap(r + 24 * PG, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
		       -1, 0);
	if (g == MAP_FAILED)
		die("mmap growsdown");
	line("gap/touch", 0, 0, "probe=%s below=%ld", probe(g, g - PG, 1, 9), start_pages(g));
	long ret = madv(g - PG, 2 * PG, A_DONTNEED);
	line("gap/dontneed", ret, errno, "");
	release(r, 32);
}

// ---- personality(READ_IMPLIES_EXEC) ----

static void read_implies_exec(void) {
	int old = personality(0xffffffff);
	if (personality(old | READ_IMPLIES_EXEC) < 0)
		die("personality");
	char *p = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	line("rie/mmap_read", p == MAP_FAILED ? -1 : 0, errno, "perms=%s", perms(p));
	char *q = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = mprotect(q, PG, PROT_READ);
	line("rie/mprotect_read", r, errno, "perms=%s,%s vmas=%d", perms(q), perms(q + PG), count_vmas(q, q + 2 * PG));
	r = mprotect(q + PG, PG, PROT_READ);
	line("rie/mprotect_merge", r, errno, "perms=%s vmas=%d", perms(q), count_vmas(q, q + 2 * PG));
	pid_t pid = fork();
	if (pid == 0) {
		char *c = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		line("rie/child_mmap", c == MAP_FAILED ? -1 : 0, errno, "perms=%s", perms(c));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	if (personality(old) < 0)
		die("personality");
	char *s = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	line("rie/after_reset", s == MAP_FAILED ? -1 : 0, errno, "perms=%s", perms(s));
	r = madv(p, 2 * PG, A_DONTDUMP);
	line("rie/dontdump", r, errno, "flags=%s", vmflags(p));
	munmap(p, 2 * PG);
	munmap(s, PG);
	release(q, 2);
}

// ---- remap_file_pages ----

static void remap_file(void) {
	int fd = tmpfile_pages(4, 'a', O_RDWR);
	char *p = mmap(reserve(4), 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap file");
	for (int i = 0; i < 4; i++)
		p[i * PG] = 'a' + i;
	long r = syscall(SYS_remap_file_pages, p + PG, PG, 0, 3, 0);
	line("rfp/remap", r, errno, "vmas=%d bytes=%c%c%c%c", count_vmas(p, p + 4 * PG), p[0], p[PG], p[2 * PG], p[3 * PG]);
	r = madv(p, 4 * PG, A_RANDOM);
	line("rfp/random", r, errno, "vmas=%d flags=%s", count_vmas(p, p + 4 * PG), vmflags(p + PG));
	r = syscall(SYS_remap_file_pages, p + PG, PG, 0, 1, 0);
	line("rfp/back", r, errno, "vmas=%d", count_vmas(p, p + 4 * PG));
	r = madv(p, 4 * PG, A_NORMAL);
	line("rfp/normal", r, errno, "vmas=%d", count_vmas(p, p + 4 * PG));
	r = syscall(SYS_remap_file_pages, p + PG, PG, PROT_READ, 3, 0);
	line("rfp/prot", r, errno, "vmas=%d", count_vmas(p, p + 4 * PG));
	char *q = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	r = syscall(SYS_remap_file_pages, q, PG, 0, 1, 0);
	line("rfp/anon", r, errno, "vmas=%d", count_vmas(q, q + 2 * PG));
	release(q, 2);
	release(p, 4);
	close(fd);
}

// ---- arch_prctl(ARCH_MAP_VDSO_64) ----

// In a child (the C library may call into the vDSO): unmap [vvar]/[vdso],
// then map a vDSO again where asked.
static void map_vdso(void) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
		uintptr_t s = 0, e = 0;
		if (!vdso || !vma_of((void *)vdso, &s, &e)[0]) {
			note("vdso/skip", "no vdso");
			fflush(stdout);
			_exit(0);
		}
		long r = syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, 0x10000000UL);
		line("vdso/mapped_twice", r, errno, "");
		// Unmap everything special around the vDSO: [vvar], [vvar_vclock].
		FILE *f = fopen("/proc/self/maps", "r");
		char l[512];
		uintptr_t lo = 0, hi = 0;
		while (f && fgets(l, sizeof(l), f)) {
			unsigned long a, b;
			if (sscanf(l, "%lx-%lx", &a, &b) == 2 && (strstr(l, "[vvar") || strstr(l, "[vdso]"))) {
				if (!lo || a < lo)
					lo = a;
				if (b > hi)
					hi = b;
			}
		}
		if (f)
			fclose(f);
		r = munmap((void *)lo, hi - lo);
		line("vdso/unmap", r, errno, "vmas=%d", count_vmas((void *)lo, (void *)hi));
		char *want = reserve(64);
		release(want, 64);
		r = syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, (unsigned long)want);
		int n = count_vmas(want - 64 * PG, want + 128 * PG);
		line("vdso/map", r, errno, "vmas=%d", n);
		// The new [vdso] is a special mapping: flag advice cannot split it.
		uintptr_t vs = 0, ve = 0;
		f = fopen("/proc/self/maps", "r");
		while (f && fgets(l, sizeof(l), f)) {
			unsigned long a, b;
			if (sscanf(l, "%lx-%lx", &a, &b) == 2 && strstr(l, "[vdso]"))
				vs = a, ve = b;
		}
		if (f)
			fclose(f);
		if (vs) {
			r = madv((void *)vs, ve - vs, A_DONTDUMP);
			line("vdso/dontdump", r, errno, "flags=%s", vmflags((void *)vs));
			r = madv((void *)vs, ve - vs, A_WILLNEED);
			line("vdso/willneed", r, errno, "");
		}
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	probe_init();
	main_stack();
	growsdown_mapping();
	growsdown_gap();
	read_implies_exec();
	remap_file();
	map_vdso();
	printf("done\n");
	return 0;
}
