/* Memory management: brk, anonymous and file mappings, mprotect, MAP_FIXED,
 * madvise(MADV_DONTNEED), a sparse 256 MiB MAP_NORESERVE mapping, and the
 * errnos of bad mmap/munmap/mprotect calls.
 *
 * Expects /data/map.bin: 3 pages + 100 bytes, byte i = (i * 7 + 3) & 0xff. */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096L
#define MAP_FILE_SIZE (3 * PAGE + 100)

static unsigned char pattern(long i)
{
	return (unsigned char)((i * 7 + 3) & 0xff);
}

static void *sys_mmap(void *addr, long len, long prot, long flags, long fd, long off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static const char *mmap_err(void *p)
{
	return p == MAP_FAILED ? errname(errno) : "ok?";
}

static int all(const unsigned char *p, long len, unsigned char v)
{
	for (long i = 0; i < len; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* brk runs first, before stdio allocates anything, and restores the break
 * it found, so that malloc's view of the heap stays right. Results are
 * kept and printed afterwards. */
static char brk_log[2048];
static size_t brk_len;

#define BRK_CHECK(label, cond) \
	(brk_len += snprintf(brk_log + brk_len, sizeof brk_log - brk_len, "%s: %s\n", (label), (cond) ? "ok" : "bad"))

static void brk_tests(void)
{
	uintptr_t cur = syscall(SYS_brk, 0L);
	BRK_CHECK("brk(0) returns the break", cur != 0 && syscall(SYS_brk, 0L) == (long)cur);
	uintptr_t want = cur + 1024 * 1024 + 123;
	BRK_CHECK("brk grows to the exact request", (uintptr_t)syscall(SYS_brk, want) == want);
	unsigned char *heap = (unsigned char *)cur;
	BRK_CHECK("new heap reads as zero", all(heap, want - cur, 0));
	for (uintptr_t i = 0; i < want - cur; i++)
		heap[i] = pattern(i);
	int same = 1;
	for (uintptr_t i = 0; i < want - cur; i++)
		same &= heap[i] == pattern(i);
	BRK_CHECK("heap keeps what was written", same);
	BRK_CHECK("brk shrinks back", (uintptr_t)syscall(SYS_brk, cur) == cur);
	BRK_CHECK("brk grows again", (uintptr_t)syscall(SYS_brk, cur + 2 * PAGE) == cur + 2 * PAGE);
	/* The page holding the old break was kept; whole pages above it were
	 * released by the shrink and come back zeroed. */
	uintptr_t next_page = (cur + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	BRK_CHECK("pages released by a shrink come back zeroed", all((unsigned char *)next_page, cur + 2 * PAGE - next_page, 0));
	BRK_CHECK("brk below the start fails and returns the break", (uintptr_t)syscall(SYS_brk, 4096L) == cur + 2 * PAGE);
	BRK_CHECK("brk restores the original break", (uintptr_t)syscall(SYS_brk, cur) == cur);
}

static void anon(void)
{
	unsigned char *p = sys_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK("anonymous mmap", p != MAP_FAILED);
	CHECK("anonymous mmap is page-aligned", ((uintptr_t)p & (PAGE - 1)) == 0);
	CHECK("anonymous memory starts zeroed", all(p, 3 * PAGE, 0));
	for (long i = 0; i < 3 * PAGE; i++)
		p[i] = pattern(i);
	int same = 1;
	for (long i = 0; i < 3 * PAGE; i++)
		same &= p[i] == pattern(i);
	CHECK("anonymous memory keeps what was written", same);

	/* munmap the middle page; MAP_FIXED_NOREPLACE tells mapped from free. */
	CHECK("munmap middle page", syscall(SYS_munmap, p + PAGE, PAGE) == 0);
	void *q = sys_mmap(p, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	printf("MAP_FIXED_NOREPLACE on a mapped page: %s\n", mmap_err(q));
	q = sys_mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK("MAP_FIXED_NOREPLACE on the unmapped hole", q == p + PAGE);
	CHECK("the hole comes back zeroed", all(p + PAGE, PAGE, 0));
	CHECK("pages around the hole are intact", p[0] == pattern(0) && p[2 * PAGE + 5] == pattern(2 * PAGE + 5));

	/* MAP_FIXED replaces the last page of an existing mapping. */
	memset(p, 'A', 3 * PAGE);
	q = sys_mmap(p + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK("MAP_FIXED over a mapping returns the address", q == p + 2 * PAGE);
	CHECK("MAP_FIXED gives a fresh zero page", all(p + 2 * PAGE, PAGE, 0));
	CHECK("MAP_FIXED leaves the rest alone", all(p, 2 * PAGE, 'A'));

	/* mprotect: read-only keeps the data; back to read-write. */
	CHECK("mprotect PROT_READ", syscall(SYS_mprotect, p, PAGE, PROT_READ) == 0);
	CHECK("read-only page still reads", all(p, PAGE, 'A'));
	CHECK("mprotect PROT_READ|PROT_WRITE", syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_WRITE) == 0);
	p[0] = 'B';
	CHECK("page writable again", p[0] == 'B' && p[1] == 'A');
	printf("mprotect unaligned: %s\n", syscall(SYS_mprotect, p + 1, PAGE, PROT_READ) ? errname(errno) : "ok?");
	CHECK("munmap all", syscall(SYS_munmap, p, 3 * PAGE) == 0);
	printf("mprotect unmapped: %s\n", syscall(SYS_mprotect, p, PAGE, PROT_READ) ? errname(errno) : "ok?");
	CHECK("munmap of an unmapped range succeeds", syscall(SYS_munmap, p, 3 * PAGE) == 0);

	/* madvise(MADV_DONTNEED) drops private anonymous pages. */
	p = sys_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 0x5a, 4 * PAGE);
	CHECK("madvise MADV_DONTNEED", syscall(SYS_madvise, p + PAGE, 2 * PAGE, MADV_DONTNEED) == 0);
	CHECK("MADV_DONTNEED pages read as zero", all(p + PAGE, 2 * PAGE, 0));
	CHECK("pages outside the advice are kept", all(p, PAGE, 0x5a) && all(p + 3 * PAGE, PAGE, 0x5a));
	printf("madvise unaligned: %s\n", syscall(SYS_madvise, p + 1, PAGE, MADV_DONTNEED) ? errname(errno) : "ok?");
	syscall(SYS_munmap, p, 4 * PAGE);

	/* A 256 MiB MAP_NORESERVE mapping, touched once per MiB. */
	long big = 256L << 20;
	unsigned char *b = sys_mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK("256 MiB MAP_NORESERVE mmap", b != MAP_FAILED);
	if (b != MAP_FAILED) {
		for (long off = 0; off < big; off += 1L << 20)
			b[off + (off >> 20)] = (unsigned char)(off >> 20);
		b[big - 1] = 0xee;
		int ok = b[big - 1] == 0xee && b[big - 2] == 0;
		for (long off = 0; off < big; off += 1L << 20)
			ok &= b[off + (off >> 20)] == (unsigned char)(off >> 20) && b[off + (off >> 20) + 1] == 0;
		CHECK("sparse touches read back", ok);
		CHECK("munmap 256 MiB", syscall(SYS_munmap, b, big) == 0);
	}
}

static void file_maps(void)
{
	int fd = syscall(SYS_openat, AT_FDCWD, "/data/map.bin", O_RDONLY | O_CLOEXEC, 0);
	report("open /data/map.bin", fd);
	unsigned char *f = sys_mmap(NULL, MAP_FILE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK("private file mmap", f != MAP_FAILED);
	int same = 1;
	for (long i = 0; i < MAP_FILE_SIZE; i++)
		same &= f[i] == pattern(i);
	CHECK("file mapping shows the file's bytes", same);
	CHECK("tail of the last page past EOF is zero", all(f + MAP_FILE_SIZE, PAGE - 100, 0));
	syscall(SYS_munmap, f, MAP_FILE_SIZE);

	f = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 2 * PAGE);
	same = f != MAP_FAILED;
	for (long i = 0; same && i < PAGE; i++)
		same &= f[i] == pattern(2 * PAGE + i);
	CHECK("file mapping at offset 2 pages", same);
	syscall(SYS_munmap, f, PAGE);

	/* Writable private mapping of a read-only fd: copy-on-write. */
	f = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("writable private mapping of a read-only fd", f != MAP_FAILED);
	memset(f + 10, 'X', 20);
	CHECK("private write is visible in the mapping", f[10] == 'X' && f[29] == 'X' && f[30] == pattern(30));
	unsigned char buf[40];
	long n = syscall(SYS_pread64, fd, buf, 40L, 0L);
	same = n == 40;
	for (long i = 0; same && i < 40; i++)
		same &= buf[i] == pattern(i);
	CHECK("private write does not reach the file", same);
	unsigned char *g = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK("a second mapping sees the file, not the private copy", g != MAP_FAILED && g[10] == pattern(10));
	syscall(SYS_munmap, g, PAGE);
	syscall(SYS_munmap, f, 2 * PAGE);

	printf("MAP_SHARED|PROT_WRITE of a read-only fd: %s\n",
	       mmap_err(sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)));
	printf("mmap unaligned offset: %s\n", mmap_err(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 100)));
	syscall(SYS_close, fd);
	printf("mmap closed fd: %s\n", mmap_err(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0)));
}

static void errors(void)
{
	printf("mmap len 0: %s\n", mmap_err(sys_mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	printf("mmap neither private nor shared: %s\n", mmap_err(sys_mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0)));
	printf("mmap MAP_FIXED unaligned: %s\n",
	       mmap_err(sys_mmap((void *)0x10000001, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)));
	printf("mmap huge length: %s\n", mmap_err(sys_mmap(NULL, -PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	printf("munmap unaligned: %s\n", syscall(SYS_munmap, (void *)0x10000001, PAGE) ? errname(errno) : "ok?");
	printf("munmap len 0: %s\n", syscall(SYS_munmap, (void *)0x10000000, 0L) ? errname(errno) : "ok?");
}

int main(void)
{
	brk_tests();
	static char outbuf[1 << 14];
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	fputs(brk_log, stdout);
	anon();
	file_maps();
	errors();
	return 0;
}
