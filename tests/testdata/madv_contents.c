// madv_contents: memory contents after the discarding and reclaim advice on
// each kind of mapping: zero, kept, or re-read from the page cache; and what
// the file (read with pread) holds afterwards.
//
// Two pages per case. Anonymous and shared memory hold 'A' (65); a private
// file mapping has a private COW copy 'P' (80) in page 0 over a file of 'F'
// (70), page 1 only read. After the advice, b0/b1 are bytes 0 of the pages
// through the mapping, f0/f1 through the file (where there is one), pm the
// pagemap state before those reads; "again" writes 'W' to page 0 and reads
// it back (a re-dirtied MADV_FREE page is kept).
#include "madv_common.h"

#define NP 2

enum kind { ANON_PRIV, ANON_SHARED, MEMFD, FILE_PRIV, FILE_SHARED, MEMFD_PRIV, N_KINDS };
static const char *kind_name[] = {"anon_priv", "anon_shared", "memfd", "file_priv", "file_shared", "memfd_priv"};

static const struct advice content_advice[] = {
    {A_DONTNEED, "DONTNEED"},
    {A_DONTNEED_LOCKED, "DONTNEED_LOCKED"},
    {A_FREE, "FREE"},
    {A_REMOVE, "REMOVE"},
    {A_PAGEOUT, "PAGEOUT"},
    {A_COLD, "COLD"},
    {A_WILLNEED, "WILLNEED"},
    {A_POPULATE_WRITE, "POPULATE_WRITE"},
};

static char *setup(enum kind k, int *fdp) {
	char *p;
	int fd = -1;
	switch (k) {
	case ANON_PRIV:
	case ANON_SHARED:
		p = map_anon(NP, PROT_READ | PROT_WRITE, k == ANON_PRIV ? MAP_PRIVATE : MAP_SHARED);
		fill(p, NP, 'A');
		break;
	case MEMFD:
	case MEMFD_PRIV:
		fd = memfd_create("madv_contents", 0);
		if (fd < 0 || ftruncate(fd, NP * PG))
			die("memfd");
		if (k == MEMFD_PRIV) {
			char buf[1] = {'F'};
			for (int i = 0; i < NP; i++)
				if (pwrite(fd, buf, 1, i * PG) != 1)
					die("pwrite");
		}
		p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, (k == MEMFD ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap memfd");
		if (k == MEMFD)
			fill(p, NP, 'A');
		break;
	case FILE_PRIV:
	case FILE_SHARED:
		fd = tmpfile_pages(NP, 'F', O_RDWR);
		p = mmap(reserve(NP), NP * PG, PROT_READ | PROT_WRITE, (k == FILE_SHARED ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED,
			 fd, 0);
		if (p == MAP_FAILED)
			die("mmap file");
		if (k == FILE_SHARED)
			fill(p, NP, 'A');
		break;
	default:
		return NULL;
	}
	if (k == FILE_PRIV || k == MEMFD_PRIV) {
		p[0] = 'P';
		(void)*(volatile char *)(p + PG);
	}
	*fdp = fd;
	return p;
}

static const char *file_byte(int fd, long off) {
	static char out[4][16];
	static int slot;
	char *o = out[slot++ % 4];
	unsigned char c;
	if (fd < 0)
		return "none";
	ssize_t n = pread(fd, &c, 1, off);
	if (n == 1)
		snprintf(o, 16, "%d", c);
	else
		snprintf(o, 16, "%s", n == 0 ? "eof" : ename(errno));
	return o;
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	char name[96];
	for (int k = 0; k < N_KINDS; k++) {
		for (size_t a = 0; a < sizeof(content_advice) / sizeof(content_advice[0]); a++) {
			int adv = content_advice[a].value;
			snprintf(name, sizeof(name), "%s/%s", kind_name[k], content_advice[a].name);
			int fd;
			char *p = setup(k, &fd);
			long r = madv(p, NP * PG, adv);
			int e = errno;
			const char *pm = pages(p, NP);
			if (adv == A_PAGEOUT)
				pm = best_effort(pm, 0, NP);
			char b0[16], b1[16];
			snprintf(b0, sizeof(b0), "%s", probe(p, p, 0, 0));
			snprintf(b1, sizeof(b1), "%s", probe(p, p + PG, 0, 0));
			if (adv == A_FREE && r == 0 && k == ANON_PRIV) {
				// Freed pages may be reclaimed at any time: kept or zero.
				snprintf(b0, sizeof(b0), "%s", strcmp(b0, "65") == 0 || strcmp(b0, "0") == 0 ? "kept-or-zero" : b0);
				snprintf(b1, sizeof(b1), "%s", strcmp(b1, "65") == 0 || strcmp(b1, "0") == 0 ? "kept-or-zero" : b1);
				pm = "n/a";
			}
			const char *f0 = file_byte(fd, 0), *f1 = file_byte(fd, PG);
			p[0] = 'W';
			const char *again = probe(p, p, 0, 0);
			line(name, r, e, "pm=%s b0=%s b1=%s f0=%s f1=%s again=%s", pm, b0, b1, f0, f1, again);
			if (fd >= 0)
				close(fd);
			release(p, NP);
		}
	}
	// A second mapping of the same file sees the page cache, not the first
	// mapping's private copies; DONTNEED on the private one drops them.
	int fd = tmpfile_pages(1, 'F', O_RDWR);
	char *priv = mmap(reserve(1), PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	char *shared = mmap(reserve(1), PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED)
		die("mmap");
	priv[0] = 'P';
	shared[0] = 'S';
	long r = madv(priv, PG, A_DONTNEED);
	line("two_views/DONTNEED_private", r, errno, "priv=%d shared=%d", priv[0], shared[0]);
	shared[0] = 'T';
	line("two_views/after_shared_write", 0, 0, "priv=%d shared=%d", priv[0], shared[0]);
	priv[0] = 'Q';
	r = madv(shared, PG, A_DONTNEED);
	line("two_views/DONTNEED_shared", r, errno, "priv=%d shared=%d", priv[0], shared[0]);
	r = madv(shared, PG, A_REMOVE);
	line("two_views/REMOVE_shared", r, errno, "priv=%d shared=%d file=%s", priv[0], shared[0], file_byte(fd, 0));
	r = madv(priv, PG, A_DONTNEED);
	line("two_views/DONTNEED_private_after_hole", r, errno, "priv=%d shared=%d", priv[0], shared[0]);
	release(priv, 1);
	release(shared, 1);
	close(fd);
	printf("done\n");
	return 0;
}
