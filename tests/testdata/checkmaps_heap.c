// checkmaps_heap.c: /proc/PID/maps labels [heap] the VMAs that overlap
// [start_brk, brk): not a mapping placed right at the break, nor one that
// ends where the heap starts. --check-maps and the /proc view must agree.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, uintptr_t lo, uintptr_t hi) {
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	while (f && fgets(l, sizeof(l), f)) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo)
			printf("%s: +%lx-+%lx %s\n", what, (unsigned long)(s - lo), (unsigned long)(e - lo),
			       strstr(l, "[heap]") ? "[heap]" : "-");
	}
	if (f)
		fclose(f);
}

int main(void) {
	long pg = sysconf(_SC_PAGESIZE);
	// No stdio before the mappings: malloc would move the break.
	uintptr_t b0 = syscall(SYS_brk, 0);
	uintptr_t start = (b0 + pg - 1) & ~(uintptr_t)(pg - 1);
	uintptr_t b = syscall(SYS_brk, start + 2 * pg);
	// Read-only, so that it does not merge with the heap.
	void *after = mmap((void *)b, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	// The break back to the start of that page range: the heap VMA ends
	// at the break, the mapping after it starts there.
	uintptr_t b2 = syscall(SYS_brk, start + pg);
	printf("brk=%d mapped=%d brk2=%d\n", b == start + 2 * pg, after == (void *)b, b2 == start + pg);
	show("at_brk", start, b + pg);
	// A break one byte into a page: the heap VMA covers that page.
	munmap(after, pg);
	syscall(SYS_brk, start + pg + 1);
	show("unaligned", start, b + pg);
	return 0;
}
