// use_after_munmap: thread A unmaps a buffer that thread B is reading.
//
// B reads the buffer in a syscall-free loop; A munmaps it once both have
// started. If the munmap lands before B's last read, B's next read faults;
// B catches the SIGSEGV (sigsetjmp/siglongjmp) and reports how far it got.
//
// Prints "reads=N of M faulted=0|1"; exits 1 when B faulted.
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 16
#define READS 1000000
#define DELAY 200000

static volatile char *buf;
static size_t size;
static pthread_barrier_t start;
static sigjmp_buf env;
static volatile long reads;
static volatile int faulted;

static void on_segv(int sig) {
	(void)sig;
	// Only B touches buf, so the fault is B's: unwind to its sigsetjmp.
	siglongjmp(env, 1);
}

static void *reader(void *arg) {
	(void)arg;
	pthread_barrier_wait(&start);
	if (sigsetjmp(env, 1) == 0) {
		volatile char sink;
		for (long i = 0; i < READS; i++) {
			sink = buf[(i * 64) % size];
			reads++;
		}
		(void)sink;
	} else {
		faulted = 1;
	}
	return NULL;
}

static void *unmapper(void *arg) {
	(void)arg;
	pthread_barrier_wait(&start);
	// Let B get going (the last thread at a barrier leaves first), so that
	// how far B gets depends on the two threads' speeds.
	for (volatile int i = 0; i < DELAY; i++)
		;
	munmap((void *)buf, size);
	return NULL;
}

int main(void) {
	size = PAGES * sysconf(_SC_PAGESIZE);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	// Populated up front: B's reads fault only once the mapping is gone.
	memset((void *)buf, 'x', size);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);

	pthread_barrier_init(&start, NULL, 2);
	pthread_t a, b;
	if (pthread_create(&b, NULL, reader, NULL) != 0 || pthread_create(&a, NULL, unmapper, NULL) != 0) {
		perror("pthread_create");
		return 2;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("reads=%ld of %d faulted=%d\n", reads, READS, faulted);
	return faulted;
}
