// madv_range: the order of madvise's argument checks and the VMA walk.
// Ranges across 1, 2 and 3 VMAs, with gaps (in the middle, at the end, at
// the start, only a gap), a VMA in the middle that fails (mlocked, sealed
// read-only), unaligned starts, len 0, lengths near 2^64, ranges above every
// mapping, and POPULATE's stop-at-the-first-hole walk.
//
// Layouts are 6 fenced pages (p is page 0); observables: VMAs over the 6
// pages, pagemap state and byte 0 of each page, and VmFlags of pages 0, 2, 4.
#include "madv_common.h"

#define NP 6

enum layout { ONE, TWO, THREE, GAP_MID, GAP_HEAD, GAP_TAIL, LOCKED_MID, SEALED_MID, N_LAYOUTS };
static const char *layout_name[] = {"one", "two", "three", "gap_mid", "gap_head", "gap_tail", "locked_mid", "sealed_mid"};

// build maps layout l over 6 fenced pages, touched ('A') when touch is set.
static char *build(enum layout l, int touch) {
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (touch)
		fill(p, NP, 'A');
	switch (l) {
	case ONE:
		break;
	case TWO:
		if (mprotect(p + 3 * PG, 3 * PG, PROT_READ))
			die("mprotect");
		break;
	case THREE:
		if (mprotect(p + 2 * PG, 2 * PG, PROT_READ))
			die("mprotect");
		break;
	case GAP_MID:
		munmap(p + 2 * PG, 2 * PG);
		break;
	case GAP_HEAD:
		munmap(p, 2 * PG);
		break;
	case GAP_TAIL:
		munmap(p + 4 * PG, 2 * PG);
		break;
	case LOCKED_MID:
		if (mlock(p + 2 * PG, 2 * PG))
			return NULL;
		break;
	case SEALED_MID:
		if (mprotect(p + 2 * PG, 2 * PG, PROT_READ) || mseal_(p + 2 * PG, 2 * PG))
			die("mseal");
		break;
	default:
		break;
	}
	return p;
}

static void drop(enum layout l, char *p) {
	if (l == SEALED_MID) {
		// The sealed pages stay; unmap what can be.
		munmap(p - PG, 3 * PG);
		munmap(p + 4 * PG, 3 * PG);
		return;
	}
	release(p, NP);
}

static void observe(const char *name, long r, int e, char *p, int adv) {
	int vmas = count_vmas(p, p + NP * PG);
	const char *f0 = vmflags(p), *f2 = vmflags(p + 2 * PG), *f4 = vmflags(p + 4 * PG);
	const char *pm = pages(p, NP); // before the probes, which fault pages in
	if (adv == A_PAGEOUT)
		pm = best_effort(pm, 0, NP);
	line(name, r, e, "vmas=%d flags=%s|%s|%s pm=%s b=%s", vmas, f0, f2, f4, pm, first_bytes(p, NP));
}

static const struct advice range_advice[] = {
    {A_DONTNEED, "DONTNEED"},
    {A_DONTNEED_LOCKED, "DONTNEED_LOCKED"},
    {A_FREE, "FREE"},
    {A_REMOVE, "REMOVE"},
    {A_WILLNEED, "WILLNEED"},
    {A_COLD, "COLD"},
    {A_PAGEOUT, "PAGEOUT"},
    {A_RANDOM, "RANDOM"},
    {A_DONTFORK, "DONTFORK"},
    {A_WIPEONFORK, "WIPEONFORK"},
    {A_HUGEPAGE, "HUGEPAGE"},
    {A_POPULATE_READ, "POPULATE_READ"},
    {A_POPULATE_WRITE, "POPULATE_WRITE"},
    {A_GUARD_INSTALL, "GUARD_INSTALL"},
    {A_GUARD_REMOVE, "GUARD_REMOVE"},
    {99, "unknown99"},
};
#define N_RANGE_ADVICE ((int)(sizeof(range_advice) / sizeof(range_advice[0])))

