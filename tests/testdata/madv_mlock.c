// madv_mlock: VM_LOCKED / VM_LOCKONFAULT after the mlock family, and what
// they change for madvise (GUARD_INSTALL and DONTNEED refuse locked VMAs).
//   - mlock, mlock2 and munlock that fail part-way: a hole after the first
//     VMAs (ENOMEM; the VMAs before the hole are changed, split at the
//     start), a file mapping past EOF (mlock populates after changing the
//     flags: ENOMEM with the whole range locked), a guard marker;
//   - mlock after mlock2(MLOCK_ONFAULT) and the reverse: the lock bits are
//     replaced, not added;
//   - mappings mlock leaves alone (it returns 0): the vDSO, [vvar], an
//     io_uring ring, a perf_event buffer (VM_SPECIAL), MAP_DROPPABLE; and
//     MAP_LOCKED on them;
//   - mlockall and munlockall (each in a child, mlockall is per process):
//     MCL_CURRENT, MCL_ONFAULT, MCL_FUTURE and the mappings made after it
//     (mmap, brk, mremap growth);
//   - RLIMIT_MEMLOCK without CAP_IPC_LOCK: ENOMEM (or EPERM) before any
//     VMA is changed.
// Each line shows the lock bits ("lo", "lo+lf" or "-") of the pages that
// matter, the VMAs over the range, and then GUARD_INSTALL and DONTNEED on
// the first page.
#include "madv_common.h"
#include <linux/perf_event.h>
#include <sys/auxv.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#define MAP_DROPPABLE_ 0x08

static long mlock2_(void *p, size_t len, int flags) { return syscall(SYS_mlock2, p, len, flags); }

// lk returns the lock bits of the VMA holding addr: "lo", "lo+lf", "-",
// or "unmapped".
static const char *lk(void *addr) {
	static char out[16][16];
	static int slot;
	char *o = out[slot++ % 16];
	char l[1024];
	if (!smaps_vma((uintptr_t)addr, l, sizeof(l), NULL)) {
		snprintf(o, 16, "unmapped");
		return o;
	}
	int lo = strstr(l, " lo") != NULL, lf = strstr(l, " lf") != NULL;
	snprintf(o, 16, "%s", lo && lf ? "lo+lf" : lo ? "lo" : lf ? "lf" : "-");
	return o;
}

// lks returns lk of each of n pages from base, joined by ",".
static const char *lks(char *base, int n) {
	static char out[4][128];
	static int slot;
	char *o = out[slot++ % 4];
	o[0] = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(o, ",");
		strcat(o, lk(base + (long)i * PG));
	}
	return o;
}

// after prints the case line for a call that returned r over n pages at
// base (of which mapped are mapped), then tries GUARD_INSTALL and DONTNEED
// on the first page.
static void after(const char *name, long r, int err, char *base, int n, int mapped) {
	char what[256];
	snprintf(what, sizeof(what), "lk=%s vmas=%d", lks(base, n), count_vmas(base, base + (long)mapped * PG));
	line(name, r, err, "%s", what);
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/GUARD_INSTALL", name);
	r = madv(base, PG, A_GUARD_INSTALL);
	line(sub, r, errno, "");
	snprintf(sub, sizeof(sub), "%s/DONTNEED", name);
	r = madv(base, PG, A_DONTNEED);
	line(sub, r, errno, "lk=%s", lk(base));
}

enum op { MLOCK, MLOCK2_ONFAULT, MUNLOCK };

static long lockop(enum op op, void *p, size_t len) {
	switch (op) {
	case MLOCK:
		return mlock(p, len);
	case MLOCK2_ONFAULT:
		return mlock2_(p, len, MLOCK_ONFAULT);
	default:
		return munlock(p, len);
	}
}

static const char *opname[] = {"mlock", "mlock2_onfault", "munlock"};

