/* What LTP's mmap12, munmap04 and msgstress01 found: /proc/self/pagemap
 * (one 8-byte entry per page: present, exclusive, soft-dirty; offset and
 * count in whole entries, else EINVAL), MAP_POPULATE, the limit on
 * mappings (max_map_count: mmap past it ENOMEM, and a munmap that would
 * split a mapping at it; unmapping whole mappings still works), and
 * /proc/sys/kernel/threads-max. */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)

static long page;

/* The flag bits of the pagemap entry of `addr` (the PFN masked off: it
 * shows only to CAP_SYS_ADMIN of the host). */
static void show_entry(int pm, const char *label, void *addr)
{
	uint64_t e = 0;
	off_t off = (uintptr_t)addr / page * 8;
	if (pread(pm, &e, 8, off) != 8) {
		printf("%s: read %s\n", label, errname(errno));
		return;
	}
	printf("%s: present %d file %d exclusive %d soft-dirty %d\n", label, !!(e & PM_PRESENT), !!(e & PM_FILE),
	       !!(e & PM_EXCLUSIVE), !!(e & PM_SOFT_DIRTY));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	page = sysconf(_SC_PAGESIZE);

	int pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) {
		printf("open pagemap: %s\n", errname(errno));
		return 1;
	}
	char *a = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	a[page] = 1;
	show_entry(pm, "an untouched page", a);
	show_entry(pm, "a written page", a + page);
	munmap(a + 3 * page, page);
	show_entry(pm, "an unmapped page", a + 3 * page);
	char *s = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s[0] = 1;
	show_entry(pm, "a written shared page", s);
	char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	show_entry(pm, "MAP_POPULATE's last page", p + 3 * page);
	uint64_t e[2];
	report("pagemap read at an offset not of an entry", pread(pm, e, 8, 4));
	report("pagemap read of 12 bytes", pread(pm, e, 12, 0));
	printf("pagemap read of 0 bytes: %ld\n", (long)pread(pm, e, 0, 0));
	printf("pagemap read past the address space: %ld\n", (long)pread(pm, e, 8, (1ULL << 56) * 8));
	close(pm);

	long threads_max = 0;
	FILE *f = fopen("/proc/sys/kernel/threads-max", "r");
	printf("threads-max: %s\n", f && fscanf(f, "%ld", &threads_max) == 1 && threads_max > 20 ? "a number" : "missing");

	/* Mappings of 3 pages 6 pages apart (they never merge), until mmap
	 * says ENOMEM. */
	uintptr_t addr = 0x10000000UL;
	long n = 0;
	char *second = NULL;
	for (;;) {
		char *m = mmap((void *)addr, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		addr += 6 * page;
		if (m == MAP_FAILED) {
			if (errno == EEXIST)
				continue;
			printf("mmap after many mappings: %s\n", errname(errno));
			break;
		}
		if (++n == 2)
			second = m;
		if (n > 10000000)
			break;
	}
	printf("more than 60000 mappings made: %s\n", n > 60000 ? "yes" : "no");
	report("munmap of a mapping's middle page at the limit", munmap(second + page, page));
	report("mprotect of a mapping's middle page at the limit", mprotect(second + page, page, PROT_READ));
	report("mprotect of a whole mapping at the limit", mprotect(second, 3 * page, PROT_READ));
	report("munmap of a mapping's first page at the limit", munmap(second, page));
	report("munmap of two whole mappings", munmap(second, 3 * page) | munmap(second + 6 * page, 3 * page));
	report("munmap of a mapping's middle page then", munmap(second + 12 * page + page, page));
	printf("done\n");
	return 0;
}
