/* Copy-on-write across fork.
 *
 *   cow [MIB]   (default 256) writes a MIB MiB private anonymous region,
 *               forks; the child rewrites every page and checks its own
 *               view, the parent checks that it still sees the old values.
 *               Also: a MAP_SHARED region stays shared, a private file
 *               mapping and the brk heap are copied, and repeated forks of
 *               a sparsely touched 1 GiB mapping (which must not copy the
 *               whole gigabyte up front).
 *
 * Sums are over one 64-bit word per page, so the output is deterministic. */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE 4096UL

static uint64_t sum_words(uint64_t *base, size_t pages)
{
	uint64_t s = 0;
	for (size_t i = 0; i < pages; i++)
		s += base[i * (PAGE / 8)];
	return s;
}

static void big_private(size_t mib)
{
	size_t len = mib << 20, pages = len / PAGE;
	uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		printf("mmap %zu MiB: %s: bad\n", mib, errname(errno));
		return;
	}
	for (size_t i = 0; i < pages; i++)
		m[i * (PAGE / 8)] = i;
	uint64_t before = sum_words(m, pages);
	printf("%zu MiB written, sum %llu\n", mib, (unsigned long long)before);

	int p[2];
	if (pipe(p))
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		uint64_t inherited = sum_words(m, pages);
		for (size_t i = 0; i < pages; i++)
			m[i * (PAGE / 8)] = i * 3 + 1;
		uint64_t mine = sum_words(m, pages);
		uint64_t out[2] = { inherited, mine };
		if (write(p[1], out, sizeof out) != sizeof out)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	uint64_t got[2] = { 0, 0 };
	if (read(p[0], got, sizeof got) != sizeof got)
		printf("reading the child's sums: bad\n");
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	printf("child saw the inherited sum %llu, then its own %llu; child %s\n", (unsigned long long)got[0],
	       (unsigned long long)got[1], status_str(st));
	uint64_t after = sum_words(m, pages);
	printf("parent still sees %llu: %s\n", (unsigned long long)after, after == before ? "ok" : "bad");

	/* Now the parent writes: the (gone) child's copy does not matter,
	 * and the parent's pages are its own. */
	for (size_t i = 0; i < pages; i += 2)
		m[i * (PAGE / 8)] += 1;
	printf("parent after its own writes: %llu\n", (unsigned long long)sum_words(m, pages));
	munmap(m, len);
}

static void shared_region(void)
{
	size_t pages = 64;
	uint64_t *s = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *priv = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < pages; i++) {
		s[i * (PAGE / 8)] = i;
		priv[i * (PAGE / 8)] = i;
	}
	static int on_data = 5;
	int *on_heap = malloc(sizeof *on_heap);
	*on_heap = 6;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < pages; i++) {
			s[i * (PAGE / 8)] += 1000;
			priv[i * (PAGE / 8)] += 1000;
		}
		on_data = 50;
		*on_heap = 60;
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("MAP_SHARED sum after the child's writes: %llu (child %s)\n",
	       (unsigned long long)sum_words(s, pages), status_str(st));
	printf("MAP_PRIVATE sum after the child's writes: %llu\n", (unsigned long long)sum_words(priv, pages));
	printf(".data and heap after the child's writes: %d %d\n", on_data, *on_heap);

	/* Shared both ways: the parent writes, the child sees it. */
	int p[2];
	if (pipe(p))
		abort();
	pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(99);
		_exit(s[0] == 4242 ? 0 : 1);
	}
	close(p[0]);
	s[0] = 4242;
	if (write(p[1], "x", 1) != 1)
		abort();
	close(p[1]);
	waitpid(pid, &st, 0);
	printf("child sees the parent's later write to MAP_SHARED: %s\n", status_str(st));
	munmap(s, pages * PAGE);
	munmap(priv, pages * PAGE);
	free(on_heap);
}

/* A 1 GiB mapping with one page in 256 touched, forked 20 times; each
 * child touches a few pages and exits. */
static void sparse_gib(void)
{
	size_t len = 1UL << 30, pages = len / PAGE;
	uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		printf("mmap 1 GiB: %s: bad\n", errname(errno));
		return;
	}
	for (size_t i = 0; i < pages; i += 256)
		m[i * (PAGE / 8)] = i;
	int ok = 0;
	for (int k = 0; k < 20; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t s = 0;
			for (size_t i = 0; i < pages; i += 256 * 64)
				s += m[i * (PAGE / 8)]++;
			m[(size_t)k * 256 * (PAGE / 8)] = 0;
			_exit(s == 0 ? 1 : 0);
		}
		int st;
		waitpid(pid, &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	uint64_t s = 0;
	for (size_t i = 0; i < pages; i += 256)
		s += m[i * (PAGE / 8)];
	printf("20 forks of a sparse 1 GiB mapping: %d children ok, parent's sum %llu\n", ok, (unsigned long long)s);
	munmap(m, len);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	big_private(mib);
	shared_region();
	sparse_gib();
	printf("done\n");
	return 0;
}
