/* Huge mappings: 64 TiB and 2^63 bytes anonymous (ENOMEM), MAP_FIXED at
 * and above the top of the user address space (ENOMEM), mremap of a page
 * to 64 TiB (ENOMEM), 1 TiB MAP_NORESERVE (ENOMEM: more than the memory
 * file), 16 GiB MAP_NORESERVE (served: only the pages touched are made).
 * The Sentry and the host are unharmed: the program goes on. */
#include "escape.h"

#include <sys/mman.h>

#define TIB (1ULL << 40)

int main(void)
{
	void *m = mmap(NULL, 64 * TIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT_ERR("mmap 64 TiB", m == MAP_FAILED ? -1 : 0, ENOMEM);
	m = mmap(NULL, 1ULL << 63, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT_ERR("mmap 2^63 bytes", m == MAP_FAILED ? -1 : 0, ENOMEM);
	m = mmap((void *)0x800000000000ULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	EXPECT_ERR("MAP_FIXED at 0x800000000000 (past user space)", m == MAP_FAILED ? -1 : 0, ENOMEM);
	m = mmap((void *)0xffff800000000000ULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	EXPECT_ERR("MAP_FIXED at 0xffff800000000000 (the kernel's half)", m == MAP_FAILED ? -1 : 0, ENOMEM);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mremap(p, 4096, 64 * TIB, MREMAP_MAYMOVE);
	EXPECT_ERR("mremap a page to 64 TiB", m == MAP_FAILED ? -1 : 0, ENOMEM);
	/* Anonymous memory is pages of the Sentry's 64 GiB memory file: a
	 * mapping larger than that is refused even with MAP_NORESERVE (which
	 * Linux's overcommit would grant); within it, it is served. */
	m = mmap(NULL, TIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	EXPECT_ERR("mmap 1 TiB MAP_NORESERVE", m == MAP_FAILED ? -1 : 0, ENOMEM);
	unsigned long long len = 16ULL << 30;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	EXPECT_OK("mmap 16 GiB MAP_NORESERVE", m == MAP_FAILED ? -1 : 0);
	if (m != MAP_FAILED) {
		((char *)m)[len - 1] = 1;
		((char *)m)[0] = 1;
		EXPECT_OK("touch its first and last pages, munmap", munmap(m, len));
	}
	EXPECT_ERR("mprotect of 0x800000000000", mprotect((void *)0x800000000000ULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC),
		   ENOMEM);
	return esc_finish();
}
