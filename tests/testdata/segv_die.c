// segv_die writes through a NULL pointer and dies of SIGSEGV (no core file).
#include <stdio.h>
#include <sys/resource.h>

int main(void) {
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	printf("about to fault\n");
	fflush(stdout);
	*(volatile int *)0 = 1;
	printf("survived?\n");
	return 0;
}
