// madv_seal: mseal(2) and what it refuses (issue 4, "mseal(2) in the
// model"): sealed VMAs refuse munmap, mprotect, mremap and mmap MAP_FIXED
// over them with EPERM, and the discard advice on read-only anonymous
// memory; nothing changes when they refuse. Also mseal's own checks.
#include "madv_common.h"

#define NP 6

static void show(const char *name, long r, int e, char *p) {
	line(name, r, e, "vmas=%d b=%s", count_vmas(p, p + NP * PG), first_bytes(p, NP));
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	long r;
	char *p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, NP, 'A');

	// mseal's own checks: flags, alignment, gaps, len 0.
	r = syscall(SYS_mseal_, p, PG, 1);
	line("mseal/flags1", r, errno, NULL);
	r = syscall(SYS_mseal_, p + 1, PG, 0);
	line("mseal/unaligned", r, errno, NULL);
	r = syscall(SYS_mseal_, p, 0, 0);
	line("mseal/len0", r, errno, NULL);

	// Seal pages 2-3 of the six: the VMA splits in three.
	r = syscall(SYS_mseal_, p + 2 * PG, 2 * PG, 0);
	show("mseal/middle", r, errno, p);
	r = syscall(SYS_mseal_, p + 2 * PG, 2 * PG, 0);
	show("mseal/again", r, errno, p);

	r = munmap(p + 3 * PG, PG);
	show("munmap/sealed_page", r, errno, p);
	r = munmap(p, 3 * PG);
	show("munmap/overlapping", r, errno, p);
	r = mprotect(p + 2 * PG, PG, PROT_READ);
	show("mprotect/sealed", r, errno, p);
	r = mprotect(p, 3 * PG, PROT_READ);
	show("mprotect/overlapping", r, errno, p);
	// mprotect changes the VMAs before the sealed one (6.13+: the seal is
	// checked per VMA), so the first pages are read-only now.
	line("mprotect/overlapping_first_page", 0, 0, "write=%s", probe(p, p, 1, 'A'));
	r = mprotect(p + 4 * PG, PG, PROT_READ);
	show("mprotect/unsealed_neighbour", r, errno, p);
	void *m = mremap(p + 2 * PG, 2 * PG, PG, 0);
	show("mremap/shrink", m == MAP_FAILED ? -1 : 0, errno, p);
	m = mremap(p + 2 * PG, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
	show("mremap/grow_maymove", m == MAP_FAILED ? -1 : 0, errno, p);
	char *dst = reserve(2);
	m = mremap(p + 2 * PG, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	show("mremap/move", m == MAP_FAILED ? -1 : 0, errno, p);
	m = mremap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + 2 * PG);
	show("mremap/onto_sealed", m == MAP_FAILED ? -1 : 0, errno, p);
	m = mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	show("mmap_fixed/over_sealed", m == MAP_FAILED ? -1 : 0, errno, p);
	m = mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	show("mmap_fixed/unsealed_neighbour", m == MAP_FAILED ? -1 : 0, errno, p);

	// Discards: allowed on writable sealed anonymous memory...
	r = madv(p + 2 * PG, PG, A_DONTNEED);
	show("madvise/DONTNEED_rw_sealed", r, errno, p);
	// ... refused once it is read-only (sealed after mprotect).
	char *q = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(q, 2, 'B');
	mprotect(q, 2 * PG, PROT_READ);
	r = mseal_(q, 2 * PG);
	line("mseal/ro", r, errno, NULL);
	static const struct advice discards[] = {{A_DONTNEED, "DONTNEED"}, {A_FREE, "FREE"}, {A_DONTFORK, "DONTFORK"},
						 {A_WIPEONFORK, "WIPEONFORK"}, {A_GUARD_INSTALL, "GUARD_INSTALL"},
						 {A_COLD, "COLD"}, {A_GUARD_REMOVE, "GUARD_REMOVE"}};
	char name[64];
	for (size_t i = 0; i < sizeof(discards) / sizeof(discards[0]); i++) {
		snprintf(name, sizeof(name), "madvise/%s_ro_sealed", discards[i].name);
		r = madv(q, 2 * PG, discards[i].value);
		line(name, r, errno, "b=%s", first_bytes(q, 2));
	}
	r = munmap(q, 2 * PG);
	line("munmap/ro_sealed", r, errno, NULL);
	printf("done\n");
	return 0;
}