// holes: four pages, the first two mapped (as one VMA, or as two with
// different protections), the last two a hole; the call starts at page
// from. munlock runs on pages mlocked first.
static void holes(enum op op) {
	static const struct {
		const char *name;
		int from, split, hole_first;
	} shapes[] = {
	    {"vma_hole", 0, 0, 0},
	    {"mid_vma_hole", 1, 0, 0},
	    {"two_vmas_hole", 0, 1, 0},
	    {"hole_vma", 0, 0, 1},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char name[96];
		snprintf(name, sizeof(name), "%s/%s", opname[op], shapes[i].name);
		char *r = reserve(4);
		char *m = shapes[i].hole_first ? r + 2 * PG : r;
		if (mmap(m, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			die("mmap");
		munmap(shapes[i].hole_first ? r : r + 2 * PG, 2 * PG);
		fill(m, 2, 'a');
		if (shapes[i].split)
			mprotect(m + PG, PG, PROT_READ);
		if (op == MUNLOCK && mlock(m, 2 * PG))
			die("mlock");
		long ret = lockop(op, r + (long)shapes[i].from * PG, (4 - shapes[i].from) * PG);
		after(name, ret, errno, m, 2, 2);
		release(r, 4);
	}
}

// past_eof: a file of one page mapped over three, shared or private; the
// call covers all three pages or the last two.
static void past_eof(enum op op) {
	static const struct {
		const char *name;
		int flags, prot, from;
	} shapes[] = {
	    {"shared_past_eof", MAP_SHARED, PROT_READ | PROT_WRITE, 0},
	    {"shared_past_eof_tail", MAP_SHARED, PROT_READ | PROT_WRITE, 1},
	    {"private_past_eof", MAP_PRIVATE, PROT_READ | PROT_WRITE, 0},
	    {"private_ro_past_eof", MAP_PRIVATE, PROT_READ, 0},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char name[96];
		snprintf(name, sizeof(name), "%s/%s", opname[op], shapes[i].name);
		int fd = tmpfile_pages(1, 'f', O_RDWR);
		char *r = reserve(3);
		if (mmap(r, 3 * PG, shapes[i].prot, shapes[i].flags | MAP_FIXED, fd, 0) == MAP_FAILED)
			die("mmap file");
		close(fd);
		if (op == MUNLOCK)
			mlock2_(r, 3 * PG, MLOCK_ONFAULT);
		long ret = lockop(op, r + (long)shapes[i].from * PG, (3 - shapes[i].from) * PG);
		after(name, ret, errno, r, 3, 3);
		release(r, 3);
	}
}

// guarded: four anonymous pages with a guard marker on page 2.
static void guarded(enum op op) {
	char name[96];
	snprintf(name, sizeof(name), "%s/over_guard", opname[op]);
	char *p = map_anon(4, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(p, 4, 'g');
	if (madv(p + 2 * PG, PG, A_GUARD_INSTALL)) {
		note(name, "unavailable (GUARD_INSTALL: %s)", ename(errno));
		release(p, 4);
		return;
	}
	if (op == MUNLOCK)
		mlock2_(p, 4 * PG, MLOCK_ONFAULT);
	long ret = lockop(op, p, 4 * PG);
	int e = errno;
	char what[128];
	snprintf(what, sizeof(what), "lk=%s vmas=%d pm=%s", lks(p, 4), count_vmas(p, p + 4 * PG), pages(p, 4));
	line(name, ret, e, "%s", what);
	snprintf(name, sizeof(name), "%s/over_guard/GUARD_INSTALL", opname[op]);
	ret = madv(p, PG, A_GUARD_INSTALL);
	line(name, ret, errno, "pm=%s", pages(p, 4));
	release(p, 4);
}

// prot_none: mlock of a PROT_NONE mapping.
static void prot_none(enum op op) {
	char name[96];
	snprintf(name, sizeof(name), "%s/prot_none", opname[op]);
	char *p = map_anon(2, PROT_NONE, MAP_PRIVATE);
	if (op == MUNLOCK)
		mlock(p, 2 * PG);
	long ret = lockop(op, p, 2 * PG);
	line(name, ret, errno, "lk=%s vmas=%d", lks(p, 2), count_vmas(p, p + 2 * PG));
	release(p, 2);
}

// relock: a lock call over pages locked by another: the lock bits are
// replaced. Half the range is locked first, then the whole range.
static void relock(void) {
	static const struct {
		const char *name;
		enum op first, second;
	} seqs[] = {
	    {"onfault_then_mlock", MLOCK2_ONFAULT, MLOCK},
	    {"mlock_then_onfault", MLOCK, MLOCK2_ONFAULT},
	    {"onfault_then_onfault", MLOCK2_ONFAULT, MLOCK2_ONFAULT},
	    {"mlock_then_munlock", MLOCK, MUNLOCK},
	};
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char name[96];
		char *p = map_anon(4, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		long r1 = lockop(seqs[i].first, p, 2 * PG);
		snprintf(name, sizeof(name), "relock/%s/first", seqs[i].name);
		line(name, r1, errno, "lk=%s vmas=%d", lks(p, 4), count_vmas(p, p + 4 * PG));
		long r2 = lockop(seqs[i].second, p, 4 * PG);
		snprintf(name, sizeof(name), "relock/%s", seqs[i].name);
		after(name, r2, errno, p, 4, 4);
		release(p, 4);
	}
}

// ---- mappings mlock leaves alone ----

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

static int ring_fd = -2, perf_fd = -2;
static size_t ring_len;

// special_map maps the kind of special mapping with extra mmap flags; NULL
// (and a note) if the host cannot.
static char *special_map(const char *what, int extra, size_t *len) {
	if (strcmp(what, "io_uring_ring") == 0) {
		if (ring_fd == -2) {
			struct io_uring_params_ params;
			memset(&params, 0, sizeof(params));
			ring_fd = syscall(425 /* io_uring_setup */, 4, &params);
			ring_len = (params.sq_off.array + params.sq_entries * 4 + PG - 1) & ~(PG - 1);
		}
		*len = ring_len;
		if (ring_fd < 0)
			return NULL;
		char *p = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | extra, ring_fd, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (strcmp(what, "perf_buffer") == 0) {
		if (perf_fd == -2) {
			struct perf_event_attr attr;
			memset(&attr, 0, sizeof(attr));
			attr.size = sizeof(attr);
			attr.type = PERF_TYPE_SOFTWARE;
			attr.config = PERF_COUNT_SW_DUMMY;
			attr.disabled = 1;
			attr.exclude_kernel = 1;
			attr.exclude_hv = 1;
			perf_fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
		}
		*len = 2 * PG;
		if (perf_fd < 0)
			return NULL;
		char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | extra, perf_fd, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	// droppable
	*len = 2 * PG;
	char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_DROPPABLE_ | MAP_ANONYMOUS | extra, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void specials(void) {
	size_t len;
	char name[96];
	char *p;
	char *vdso = (char *)getauxval(AT_SYSINFO_EHDR);
	if (vdso && find_maps("[vdso]", &len) == vdso) {
		for (int op = MLOCK; op <= MUNLOCK; op++) {
			snprintf(name, sizeof(name), "%s/vdso", opname[op]);
			long r = lockop(op, vdso, len);
			line(name, r, errno, "lk=%s", lk(vdso));
		}
	} else
		note("vdso", "unavailable");
	char *vsys = find_maps("[vsyscall]", &len);
	if (vsys) {
		// The gate area is no VMA to mlock.
		for (int op = MLOCK; op <= MUNLOCK; op++) {
			snprintf(name, sizeof(name), "%s/vsyscall", opname[op]);
			long r = lockop(op, vsys, len);
			line(name, r, errno, "lk=%s", lk(vsys));
		}
	} else
		note("vsyscall", "unavailable");
	char *vvar = find_maps("[vvar]", &len);
	if (vvar) {
		for (int op = MLOCK; op <= MUNLOCK; op++) {
			snprintf(name, sizeof(name), "%s/vvar", opname[op]);
			long r = lockop(op, vvar, PG);
			line(name, r, errno, "lk=%s", lk(vvar));
		}
	} else
		note("vvar", "unavailable");

	static const char *kinds[] = {"io_uring_ring", "perf_buffer", "droppable"};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char *p = special_map(kinds[k], 0, &len);
		if (!p) {
			note(kinds[k], "unavailable (%s)", ename(errno));
			continue;
		}
		for (int op = MLOCK; op <= MUNLOCK; op++) {
			snprintf(name, sizeof(name), "%s/%s", opname[op], kinds[k]);
			long r = lockop(op, p, len);
			int e = errno;
			long cold = madv(p, PG, A_COLD);
			line(name, r, e, "lk=%s vmas=%d cold=%ld/%s", lk(p), count_vmas(p, p + len), cold,
			     cold ? ename(errno) : "0");
		}
		munmap(p, len);
		errno = 0;
		p = special_map(kinds[k], MAP_LOCKED, &len);
		snprintf(name, sizeof(name), "map_locked/%s", kinds[k]);
		if (!p) {
			line(name, -1, errno, "");
			continue;
		}
		long r = madv(p, PG, A_COLD);
		line(name, 0, 0, "lk=%s cold=%ld/%s", lk(p), r, r ? ename(errno) : "0");
		munmap(p, len);
	}
	// memfd_secret: locked by its mmap, for good.
	int sfd = syscall(447 /* memfd_secret */, 0);
	if (sfd < 0 || ftruncate(sfd, 2 * PG)) {
		note("secretmem", "unavailable (%s)", ename(errno));
	} else {
		p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
		if (p == MAP_FAILED) {
			note("secretmem", "unavailable (mmap: %s)", ename(errno));
		} else {
			line("secretmem/mmap", 0, 0, "lk=%s", lk(p));
			for (int op = MUNLOCK; op >= MLOCK; op--) {
				snprintf(name, sizeof(name), "%s/secretmem", opname[op]);
				long r = lockop(op, p, PG);
				after(name, r, errno, p, 2, 2);
			}
			munmap(p, 2 * PG);
		}
		close(sfd);
	}
	p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	line("map_locked/anon", p == MAP_FAILED ? -1 : 0, errno, "lk=%s", p == MAP_FAILED ? "" : lk(p));
	if (p != MAP_FAILED)
		munmap(p, 2 * PG);
}

// ---- mlockall, in children ----

static char *brk_grow(void) {
	char *b = sbrk(0);
	char *top = (char *)(((uintptr_t)b + PG - 1) & ~(PG - 1));
	if (sbrk(top + 2 * PG - b) == (void *)-1)
		return NULL;
	return top;
}

// mlockall_case runs in a child: a mapping made before the call (half of it
// mlock2(MLOCK_ONFAULT)ed), the call, then mappings made after it.
static void mlockall_case(const char *name, int flags, int then_munlockall) {
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid) {
		int st;
		waitpid(pid, &st, 0);
		return;
	}
	char *old = map_anon(4, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mlock2_(old, 2 * PG, MLOCK_ONFAULT);
	char *grow = map_anon(1, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	size_t len;
	char *vdso = find_maps("[vdso]", &len);
	char *drop = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_DROPPABLE_ | MAP_ANONYMOUS, -1, 0);
	long r = mlockall(flags);
	int e = errno;
	char sub[128];
	line(name, r, e, "old=%s vmas=%d vdso=%s droppable=%s", lks(old, 4), count_vmas(old, old + 4 * PG),
	     vdso ? lk(vdso) : "none", drop == MAP_FAILED ? "none" : lk(drop));
	if (then_munlockall) {
		r = munlockall();
		snprintf(sub, sizeof(sub), "%s/munlockall", name);
		line(sub, r, errno, "old=%s vmas=%d", lks(old, 4), count_vmas(old, old + 4 * PG));
	}

	char *a = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *d = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_DROPPABLE_ | MAP_ANONYMOUS, -1, 0);
	char *pb = special_map("perf_buffer", 0, &len);
	char *b = brk_grow();
	int shmid = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0600);
	char *shm = shmid < 0 ? NULL : shmat(shmid, NULL, 0);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	if (shm == (void *)-1)
		shm = NULL;
	snprintf(sub, sizeof(sub), "%s/new", name);
	line(sub, 0, 0, "anon=%s shared=%s droppable=%s perf=%s brk=%s shm=%s", lk(a), lk(s),
	     d == MAP_FAILED ? "none" : lk(d), pb ? lk(pb) : "none", b ? lk(b) : "none", shm ? lk(shm) : "none");
	if (shm) {
		snprintf(sub, sizeof(sub), "%s/new_shm/COLD", name);
		r = madv(shm, PG, A_COLD);
		line(sub, r, errno, "");
	}
	if (b) {
		snprintf(sub, sizeof(sub), "%s/new_brk/GUARD_INSTALL", name);
		r = madv(b, PG, A_GUARD_INSTALL);
		line(sub, r, errno, "");
	}
	snprintf(sub, sizeof(sub), "%s/new/GUARD_INSTALL", name);
	r = madv(a, PG, A_GUARD_INSTALL);
	line(sub, r, errno, "");

	// mremap growth: in place (a fenced one-page mapping made before the
	// call) and moving (the new two pages).
	munmap(grow + PG, PG); // the fence after it
	char *g = mremap(grow, PG, 2 * PG, 0);
	snprintf(sub, sizeof(sub), "%s/mremap_grow_old", name);
	line(sub, g == MAP_FAILED ? -1 : 0, errno, "lk=%s,%s", g == MAP_FAILED ? "" : lk(g),
	     g == MAP_FAILED ? "" : lk(g + PG));
	char *m = mremap(a, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
	snprintf(sub, sizeof(sub), "%s/mremap_grow_new", name);
	line(sub, m == MAP_FAILED ? -1 : 0, errno, "lk=%s vmas=%d", m == MAP_FAILED ? "" : lks(m, 4),
	     m == MAP_FAILED ? 0 : count_vmas(m, m + 4 * PG));
	fflush(stdout);
	_exit(0);
}

static void mlockalls(void) {
	mlockall_case("mlockall/current", MCL_CURRENT, 0);
	mlockall_case("mlockall/current_onfault", MCL_CURRENT | MCL_ONFAULT, 0);
	mlockall_case("mlockall/future", MCL_FUTURE, 0);
	mlockall_case("mlockall/future_onfault", MCL_FUTURE | MCL_ONFAULT, 0);
	mlockall_case("mlockall/current_future", MCL_CURRENT | MCL_FUTURE, 0);
	mlockall_case("mlockall/current_future_munlockall", MCL_CURRENT | MCL_FUTURE, 1);
	mlockall_case("mlockall/onfault_alone", MCL_ONFAULT, 0);
	mlockall_case("mlockall/zero", 0, 0);
	mlockall_case("mlockall/bad", 8, 0);

	// MCL_FUTURE after MCL_CURRENT leaves the current VMAs locked;
	// MCL_CURRENT after MCL_FUTURE|MCL_ONFAULT drops the default.
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *p = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		long r = mlockall(MCL_CURRENT);
		line("mlockall/seq/current", r, errno, "lk=%s", lk(p));
		r = mlockall(MCL_FUTURE);
		char *n = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		line("mlockall/seq/future", r, errno, "lk=%s new=%s", lk(p), lk(n));
		r = mlockall(MCL_FUTURE | MCL_ONFAULT);
		char *n2 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		line("mlockall/seq/future_onfault", r, errno, "lk=%s new=%s", lk(p), lk(n2));
		r = mlockall(MCL_CURRENT);
		char *n3 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		line("mlockall/seq/current_again", r, errno, "lk=%s n2=%s new=%s", lk(p), lk(n2), lk(n3));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	// fork: the child's VMAs are unlocked, and it has no MCL_FUTURE.
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *p = map_anon(2, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		mlock2_(p, PG, MLOCK_ONFAULT);
		mlockall(MCL_FUTURE);
		pid_t c = fork();
		if (c == 0) {
			char *n = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			line("fork/child", 0, 0, "lk=%s vmas=%d new=%s", lks(p, 2), count_vmas(p, p + 2 * PG), lk(n));
			long r = madv(p, PG, A_GUARD_INSTALL);
			line("fork/child/GUARD_INSTALL", r, errno, "");
			fflush(stdout);
			_exit(0);
		}
		waitpid(c, NULL, 0);
		char *n = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		line("fork/parent", 0, 0, "lk=%s vmas=%d new=%s", lks(p, 2), count_vmas(p, p + 2 * PG), lk(n));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

// ---- RLIMIT_MEMLOCK, in a child without CAP_IPC_LOCK ----

struct cap_hdr {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};

static void rlimits(void) {
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid) {
		waitpid(pid, NULL, 0);
		return;
	}
	struct cap_hdr h = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct cap_data d[2];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[0].effective &= ~(1u << 14); // CAP_IPC_LOCK
		syscall(SYS_capset, &h, d);
	}
	struct rlimit rl = {4 * PG, 4 * PG};
	setrlimit(RLIMIT_MEMLOCK, &rl);
	char *p = map_anon(8, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	long r = mlock(p, 8 * PG);
	after("rlimit/mlock_over", r, errno, p, 8, 8);
	r = mlock2_(p + 4 * PG, 4 * PG, MLOCK_ONFAULT);
	line("rlimit/mlock2_within", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	r = mlock(p, 8 * PG);
	line("rlimit/mlock_relock", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	r = mlock(p, 2 * PG);
	line("rlimit/mlock_over_again", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	r = mlockall(MCL_CURRENT);
	line("rlimit/mlockall_current", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	r = munlock(p, 8 * PG);
	line("rlimit/munlock", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_MEMLOCK, &rl);
	r = mlock(p, PG);
	line("rlimit/zero/mlock", r, errno, "lk=%s vmas=%d", lks(p, 8), count_vmas(p, p + 8 * PG));
	fflush(stdout);
	_exit(0);
}

int main(void) {
	PG = sysconf(_SC_PAGESIZE);
	probe_init();
	for (int op = MLOCK; op <= MUNLOCK; op++) {
		holes(op);
		past_eof(op);
		guarded(op);
		prot_none(op);
	}
	relock();
	specials();
	mlockalls();
	rlimits();
	printf("done\n");
	return 0;
}
