/* preadv, pwritev, preadv2 and pwritev2: data at a position through
 * several buffers, the file offset left alone (and used with position -1
 * in the v2 calls), RWF_APPEND, and the errors: ESPIPE on a pipe, EINVAL
 * for a negative position or too many iovecs, EOPNOTSUPP for unknown
 * flags, EBADF for the wrong access mode.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open("/tmp/rw_vectored", O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(fd, "0123456789", 10);
	lseek(fd, 2, SEEK_SET);
	char a[3] = "", b[4] = "";
	struct iovec rd[2] = { { a, 2 }, { b, 3 } };
	printf("preadv at 4: %zd [%.2s|%.3s]\n", preadv(fd, rd, 2, 4), a, b);
	printf("the offset stays: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	struct iovec wr[2] = { { "ab", 2 }, { "cde", 3 } };
	printf("pwritev at 8: %zd\n", pwritev(fd, wr, 2, 8));
	char all[32] = "";
	pread(fd, all, sizeof all - 1, 0);
	printf("file: %s\n", all);
	printf("preadv2 at -1 (the offset): %zd [%.2s|%.3s]\n", preadv2(fd, rd, 2, -1, 0), a, b);
	printf("the offset moved: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	printf("pwritev2 RWF_APPEND at 0: %zd\n", pwritev2(fd, wr, 1, 0, RWF_APPEND));
	memset(all, 0, sizeof all);
	pread(fd, all, sizeof all - 1, 0);
	printf("file: %s\n", all);
	printf("preadv2 RWF_HIPRI: %zd\n", preadv2(fd, rd, 1, 0, RWF_HIPRI));
	report("preadv2 with an unknown flag", preadv2(fd, rd, 1, 0, 0x1000));
	report("preadv at -2", preadv(fd, rd, 1, -2));
	static struct iovec many[IOV_MAX + 1];
	report("preadv with too many iovecs", preadv(fd, many, IOV_MAX + 1, 0));
	int p[2];
	pipe(p);
	report("preadv on a pipe", preadv(p[0], rd, 1, 0));
	report("preadv2 at -1 on a pipe (as readv)", (write(p[1], "xy", 2), preadv2(p[0], rd, 1, -1, 0)));
	int ro = open("/tmp/rw_vectored", O_RDONLY);
	report("pwritev on an O_RDONLY fd", pwritev(ro, wr, 1, 0));
	report("preadv on a bad fd", preadv(99, rd, 1, 0));
	unlink("/tmp/rw_vectored");
	printf("done\n");
	return 0;
}
