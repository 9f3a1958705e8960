/* Busy work for the checkpoint tests: a hash chain over a buffer that it
 * keeps changing, fed to a child through a pipe, with short sleeps, and a
 * line of progress every 200 rounds. Every line depends on all that came
 * before, so a run checkpointed and restored (several times, anywhere in
 * it) must print exactly what an uninterrupted run prints. */
#include "common.h"
#include <stdint.h>
#include <stdlib.h>

#define ROUNDS 8000
#define MASK ((1u << 20) - 1)

int main(void)
{
	unsigned char *buf = malloc(MASK + 1);
	for (uint32_t i = 0; i <= MASK; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	int p[2];
	if (pipe(p) != 0)
		return 10;
	pid_t child = fork();
	if (child == 0) {
		close(p[1]);
		uint64_t v, sum = 0, n = 0;
		ssize_t r;
		while ((r = read(p[0], &v, sizeof v)) == sizeof v || (r == -1 && errno == EINTR))
			if (r == sizeof v) {
				sum = sum * 3 + v;
				n++;
			}
		printf("child: %llu values, sum %016llx\n", (unsigned long long)n, (unsigned long long)sum);
		return 0;
	}
	close(p[0]);
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < ROUNDS; i++) {
		for (uint32_t j = 0; j < (1u << 15); j++)
			h = (h ^ buf[(i * 2654435761u + j * 40503u) & MASK]) * 1099511628211ull;
		buf[(i * 7919u) & MASK] = (unsigned char)h;
		if (write(p[1], &h, sizeof h) != sizeof h)
			return 11;
		if (i % 20 == 0)
			sleep_ms(2);
		if (i % 200 == 0) {
			printf("%u %016llx\n", i, (unsigned long long)h);
			fflush(stdout);
		}
	}
	close(p[1]);
	int st;
	waitpid(child, &st, 0);
	printf("done %016llx, child %s\n", (unsigned long long)h, status_str(st));
	return 0;
}
