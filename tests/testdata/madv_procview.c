// madv_procview: what a program learns about its own VMAs from
// /proc/self/maps and the PROCMAP_QUERY ioctl (6.11) after guard markers
// and seals, which must not show an emulation: a guard does not split a
// VMA, a seal does. Offsets are printed relative to the mapping.
#include "madv_common.h"
#include <sys/ioctl.h>
#include <sys/stat.h>

struct procmap_query_ {
	uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY_ _IOWR('f', 17, struct procmap_query_)
#define Q_READABLE 0x01
#define Q_EXECUTABLE 0x04
#define Q_COVERING_OR_NEXT 0x10
#define Q_FILE_BACKED 0x20

static int maps_fd = -1;

// query prints the VMA PROCMAP_QUERY finds for addr, in pages from base.
static void query(const char *name, char *base, void *addr, uint64_t flags, uint32_t name_size) {
	struct procmap_query_ q;
	char nbuf[256];
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = flags;
	q.query_addr = (uintptr_t)addr;
	if (name_size) {
		q.vma_name_size = name_size;
		q.vma_name_addr = (uintptr_t)nbuf;
	}
	long r = ioctl(maps_fd, PROCMAP_QUERY_, &q);
	int e = errno;
	if (r != 0) {
		line(name, r, e, NULL);
		return;
	}
	line(name, r, e, "start=%+ld end=%+ld flags=%lu page=%lu off=%lu file=%d name_size=%u", (long)((char *)q.vma_start - base) / PG,
	     (long)((char *)q.vma_end - base) / PG, (unsigned long)q.vma_flags, (unsigned long)q.vma_page_size,
	     (unsigned long)q.vma_offset / PG, q.inode != 0, name_size ? q.vma_name_size : 0);
}

// reread counts the lines of maps_fd that overlap [lo, hi), reading it
// again from the start (a program that keeps its maps fd open).
static int reread(char *lo, char *hi) {
	static char buf[1 << 16];
	if (lseek(maps_fd, 0, SEEK_SET) != 0)
		die("lseek maps");
	long n = 0, r;
	while ((r = read(maps_fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	int count = 0;
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s < (uintptr_t)hi && e > (uintptr_t)lo)
			count++;
		if (!strchr(l, '\n'))
			break;
	}
	return count;
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	char *base = map_anon(6, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(base, 6, 'A');
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0)
		die("open maps");

	line("maps/fresh", 0, 0, "vmas=%d", count_vmas(base, base + 6 * PG));
	mprotect(base + PG, PG, PROT_READ);
	line("maps/reread_after_mprotect", 0, 0, "vmas=%d", reread(base, base + 6 * PG));
	mprotect(base + PG, PG, PROT_READ | PROT_WRITE);
	line("maps/reread_after_undo", 0, 0, "vmas=%d", reread(base, base + 6 * PG));
	query("query/inside", base, base + PG, 0, 0);
	query("query/flags_readable", base, base, Q_READABLE, 0);
	query("query/not_executable", base, base, Q_EXECUTABLE, 0);
	query("query/gap", base, base - PG, 0, 0);
	query("query/gap_or_next", base, base - PG, Q_COVERING_OR_NEXT, 0);
	query("query/anon_name", base, base, 0, 64);
	query("query/bad_flags", base, base, 0x100, 0);

	// A file mapping after the anonymous one, in the same reservation.
	int fd = tmpfile_pages(2, 'F', O_RDWR);
	char *f = reserve(2);
	if (mmap(f, 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		die("mmap file");
	close(fd);
	query("query/file_backed_next", f, f - 3 * PG, Q_COVERING_OR_NEXT | Q_FILE_BACKED, 0);
	query("query/file_name", f, f, 0, 256);
	query("query/file_name_too_small", f, f, 0, 2);
	release(f, 2);

	// A guard marker: no split, in maps or in a query.
	long r = madv(base + 2 * PG, PG, A_GUARD_INSTALL);
	line("guard/install", r, errno, "vmas=%d", count_vmas(base, base + 6 * PG));
	query("guard/query", base, base + 2 * PG, 0, 0);

	// A seal in the middle: the VMA splits.
	r = mseal_(base + 4 * PG, PG);
	line("seal/middle", r, errno, "vmas=%d", count_vmas(base, base + 6 * PG));
	query("seal/query_before", base, base + 3 * PG, 0, 0);
	query("seal/query_sealed", base, base + 4 * PG, 0, 0);
	query("seal/query_after", base, base + 5 * PG, 0, 0);
	printf("done\n");
	return 0;
}
