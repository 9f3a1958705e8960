/* What mlock leaves behind: VmLck in /proc/self/status, Locked and the
 * "lo" flag in /proc/self/smaps, locked pages resident (mincore) unless
 * MLOCK_ONFAULT, MADV_DONTNEED refused on them (EINVAL) and msync's
 * MS_INVALIDATE (EBUSY), MAP_LOCKED, a fork child without the locks,
 * munlock, and mlockall(MCL_FUTURE) locking later mappings. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static long vmlck(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The smaps entry of the mapping at `addr`: its Locked kB, and whether
 * its VmFlags say "lo". */
static void smaps_of(void *addr, long *locked, int *lo)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	*locked = -1;
	*lo = 0;
	unsigned long want = (unsigned long)addr;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = s <= want && want < e;
			continue;
		}
		if (!in)
			continue;
		sscanf(line, "Locked: %ld", locked);
		if (strncmp(line, "VmFlags:", 8) == 0)
			*lo = strstr(line, " lo") != NULL;
	}
	if (f)
		fclose(f);
}

static int resident(char *p, int pages)
{
	unsigned char v[64];
	if (mincore(p, pages * PG, v) != 0)
		return -1;
	int n = 0;
	for (int i = 0; i < pages; i++)
		n += v[i] & 1;
	return n;
}

static const char *err(int r)
{
	return r < 0 ? strerror(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long base = vmlck();
	printf("VmLck at first: %ld kB\n", base);
	char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r = mlock(p, 2 * PG);
	printf("mlock 2 pages: %s, VmLck +%ld kB, resident %d of 8\n", err(r), vmlck() - base, resident(p, 8));
	long locked;
	int lo;
	smaps_of(p, &locked, &lo);
	printf("smaps: Locked %ld kB, lo %d\n", locked, lo);
	p[5 * PG] = 1;
	r = syscall(SYS_mlock2, p + 4 * PG, 4 * PG, MLOCK_ONFAULT);
	printf("mlock2 ONFAULT of pages 4-7: %s, VmLck +%ld kB, resident %d of 8\n", err(r), vmlck() - base,
	       resident(p, 8));
	printf("MADV_DONTNEED on a locked page: %s\n", err(madvise(p, PG, MADV_DONTNEED)));
	printf("MADV_DONTNEED on an unlocked one: %s\n", err(madvise(p + 2 * PG, PG, MADV_DONTNEED)));
	printf("msync MS_INVALIDATE on locked pages: %s\n", err(msync(p, 2 * PG, MS_INVALIDATE)));
	printf("msync MS_INVALIDATE on unlocked ones: %s\n", err(msync(p + 2 * PG, 2 * PG, MS_INVALIDATE)));
	pid_t c = fork();
	if (c == 0) {
		printf("child: VmLck +%ld kB\n", vmlck() - base);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	r = munlock(p, 8 * PG);
	printf("munlock all 8: %s, VmLck +%ld kB\n", err(r), vmlck() - base);
	printf("MADV_DONTNEED now: %s\n", err(madvise(p, PG, MADV_DONTNEED)));

	char *q = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	printf("MAP_LOCKED of 3 pages: VmLck +%ld kB, resident %d of 3\n", vmlck() - base, resident(q, 3));
	smaps_of(q, &locked, &lo);
	printf("smaps: Locked %ld kB, lo %d\n", locked, lo);
	munmap(q, 3 * PG);
	printf("unmapped: VmLck +%ld kB\n", vmlck() - base);

	printf("mlockall(MCL_FUTURE): %s\n", err(mlockall(MCL_FUTURE)));
	char *later = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	smaps_of(later, &locked, &lo);
	printf("a later mapping: resident %d of 2, Locked %ld kB, lo %d\n", resident(later, 2), locked, lo);
	printf("munlockall: %s\n", err(munlockall()));
	smaps_of(later, &locked, &lo);
	printf("then: Locked %ld kB, lo %d\n", locked, lo);
	char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("a mapping after munlockall: resident %d of 2\n", resident(s, 2));
	printf("mlock of a hole: %s\n", err(mlock((char *)0x1000, PG)));
	/* A private mapping of a file never written: mlock fills its pages,
	 * which another mapping of the file then sees resident. */
	munlockall();
	int fd = open("/tmp/mlock-file", O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * PG) != 0)
		return 2;
	char *f1 = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	char *f2 = mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, fd, 0);
	printf("a file's pages before: resident %d of 3\n", resident(f2, 3));
	r = mlock(f1, 3 * PG);
	printf("mlock of a private file mapping: %s, the file's pages resident %d of 3\n", err(r), resident(f2, 3));
	unlink("/tmp/mlock-file");
	return 0;
}
