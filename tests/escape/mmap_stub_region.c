/* The top of the user address space, above the app's stack, is where Husk
 * keeps its stub's code and control pages (the stub.rs of each platform).
 * The app cannot map over them, change their protection or unmap them:
 * its address space ends below them. Probing every 64 KiB from above the
 * stack to the end of user space, MAP_FIXED_NOREPLACE works up to a
 * boundary and gives ENOMEM from there on (as past the end of user space
 * on Linux); munmap and mprotect over the range above the boundary fail,
 * and afterwards the program still makes syscalls and forks. */
#include "escape.h"

#include <sys/mman.h>

int main(void)
{
	/* The stack is the highest mapping the app sees: find its end. */
	FILE *f = fopen("/proc/self/maps", "r");
	char line[256];
	unsigned long top = 0, lo, hi;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > top)
			top = hi;
	fclose(f);
	const unsigned long task_size = 0x7ffffffff000UL;
	esc_check("the highest mapping the app sees", top > 0 && top < task_size, "ends below the end of user space");
	unsigned long boundary = 0;
	int mapped_above = 0, not_enomem = 0, probes = 0;
	for (unsigned long a = (top + 0x100000 + 0xffff) & ~0xffffUL; a < task_size; a += 0x10000) {
		void *m = mmap((void *)a, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		probes++;
		if (m != MAP_FAILED) {
			munmap(m, 4096);
			mapped_above += boundary != 0;
		} else {
			not_enomem += errno != ENOMEM;
			if (!boundary)
				boundary = a;
		}
	}
	esc_check("MAP_FIXED_NOREPLACE up to the end of user space", boundary > top && mapped_above == 0 && not_enomem == 0,
		  "%d probes: served below a boundary, ENOMEM from it on (%d mapped above it, %d other errors)", probes,
		  mapped_above, not_enomem);
	unsigned long region = task_size - boundary;
	esc_check("the range kept from the app", boundary && region > 0 && region <= (64UL << 30), "at most 64 GiB below the end");
	void *m = mmap((void *)boundary, region, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		       -1, 0);
	EXPECT_ERR("MAP_FIXED over all of it", m == MAP_FAILED ? -1 : 0, ENOMEM);
	EXPECT_ERR("munmap of all of it", munmap((void *)boundary, region), EINVAL);
	EXPECT_ERR("mprotect of all of it PROT_NONE", mprotect((void *)boundary, region, PROT_NONE), ENOMEM);
	EXPECT_ERR("madvise(MADV_DONTNEED) of all of it", madvise((void *)boundary, region, MADV_DONTNEED), ENOMEM);
	esc_still_works();
	return esc_finish();
}