struct span {
	const char *name;
	int from, to; // pages
};

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	int memory_failure = access("/proc/sys/vm/memory_failure_recovery", F_OK) == 0;
	char name[128];

	// The walk: each layout, a few spans, the range advice.
	static const struct span spans[] = {{"all", 0, 6}, {"mid", 1, 5}, {"head", 0, 3}, {"tail", 3, 6}, {"inner", 2, 4}};
	for (int l = 0; l < N_LAYOUTS; l++) {
		for (size_t s = 0; s < sizeof(spans) / sizeof(spans[0]); s++) {
			for (int a = 0; a < N_RANGE_ADVICE; a++) {
				snprintf(name, sizeof(name), "walk/%s/%s/%s", layout_name[l], spans[s].name, range_advice[a].name);
				char *p = build(l, 1);
				if (!p) {
					note(name, "skipped (mlock failed)");
					continue;
				}
				long r = madv(p + spans[s].from * PG, (spans[s].to - spans[s].from) * PG, range_advice[a].value);
				observe(name, r, errno, p, range_advice[a].value);
				drop(l, p);
			}
		}
	}

	// POPULATE stops at the first hole; other advice goes on past it.
	static const enum layout fresh[] = {ONE, GAP_MID, GAP_HEAD, GAP_TAIL, LOCKED_MID};
	static const struct advice pop[] = {{A_POPULATE_READ, "POPULATE_READ"}, {A_POPULATE_WRITE, "POPULATE_WRITE"}, {A_WILLNEED, "WILLNEED"}};
	for (size_t l = 0; l < sizeof(fresh) / sizeof(fresh[0]); l++) {
		for (size_t a = 0; a < sizeof(pop) / sizeof(pop[0]); a++) {
			snprintf(name, sizeof(name), "fresh/%s/%s", layout_name[fresh[l]], pop[a].name);
			char *p = build(fresh[l], 0);
			if (!p) {
				note(name, "skipped (mlock failed)");
				continue;
			}
			long r = madv(p, NP * PG, pop[a].value);
			int e = errno;
			// No byte probes here: they would populate.
			line(name, r, e, "vmas=%d pm=%s", count_vmas(p, p + NP * PG), pages(p, NP));
			drop(fresh[l], p);
		}
	}

	// Argument checks, every advice: len 0 (aligned, unaligned, unmapped),
	// unaligned starts, lengths that round to 0 or wrap, a length that is not
	// a page multiple, a range above every mapping.
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char *base = p;
	// Nothing is ever mapped at or above 2^47 here (no mmap hint that high).
	char *high = (char *)(1UL << 47);
	struct {
		const char *name;
		char *addr;
		size_t len;
	} args[] = {
	    {"len0", p, 0},
	    {"len0_unmapped", NULL, 0},
	    {"len0_unaligned", p + 1, 0},
	    {"unaligned", p + 1, PG},
	    {"unaligned_pg_minus_1", p + PG - 1, PG},
	    {"len1", p, 1},
	    {"len_pg_plus_1", p, PG + 1},
	    {"len_max", p, (size_t)-1},
	    {"len_max_minus_pg_plus_1", p, (size_t)-PG + 1},
	    {"len_wraps", p, (size_t)-PG},
	    {"len_wraps_2pg", p + PG, (size_t)-2 * PG},
	    {"unmapped_fence", NULL, PG},
	    {"above_all", high, PG},
	    {"above_all_unaligned", high + 1, PG},
	    {"above_all_len0", high, 0},
	};
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		for (int a = 0; a < N_ADVICE; a++) {
			// Relative to this round's mapping (p may move); NULL: the
			// fence page before it, never mapped.
			char *addr = args[i].addr ? args[i].addr - base + p : p - PG;
			if (args[i].addr >= high)
				addr = args[i].addr;
			int adv = all_advice[a].value;
			snprintf(name, sizeof(name), "args/%s/%s", args[i].name, all_advice[a].name);
			int mapped = addr >= p && addr < p + NP * PG;
			if ((adv == A_HWPOISON || adv == A_SOFT_OFFLINE) && memory_failure && mapped && args[i].len) {
				note(name, "skipped (MEMORY_FAILURE enabled: would poison host pages)");
				continue;
			}
			fill(p, NP, 'A');
			long r = madv(addr, args[i].len, adv);
			int e = errno;
			const char *pm = pages(p, 2);
			line(name, r, e, "pm=%s b=%s", pm, first_bytes(p, 2));
			// Undo what the advice did to the 6 pages (guards, flags).
			madv(p, NP * PG, A_GUARD_REMOVE);
			release(p, NP);
			p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		}
	}
	release(p, NP);
	printf("done\n");
	return 0;
}
