// madv_special: advice on VM_SPECIAL mappings a program can get without a
// device: the vDSO (VM_DONTEXPAND), [vvar] (VM_IO | VM_PFNMAP), an io_uring
// ring and a perf_event buffer (inserted pages: VM_MIXEDMAP, DONTEXPAND).
// DOFORK there is a spec-vs-host row: 6.18 refuses only VM_IO, the spec all
// of VM_SPECIAL. Flags are printed as they were before the call.
#include "madv_common.h"
#include <linux/perf_event.h>
#include <sys/auxv.h>

struct io_sqring_offsets_ {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t user_addr;
};
struct io_cqring_offsets_ {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t user_addr;
};
struct io_uring_params_ {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
	struct io_sqring_offsets_ sq_off;
	struct io_cqring_offsets_ cq_off;
};

static const struct advice special_advice[] = {
    {A_DOFORK, "DOFORK"},
    {A_DODUMP, "DODUMP"},
    {A_DONTDUMP, "DONTDUMP"},
    {A_NORMAL, "NORMAL"},
    {A_KEEPONFORK, "KEEPONFORK"},
    {A_WIPEONFORK, "WIPEONFORK"},
    {A_COLD, "COLD"},
    {A_PAGEOUT, "PAGEOUT"},
    {A_POPULATE_READ, "POPULATE_READ"},
    {A_GUARD_INSTALL, "GUARD_INSTALL"},
    {A_GUARD_REMOVE, "GUARD_REMOVE"},
    {A_FREE, "FREE"},
    {A_REMOVE, "REMOVE"},
    {99, "unknown99"},
};

static void run(const char *what, char *addr, size_t len) {
	char name[96];
	for (size_t a = 0; a < sizeof(special_advice) / sizeof(special_advice[0]); a++) {
		snprintf(name, sizeof(name), "%s/%s", what, special_advice[a].name);
		const char *before = vmflags(addr);
		char fl[128];
		snprintf(fl, sizeof(fl), "%s", before);
		long r = madv(addr, len, special_advice[a].value);
		line(name, r, errno, "flags_before=%s", fl);
	}
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	size_t len;
	char *vdso = (char *)getauxval(AT_SYSINFO_EHDR);
	if (vdso && find_maps("[vdso]", &len) == vdso)
		run("vdso", vdso, len);
	else
		note("vdso", "unavailable");
	char *vvar = find_maps("[vvar]", &len);
	if (vvar)
		run("vvar", vvar, PG);
	else
		note("vvar", "unavailable");

	struct io_uring_params_ params;
	memset(&params, 0, sizeof(params));
	int ring = syscall(425 /* io_uring_setup */, 4, &params);
	if (ring < 0) {
		note("io_uring_ring", "unavailable (io_uring_setup: %s)", ename(errno));
	} else {
		size_t sz = (params.sq_off.array + params.sq_entries * 4 + PG - 1) & ~(PG - 1);
		char *sq = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, 0);
		if (sq == MAP_FAILED)
			note("io_uring_ring", "unavailable (mmap: %s)", ename(errno));
		else
			run("io_uring_ring", sq, PG);
	}

	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_DUMMY;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	int perf = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (perf < 0) {
		note("perf_buffer", "unavailable (perf_event_open: %s)", ename(errno));
	} else {
		char *buf = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, perf, 0);
		if (buf == MAP_FAILED)
			note("perf_buffer", "unavailable (mmap: %s)", ename(errno));
		else
			run("perf_buffer", buf, PG);
	}
	printf("done\n");
	return 0;
}
