/* 4 GiB writes, none of which may cost 4 GiB of memory: to /dev/null
 * from an untouched 4 GiB mapping (one write gives at most 0x7ffff000
 * bytes, Linux's MAX_RW_COUNT: four calls and a bit), by writev with 4
 * iovecs of 1 GiB, and a sparse file of 4 GiB + 1 in the read-write
 * volume (the host's disk: the test checks the file's size there): a
 * seek past 4 GiB and one byte, read back at the end and as a hole. */
#include "escape.h"

#include <sys/mman.h>
#include <sys/uio.h>

#define GIB (1ULL << 30)

int main(void)
{
	char *buf = mmap(NULL, 4 * GIB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	EXPECT_OK("mmap 4 GiB, untouched", buf == MAP_FAILED ? -1 : 0);
	int null = open("/dev/null", O_WRONLY);
	long first = write(null, buf, 4 * GIB);
	esc_check("write(/dev/null, 4 GiB)", first == 0x7ffff000, "%ld bytes: MAX_RW_COUNT", first);
	unsigned long long total = 0;
	int calls = 0;
	while (total < 4 * GIB && calls < 10) {
		long r = write(null, buf + total, 4 * GIB - total);
		if (r <= 0)
			break;
		total += r;
		calls++;
	}
	esc_check("4 GiB to /dev/null", total == 4 * GIB && calls == 3, "%llu bytes in %d calls", total, calls);
	struct iovec iov[4];
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ buf + i * GIB, GIB };
	long w = writev(null, iov, 4);
	esc_check("writev(/dev/null, 4 x 1 GiB)", w == 0x7ffff000, "%ld bytes", w);

	int fd = open("/vol/sparse-4gib", O_RDWR | O_CREAT | O_TRUNC, 0644);
	EXPECT_OK("create /vol/sparse-4gib", fd);
	EXPECT_OK("pwrite 1 byte at 4 GiB", pwrite(fd, "!", 1, 4 * GIB) == 1 ? 0 : -1);
	struct stat st;
	fstat(fd, &st);
	esc_check("its size", st.st_size == (off_t)(4 * GIB + 1), "%lld bytes", (long long)st.st_size);
	esc_check("its blocks", st.st_blocks < 1024, "%lld (sparse)", (long long)st.st_blocks);
	char c[2] = { 0 };
	EXPECT_OK("read back the last byte", pread(fd, c, 1, 4 * GIB) == 1 && c[0] == '!' ? 0 : -1);
	EXPECT_OK("read the hole at 2 GiB", pread(fd, c, 1, 2 * GIB) == 1 && c[0] == 0 ? 0 : -1);
	EXPECT_OK("lseek(SEEK_END)", lseek(fd, 0, SEEK_END) == (off_t)(4 * GIB + 1) ? 0 : -1);
	close(fd);
	return esc_finish();
}
