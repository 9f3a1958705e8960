/* mremap(2) with MREMAP_DONTUNMAP (Linux 5.7; any mapping since 5.13):
 * the pages move and the old range stays mapped, empty: private
 * anonymous memory reads zero there, a private file mapping reads the
 * file again, and shared memory shares the moved pages. EINVAL without
 * MREMAP_MAYMOVE or with a new size; MREMAP_FIXED places the move. */
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define PG 4096L

static char *must(void *p, const char *what)
{
	if (p == MAP_FAILED) {
		printf("%s: %s\n", what, errname(errno));
		exit(1);
	}
	return p;
}

static void show(const char *what, void *r)
{
	printf("%s: %s\n", what, r == MAP_FAILED ? errname(errno) : "ok");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char *a = must(mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), "mmap");
	strcpy(a, "first page");
	strcpy(a + PG, "second page");
	show("without MREMAP_MAYMOVE", mremap(a, 2 * PG, 2 * PG, MREMAP_DONTUNMAP, NULL));
	show("growing", mremap(a, 2 * PG, 3 * PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL));
	show("an unaligned new address", mremap(a, 2 * PG, 2 * PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, (void *)1));
	show("shrinking", mremap(a, 2 * PG, PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL));
	char *b = must(mremap(a, 2 * PG, 2 * PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL), "move anonymous memory");
	CHECK("it moved", b != a);
	printf("the new place: \"%s\", \"%s\"\n", b, b + PG);
	CHECK("the old place reads zero", a[0] == 0 && a[PG] == 0 && a[2 * PG - 1] == 0);
	a[0] = 'x';
	CHECK("the old place is writable, apart from the new", b[0] == 'f' && a[0] == 'x');

	/* MREMAP_FIXED places it. */
	char *dest = must(mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), "mmap dest");
	char *c = mremap(b, PG, PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE | MREMAP_FIXED, dest);
	CHECK("MREMAP_FIXED puts it there", c == dest);
	printf("there: \"%s\"; the page it left: %d\n", c, b[0]);

	/* A private file mapping reads the file again. */
	int fd = open("/tmp/dontunmap", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (write(fd, "from the file", 14) != 14)
		return 1;
	char *f = must(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), "mmap file");
	strcpy(f, "changed");
	char *g = must(mremap(f, PG, PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL), "move the file mapping");
	printf("file mapping: new \"%s\", old \"%s\"\n", g, f);

	/* Shared memory: the old place shares the moved pages. */
	char *s = must(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), "mmap shared");
	strcpy(s, "shared");
	char *t = must(mremap(s, PG, PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL), "move shared memory");
	strcpy(t + 6, " and written after");
	printf("shared: new \"%s\", old \"%s\"\n", t, s);

	/* A shared file mapping too. */
	char *u = must(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), "mmap shared file");
	char *v = must(mremap(u, PG, PG, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL), "move the shared file mapping");
	memcpy(v, "FROM", 4);
	printf("shared file: new \"%s\", old \"%s\"\n", v, u);
	char buf[16] = { 0 };
	pread(fd, buf, 14, 0);
	printf("the file: \"%s\"\n", buf);
	unlink("/tmp/dontunmap");
	return 0;
}
