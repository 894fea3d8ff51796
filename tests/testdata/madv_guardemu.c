// madv_guardemu: what guard markers do to VMAs around them, where the
// guard emulation (--emulate=guard, the default on hosts without markers:
// a guard page is a PROT_NONE piece on the host) must not show:
//   - GUARD_INSTALL gives an anonymous VMA an anon_vma: its pieces keep
//     VM_ACCOUNT ("ac") and stay mergeable, so a VMA split by guards,
//     unmaps and mprotects merges back (upstream guard-regions'
//     split_merge), and a new mapping beside a guard page merges;
//   - mlock over guard pages (ENOMEM, every VMA of the range locked) and
//     GUARD_INSTALL afterwards (EINVAL on the locked VMA);
//   - a grows-down VMA whose lowest page is a guard page grows below it
//     on a touch (a MAP_GROWSDOWN mapping and the main thread's stack),
//     with the VMA's protection.
#include "madv_common.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

// has reports whether the VmFlags of the VMA holding addr has mnemonic m.
static int has(void *addr_, const char *m) {
	uintptr_t addr = (uintptr_t)addr_;
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("open smaps");
	char l[1024], pat[8];
	snprintf(pat, sizeof(pat), " %s ", m);
	int in = 0, found = 0;
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx ", &s, &e) == 2 && strchr(l, '-') < strchr(l, ' ')) {
			in = s <= addr && addr < e;
			continue;
		}
		if (in && strncmp(l, "VmFlags:", 8) == 0) {
			l[strcspn(l, "\n")] = ' ';
			found = strstr(l + 7, pat) != NULL;
		}
	}
	fclose(f);
	return found;
}

// vmstart returns the start of the VMA holding addr (0 if none).
static uintptr_t vmstart(void *addr_) {
	uintptr_t addr = (uintptr_t)addr_, out = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("open maps");
	char l[512];
	while (fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s <= addr && addr < e)
			out = s;
	}
	fclose(f);
	return out;
}

// rw describes n pages from p: 1 where a read and a write work, 0 where
// they fault.
static const char *rw(char *p, int n) {
	static char out[4][64];
	static int slot;
	char *o = out[slot++ % 4];
	for (int i = 0; i < n; i++) {
		const char *r = probe(p, p + (long)i * PG, 0, 0);
		o[i] = r[0] != 'S' && probe(p, p + (long)i * PG, 1, 'x')[0] == 'w' ? '1' : '0';
	}
	o[n] = 0;
	return o;
}

static const char *rd(char *p, int n) {
	static char out[2][64];
	static int slot;
	char *o = out[slot++ % 2];
	for (int i = 0; i < n; i++)
		o[i] = probe(p, p + (long)i * PG, 0, 0)[0] != 'S' ? '1' : '0';
	o[n] = 0;
	return o;
}

