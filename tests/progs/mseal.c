/* mseal(2) (Linux 6.10): the argument errors (EINVAL for flags, an
 * unaligned start and a wrapping length, ENOMEM over a hole), then what a
 * seal refuses with EPERM: munmap (nothing unmapped), mprotect (the
 * mappings before the sealed one change, as Linux changes them one by
 * one), mmap MAP_FIXED over it, mremap from and onto it, and madvise's
 * discarding advice on read-only private anonymous memory (writable
 * memory and file mappings may still be discarded); a fork child's
 * mappings stay sealed, and smaps shows "sl". */
#include "common.h"
#include <stdlib.h>
#include <sys/mman.h>

#define PG 4096L

static long sys_mseal(void *a, size_t len, unsigned long flags)
{
	return syscall(462, a, len, flags);
}

static void show(const char *what, long r)
{
	printf("%s: %s\n", what, r == -1 ? errname(errno) : "ok");
}

/* The permissions /proc/self/maps gives the mapping at p ("----" if none). */
static const char *perms(void *p)
{
	static char out[5];
	strcpy(out, "----");
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char pr[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, pr) == 3 && (unsigned long)p >= s && (unsigned long)p < e)
			memcpy(out, pr, 4);
	}
	if (f)
		fclose(f);
	return out;
}

/* Whether smaps's VmFlags for the mapping at p has "sl". */
static int smaps_sealed(void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, sealed = -1;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, ' ') == line + strcspn(line, " ")) {
			if (strncmp(line, "VmFlags", 7) != 0)
				in = (unsigned long)p >= s && (unsigned long)p < e;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0)
			sealed = strstr(line, " sl") != NULL;
	}
	if (f)
		fclose(f);
	return sealed;
}

static char *anon(long pages, int prot)
{
	char *p = mmap(NULL, pages * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char *m = anon(4, PROT_READ | PROT_WRITE);
	munmap(m + 2 * PG, PG);
	show("flags 1", sys_mseal(m, PG, 1));
	show("unaligned", sys_mseal(m + 1, PG, 0));
	show("a length that wraps", sys_mseal(m, -PG + 2, 0));
	show("over a hole", sys_mseal(m, 4 * PG, 0));
	show("starting in a hole", sys_mseal(m + 2 * PG, 2 * PG, 0));
	show("length 0", sys_mseal(m, 0, 0));
	CHECK("nothing sealed by the failures", munmap(m, 4 * PG) == 0);

	/* Pages 2-3 of 8 sealed. */
	char *p = anon(8, PROT_READ | PROT_WRITE);
	memset(p, 7, 8 * PG);
	show("seal pages 2-3 (a length of one byte past a page)", sys_mseal(p + 2 * PG, PG + 1, 0));
	show("seal them again", sys_mseal(p + 2 * PG, 2 * PG, 0));
	printf("smaps VmFlags sl: page 2 %d, page 0 %d\n", smaps_sealed(p + 2 * PG), smaps_sealed(p));
	show("munmap of all 8", munmap(p, 8 * PG));
	CHECK("page 0 still mapped", p[0] == 7);
	show("munmap of page 3", munmap(p + 3 * PG, PG));
	show("munmap of pages 4-7", munmap(p + 4 * PG, 4 * PG));
	show("mprotect of pages 2-3", mprotect(p + 2 * PG, 2 * PG, PROT_READ));
	show("mprotect of pages 0-3", mprotect(p, 4 * PG, PROT_READ));
	printf("perms: page 0 %s, ", perms(p));
	printf("page 2 %s\n", perms(p + 2 * PG));
	show("mprotect of page 1", mprotect(p + PG, PG, PROT_READ | PROT_WRITE));
	show("mmap MAP_FIXED over page 2",
	     mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ? -1 : 0);
	show("mremap of page 2", mremap(p + 2 * PG, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED ? -1 : 0);
	show("mremap shrinking pages 2-3", mremap(p + 2 * PG, 2 * PG, PG, 0) == MAP_FAILED ? -1 : 0);
	char *q = anon(1, PROT_READ | PROT_WRITE);
	show("mremap onto page 3", mremap(q, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + 3 * PG) == MAP_FAILED ? -1 : 0);
	show("mremap of a page onto page 1 (not sealed)",
	     mremap(q, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, p + PG) == MAP_FAILED ? -1 : 0);
	show("MADV_DONTNEED, sealed and writable", madvise(p + 2 * PG, 2 * PG, MADV_DONTNEED));
	CHECK("its pages read back as zero", p[2 * PG] == 0 && p[3 * PG] == 0);
	show("MADV_WILLNEED, sealed", madvise(p + 2 * PG, 2 * PG, MADV_WILLNEED));

	/* Read-only anonymous memory, sealed. */
	char *r = anon(2, PROT_READ);
	show("seal a read-only mapping", sys_mseal(r, 2 * PG, 0));
	show("MADV_DONTNEED, sealed and read-only", madvise(r, 2 * PG, MADV_DONTNEED));
	show("MADV_FREE, sealed and read-only", madvise(r, 2 * PG, MADV_FREE));
	show("MADV_DONTFORK, sealed and read-only", madvise(r, 2 * PG, MADV_DONTFORK));
	show("MADV_NORMAL, sealed and read-only", madvise(r, 2 * PG, MADV_NORMAL));

	/* A private file mapping, read-only and sealed. */
	FILE *tf = tmpfile();
	if (tf) {
		fwrite("file data", 1, 9, tf);
		fflush(tf);
		char *f = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fileno(tf), 0);
		show("seal a read-only private file mapping", sys_mseal(f, PG, 0));
		show("MADV_DONTNEED on it", madvise(f, PG, MADV_DONTNEED));
		CHECK("it reads the file", memcmp(f, "file data", 9) == 0);
	}

	pid_t c = fork();
	if (c == 0) {
		show("a fork child's munmap of page 2", munmap(p + 2 * PG, PG));
		show("a fork child's munmap of page 0", munmap(p, PG));
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child: %s\n", status_str(st));
	return 0;
}
