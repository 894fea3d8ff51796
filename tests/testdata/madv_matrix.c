// madv_matrix: every advice value (the 27 and a few unknown ones) on every
// kind of mapping. Each case maps 4 fresh pages, applies the advice to pages
// [1, 3) and prints the result, the number of VMAs over the 4 pages, the
// (madvise-relevant) VmFlags of page 1's VMA, the pagemap state of the 4
// pages and byte 0 of each page.
#include "madv_common.h"

#define NP 4

enum kind {
	ANON_PRIV,
	ANON_SHARED,
	MEMFD,
	FILE_PRIV,
	FILE_SHARED,
	FILE_RO,
	ANON_RO,
	ANON_NONE,
	ANON_MLOCKED,
	SEALED_RO_ANON,
	SEALED_RW_ANON,
	SEALED_RO_FILE,
	N_KINDS,
};

static const char *kind_name[] = {
    "anon_priv", "anon_shared", "memfd", "file_priv", "file_shared", "file_ro",
    "anon_ro", "anon_none", "anon_mlocked", "sealed_ro_anon", "sealed_rw_anon", "sealed_ro_file",
};

// setup maps NP pages of kind k with known contents; NULL (and a printed
// reason in why) when the kind is unavailable here.
static char *setup(enum kind k, char *why, size_t whylen) {
	char *p;
	int fd;
	switch (k) {
	case ANON_PRIV:
	case ANON_RO:
	case ANON_NONE:
	case ANON_MLOCKED:
	case SEALED_RO_ANON:
	case SEALED_RW_ANON:
		p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		fill(p, NP, 'A');
		if (k == ANON_RO || k == SEALED_RO_ANON)
			if (mprotect(p, NP * PG, PROT_READ))
				die("mprotect");
		if (k == ANON_NONE && mprotect(p, NP * PG, PROT_NONE))
			die("mprotect");
		if (k == ANON_MLOCKED && mlock(p, NP * PG)) {
			int e = errno;
			release(p, NP);
			if (e == EPERM || e == ENOMEM) {
				snprintf(why, whylen, "skipped (mlock failed: %s)", ename(e));
				return NULL;
			}
			errno = e;
			die("mlock");
		}
		if ((k == SEALED_RO_ANON || k == SEALED_RW_ANON) && mseal_(p, NP * PG))
			die("mseal");
		return p;
	case ANON_SHARED:
		p = map_anon(NP, PROT_READ | PROT_WRITE, MAP_SHARED);
		fill(p, NP, 'A');
		return p;
	case MEMFD:
		fd = memfd_create("madv_matrix", 0);
		if (fd < 0 || ftruncate(fd, NP * PG))
			die("memfd");
		p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap memfd");
		close(fd);
		fill(p, NP, 'A');
		return p;
	case FILE_PRIV:
	case FILE_SHARED:
	case FILE_RO:
	case SEALED_RO_FILE:
		fd = tmpfile_pages(NP, 'F', k == FILE_RO ? O_RDONLY : O_RDWR);
		p = mmap(reserve(NP), NP * PG, k == FILE_RO || k == SEALED_RO_FILE ? PROT_READ : PROT_READ | PROT_WRITE,
			 (k == FILE_SHARED || k == FILE_RO ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap file");
		close(fd);
		if (k == FILE_SHARED)
			fill(p, NP, 'A');
		if (k == FILE_PRIV) {
			// Private COW copies in pages 0 and 1, page cache in 2 and 3.
			p[0] = 'P';
			p[PG] = 'P';
		}
		for (int i = 0; i < NP; i++)
			(void)*(volatile char *)(p + i * PG);
		if (k == SEALED_RO_FILE && mseal_(p, NP * PG))
			die("mseal");
		return p;
	default:
		return NULL;
	}
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	int memory_failure = access("/proc/sys/vm/memory_failure_recovery", F_OK) == 0;
	for (int k = 0; k < N_KINDS; k++) {
		for (int a = 0; a < N_ADVICE; a++) {
			char name[96], why[128];
			snprintf(name, sizeof(name), "%s/%s", kind_name[k], all_advice[a].name);
			int adv = all_advice[a].value;
			if ((adv == A_HWPOISON || adv == A_SOFT_OFFLINE) && memory_failure) {
				// Root would really poison or offline host pages.
				note(name, "skipped (MEMORY_FAILURE enabled: would poison host pages)");
				continue;
			}
			char *p = setup(k, why, sizeof(why));
			if (!p) {
				note(name, "%s", why);
				continue;
			}
			long r = madv(p + PG, 2 * PG, adv);
			int e = errno;
			int vmas = count_vmas(p, p + NP * PG);
			const char *fl = vmflags(p + PG);
			const char *pm = pages(p, NP);
			if (adv == A_PAGEOUT)
				pm = best_effort(pm, 1, 3);
			line(name, r, e, "vmas=%d flags=%s pm=%s b=%s", vmas, fl, pm, first_bytes(p, NP));
			if (k != SEALED_RO_ANON && k != SEALED_RW_ANON && k != SEALED_RO_FILE)
				release(p, NP);
		}
	}
	// hugetlb, where the host has huge pages.
	size_t huge = 2 << 20;
	void *h = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (h == MAP_FAILED) {
		note("hugetlb", "unavailable");
	} else {
		munmap(h, 2 * huge);
		for (int a = 0; a < N_ADVICE; a++) {
			char name[96];
			int adv = all_advice[a].value;
			snprintf(name, sizeof(name), "hugetlb/%s", all_advice[a].name);
			if ((adv == A_HWPOISON || adv == A_SOFT_OFFLINE) && memory_failure) {
				note(name, "skipped (MEMORY_FAILURE enabled: would poison host pages)");
				continue;
			}
			char *q = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
			if (q == MAP_FAILED) {
				note(name, "unavailable");
				continue;
			}
			memset(q, 'A', 2 * huge);
			long r = madv(q + huge, huge, adv);
			int e = errno;
			line(name, r, e, "vmas=%d flags=%s b=%s,%s", count_vmas(q, q + 2 * huge), vmflags(q + huge),
			     probe(q, q, 0, 0), probe(q, q + huge, 0, 0));
			munmap(q, 2 * huge);
		}
	}
	printf("done\n");
	return 0;
}
