// entropy: prints every source of nondeterminism a program commonly reads.
//
// Time (clock_gettime, gettimeofday, time, rdtsc), randomness (getrandom,
// /dev/urandom, the kernel's AT_RANDOM bytes), identities (pid, tid, a
// thread's tid, a child's pid),
// addresses (heap, stack: ASLR), the CPU count and the CPU it runs on. Under
// `madvisor run --seed=N` all of them must be the same for the same seed;
// the random bytes must change with the seed.
//
// Prints one "name: value" line per source and exits 0.
#define _GNU_SOURCE
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static void *print_tid(void *arg) {
	(void)arg;
	printf("thread_tid: %d\n", gettid());
	return NULL;
}

static void hex(const char *name, const unsigned char *b, size_t n) {
	printf("%s: ", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void) {
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	printf("clock_realtime: %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec);
	printf("clock_monotonic: %lld.%09ld\n", (long long)mono.tv_sec, mono.tv_nsec);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	printf("gettimeofday: %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
	printf("time: %lld\n", (long long)time(NULL));
	printf("rdtsc: %llu\n", (unsigned long long)__rdtsc());

	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		perror("getrandom");
		return 2;
	}
	hex("getrandom", b, sizeof(b));
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, b, sizeof(b)) != sizeof(b)) {
		perror("/dev/urandom");
		return 2;
	}
	close(fd);
	hex("urandom", b, sizeof(b));
	hex("at_random", (const unsigned char *)getauxval(AT_RANDOM), 16);

	printf("pid: %d\n", getpid());
	printf("tid: %d\n", gettid());
	pthread_t th;
	if (pthread_create(&th, NULL, print_tid, NULL) != 0 || pthread_join(th, NULL) != 0) {
		perror("pthread");
		return 2;
	}
	fflush(stdout);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	if (child < 0 || waitpid(child, NULL, 0) != child) {
		perror("fork");
		return 2;
	}
	printf("child_pid: %d\n", child);
	int local;
	printf("malloc: %p\n", malloc(64));
	printf("stack: %p\n", (void *)&local);
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_getaffinity");
		return 2;
	}
	printf("cpus: %d\n", CPU_COUNT(&set));
	printf("nprocs: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	printf("cpu: %d\n", sched_getcpu());
	unsigned eax, ebx, ecx, edx;
	__cpuid(1, eax, ebx, ecx, edx);
	printf("rdrand: %u\n", ecx >> 30 & 1); /* CPUID: the instruction is there */
	return 0;
}