static char *map_at(char *at, int n, int prot, int flags) {
	char *p = mmap(at, n * PG, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

// account: an anonymous VMA whose first pages are guards keeps "ac" (the
// host's PROT_NONE piece has the VMA's anon_vma), also when the install
// covers the whole VMA and a hole, and when a PROT_NONE VMA is guarded
// and made writable.
static void account(void) {
	char *r = reserve(8);
	char *p = map_at(r, 4, PROT_READ | PROT_WRITE, 0);
	long ret = madv(p, 2 * PG, A_GUARD_INSTALL);
	line("ac-first-pages", ret, errno, "ac=%d,%d gu=%d", has(p, "ac"), has(p + 3 * PG, "ac"), has(p, "gu"));
	ret = madv(r - PG, 6 * PG, A_GUARD_INSTALL);
	line("ac-whole-and-hole", ret, errno, "ac=%d vmas=%d", has(p, "ac"), count_vmas(r, r + 8 * PG));
	ret = madv(p, 4 * PG, A_GUARD_REMOVE);
	line("ac-removed", ret, errno, "ac=%d vmas=%d %s", has(p, "ac"), count_vmas(r, r + 8 * PG), rw(p, 4));
	release(r, 8);

	r = reserve(8);
	p = map_at(r, 8, PROT_NONE, 0);
	ret = madv(p, 8 * PG, A_GUARD_INSTALL);
	line("ac-none-guarded", ret, errno, "ac=%d", has(p, "ac"));
	ret = mprotect(p + 4 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	line("ac-none-made-rw", ret, errno, "ac=%d,%d vmas=%d", has(p, "ac"), has(p + 4 * PG, "ac"), count_vmas(p, p + 8 * PG));
	release(r, 8);
}

// split_merge: the upstream guard-regions case, step by step.
static void split_merge(void) {
	char *r = reserve(10);
	char *p = map_at(r, 10, PROT_READ | PROT_WRITE, 0);
	long ret = madv(p, 10 * PG, A_GUARD_INSTALL);
	line("sm-install", ret, errno, "%s vmas=%d", rw(p, 10), count_vmas(p, p + 10 * PG));
	munmap(p + 2 * PG, PG);
	munmap(p + 5 * PG, PG);
	munmap(p + 8 * PG, PG);
	line("sm-unmap", 0, 0, "vmas=%d", count_vmas(p, p + 10 * PG));
	for (int i = 2; i < 10; i += 3)
		map_at(p + i * PG, 1, PROT_READ | PROT_WRITE, 0);
	line("sm-remap", 0, 0, "vmas=%d %s", count_vmas(p, p + 10 * PG), rw(p, 10));
	ret = madv(p, 10 * PG, A_GUARD_INSTALL);
	line("sm-install2", ret, errno, "%s vmas=%d", rw(p, 10), count_vmas(p, p + 10 * PG));
	mprotect(p, 3 * PG, PROT_READ);
	mprotect(p + 7 * PG, 3 * PG, PROT_READ);
	line("sm-split", 0, 0, "%s vmas=%d", rd(p, 10), count_vmas(p, p + 10 * PG));
	mprotect(p, 3 * PG, PROT_READ | PROT_WRITE);
	mprotect(p + 7 * PG, 3 * PG, PROT_READ | PROT_WRITE);
	line("sm-merge", 0, 0, "%s vmas=%d", rw(p, 10), count_vmas(p, p + 10 * PG));
	mprotect(p, 3 * PG, PROT_READ);
	mprotect(p + 7 * PG, 3 * PG, PROT_READ);
	ret = madv(p, 10 * PG, A_GUARD_REMOVE);
	line("sm-remove", ret, errno, "%s vmas=%d", rd(p, 10), count_vmas(p, p + 10 * PG));
	mprotect(p, 3 * PG, PROT_READ | PROT_WRITE);
	mprotect(p + 7 * PG, 3 * PG, PROT_READ | PROT_WRITE);
	line("sm-merge2", 0, 0, "%s vmas=%d ac=%d", rw(p, 10), count_vmas(p, p + 10 * PG), has(p, "ac"));
	release(r, 10);
}

// beside: new mappings next to guard pages merge with their VMA.
static void beside(void) {
	char *r = reserve(8);
	char *p = map_at(r, 2, PROT_READ | PROT_WRITE, 0);
	long ret = madv(p + PG, PG, A_GUARD_INSTALL);
	map_at(r + 2 * PG, 2, PROT_READ | PROT_WRITE, 0);
	line("beside-after", ret, errno, "vmas=%d %s", count_vmas(r, r + 4 * PG), pages(r, 4));
	char *s = map_at(r + 5 * PG, 1, PROT_READ | PROT_WRITE, 0);
	ret = madv(s, PG, A_GUARD_INSTALL);
	map_at(r + 4 * PG, 1, PROT_READ | PROT_WRITE, 0);
	line("beside-before", ret, errno, "vmas=%d %s", count_vmas(r, r + 6 * PG), pages(r, 6));
	release(r, 8);

	r = reserve(8);
	p = map_at(r, 2, PROT_READ | PROT_WRITE, 0);
	p[0] = 1; // an anon_vma before the install
	ret = madv(p + PG, PG, A_GUARD_INSTALL);
	map_at(r + 2 * PG, 2, PROT_READ | PROT_WRITE, 0);
	line("beside-touched", ret, errno, "vmas=%d", count_vmas(r, r + 4 * PG));
	release(r, 8);

	r = reserve(8);
	map_at(r + 2 * PG, 1, PROT_READ | PROT_WRITE, 0);
	ret = madv(r + 2 * PG, PG, A_GUARD_INSTALL);
	map_at(r + PG, 1, PROT_READ | PROT_WRITE, 0);
	map_at(r + 3 * PG, 1, PROT_READ | PROT_WRITE, 0);
	line("beside-whole-guard", ret, errno, "vmas=%d %s", count_vmas(r, r + 5 * PG), pages(r, 5));
	ret = madv(r + PG, 3 * PG, A_GUARD_REMOVE);
	line("beside-removed", ret, errno, "vmas=%d %s", count_vmas(r, r + 5 * PG), rw(r + PG, 3));
	release(r, 8);
}

// locked: mlock (or mlock2 MLOCK_ONFAULT) of lp pages from page lf of a
// 4-page VMA whose pages gf..gf+gn are guards, then GUARD_INSTALL on each
// page.
static void locked(const char *name, int prot, int onfault, int gf, int gn, int lf, int ln) {
	char *p = map_anon(4, prot, MAP_PRIVATE);
	long ret = madv(p + gf * PG, gn * PG, A_GUARD_INSTALL);
	ret = onfault ? syscall(SYS_mlock2, p + lf * PG, ln * PG, MLOCK_ONFAULT) : mlock(p + lf * PG, ln * PG);
	int e = errno;
	char installs[8] = {0};
	for (int i = 0; i < 4; i++) {
		long r = madv(p + i * PG, PG, A_GUARD_INSTALL);
		installs[i] = r == 0 ? '0' : errno == EINVAL ? 'I' : '?';
	}
	line(name, ret, e, "vmas=%d lo=%d%d%d%d install=%s", count_vmas(p, p + 4 * PG), has(p, "lo"), has(p + PG, "lo"),
	     has(p + 2 * PG, "lo"), has(p + 3 * PG, "lo"), installs);
	munlock(p, 4 * PG);
	release(p, 4);
}

static void mlocks(void) {
	static const struct {
		const char *name;
		int gf, gn, lf, ln;
	} c[] = {
	    {"first-all", 0, 1, 0, 4}, {"first-from1", 0, 1, 1, 2}, {"last-from2", 3, 1, 2, 2},
	    {"whole", 0, 4, 0, 4},     {"whole-one", 0, 4, 1, 1},   {"mid-at-guard", 1, 1, 1, 1},
	    {"mid-from-guard", 1, 1, 1, 3},
	};
	static const struct {
		const char *name;
		int prot;
	} prots[] = {{"rw", PROT_READ | PROT_WRITE}, {"ro", PROT_READ}, {"none", PROT_NONE}};
	for (size_t pi = 0; pi < 3; pi++)
		for (int onfault = 0; onfault < 2; onfault++)
			for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
				char name[64];
				snprintf(name, sizeof(name), "mlock-%s-%s-%s", prots[pi].name, onfault ? "onfault" : "lock", c[i].name);
				locked(name, prots[pi].prot, onfault, c[i].gf, c[i].gn, c[i].lf, c[i].ln);
			}
}

// growsdown: a touch below a grows-down VMA whose lowest page is a guard.
static void growsdown(void) {
	char *r = reserve(300);
	char *top = r + 296 * PG;
	munmap(r - PG, 297 * PG); // room below, as for a stack
	char *g = map_at(top, 4, PROT_READ | PROT_WRITE, MAP_GROWSDOWN);
	long ret = madv(g, PG, A_GUARD_INSTALL);
	line("gd-install-lowest", ret, errno, "vmas=%d guard=%s", count_vmas(g - 8 * PG, g + 4 * PG), probe(g, g, 0, 0));
	line("gd-touch-below", 0, 0, "%s %s", probe(g, g - PG, 1, 'a'), probe(g, g - PG, 0, 0));
	line("gd-grown", 0, 0, "vmas=%d pages=%s guard=%s", count_vmas(g - 8 * PG, g + 4 * PG), pages(g - 2 * PG, 6),
	     probe(g, g, 0, 0));
	ret = madv(g - PG, 2 * PG, A_DONTNEED);
	line("gd-dontneed-grown", ret, errno, "");
	line("gd-far-below", 0, 0, "%s vmas=%d pages=%s", probe(g, g - 5 * PG, 1, 'b'), count_vmas(g - 8 * PG, g + 4 * PG),
	     pages(g - 6 * PG, 10));
	ret = madv(g - 6 * PG, 10 * PG, A_GUARD_REMOVE);
	line("gd-remove", ret, errno, "vmas=%d %s", count_vmas(g - 8 * PG, g + 4 * PG), first_bytes(g - 5 * PG, 7));
	// Read-only: the growth happens, the write faults on the grown page
	// (SEGV_ACCERR), a read works.
	char *h = map_at(top - 200 * PG, 2, PROT_READ, MAP_GROWSDOWN);
	ret = madv(h, PG, A_GUARD_INSTALL);
	line("gd-ro-write-below", ret, errno, "%s", probe(h, h - PG, 1, 'a'));
	line("gd-ro-read-below", 0, 0, "%s vmas=%d", probe(h, h - 2 * PG, 0, 0), count_vmas(h - 8 * PG, h + 2 * PG));
	munmap(top - 220 * PG, 224 * PG);
}

// stack: the same on the main thread's stack.
static void stack(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("open maps");
	char l[512];
	unsigned long s = 0, e = 0;
	while (fgets(l, sizeof(l), f))
		if (strstr(l, "[stack]"))
			sscanf(l, "%lx-%lx", &s, &e);
	fclose(f);
	char *lo = (char *)s;
	long ret = madv(lo, PG, A_GUARD_INSTALL);
	line("stack-install-lowest", ret, errno, "guard=%s", probe(lo, lo, 0, 0));
	line("stack-touch-below", 0, 0, "%s %s", probe(lo, lo - 3 * PG, 1, 'c'), probe(lo, lo - 3 * PG, 0, 0));
	line("stack-grown", 0, 0, "pages=%s guard=%s grown-by=%ld", pages(lo - 3 * PG, 4), probe(lo, lo, 0, 0),
	     (long)(lo - (char *)vmstart(lo - 3 * PG)) / PG);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	account();
	split_merge();
	beside();
	mlocks();
	growsdown();
	stack();
	printf("done\n");
	return 0;
}
