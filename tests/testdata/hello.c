// hello prints a fixed greeting and its arguments; built static and dynamic.
#include <stdio.h>

int main(int argc, char **argv) {
	printf("hello, world\n");
	for (int i = 1; i < argc; i++)
		printf("arg %d: %s\n", i, argv[i]);
	fprintf(stderr, "hello on stderr\n");
	return 0;
}
