// kapi_mutants: calls that the sys_madvise spec allows, each of which a
// mutated spec (an errno removed, a lock mode changed) forbids; run by
// TestKAPIVerifyMutatedSpec under --kapi-verify.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	int ret;
	if (argc > 1 && strcmp(argv[1], "unaligned") == 0)
		ret = madvise(p + 1, 4096, MADV_NORMAL); /* EINVAL */
	else
		ret = madvise(p, 4096, MADV_RANDOM); /* mmap_lock write, killable */
	printf("ret=%d errno=%s\n", ret, ret ? strerror(errno) : "0");
	return 0;
}
