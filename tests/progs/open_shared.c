/* Many read-only opens of one file of the (read-only) rootfs: each has its
 * own offset and status flags, reads what the others read, and outlives
 * the others' close; a mapping of one sees the same bytes. (Husk shares
 * one host fd among such opens.) Expects /data/medium.bin from
 * tests/progs_diff.rs: 100000 pseudo-random bytes. */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static unsigned sum(const unsigned char *b, long n)
{
	unsigned s = 0;
	for (long i = 0; i < n; i++)
		s = s * 31 + b[i];
	return s;
}

int main(void)
{
	const char *path = "/data/medium.bin";
	int fd[4];
	for (int i = 0; i < 4; i++)
		fd[i] = open(path, i == 3 ? O_RDONLY | O_NONBLOCK : O_RDONLY);
	printf("opened: %d\n", fd[0] >= 0 && fd[1] >= 0 && fd[2] >= 0 && fd[3] >= 0);
	unsigned char a[1000], b[1000];
	/* Interleaved reads: each fd at its own position. */
	long n0 = read(fd[0], a, 500);
	long n1 = read(fd[1], b, 1000);
	long n2 = read(fd[0], a + 500, 500);
	printf("reads: %ld %ld %ld, same bytes %d\n", n0, n1, n2, memcmp(a, b, 1000) == 0);
	off_t p = lseek(fd[2], 50000, SEEK_SET);
	long n3 = read(fd[2], a, 1000);
	printf("seek %ld read %ld sum %u; others at %ld %ld\n", (long)p, n3, sum(a, n3), (long)lseek(fd[0], 0, SEEK_CUR),
	       (long)lseek(fd[1], 0, SEEK_CUR));
	int fl0 = fcntl(fd[0], F_GETFL), fl3 = fcntl(fd[3], F_GETFL);
	printf("nonblock: %d %d\n", (fl0 & O_NONBLOCK) != 0, (fl3 & O_NONBLOCK) != 0);
	fcntl(fd[1], F_SETFL, O_NONBLOCK);
	fl0 = fcntl(fd[0], F_GETFL);
	int fl1 = fcntl(fd[1], F_GETFL);
	printf("after F_SETFL on another: %d %d\n", (fl0 & O_NONBLOCK) != 0, (fl1 & O_NONBLOCK) != 0);
	struct stat s0, s1;
	fstat(fd[0], &s0);
	fstat(fd[1], &s1);
	printf("same file: %d, size %ld\n", s0.st_ino == s1.st_ino && s0.st_dev == s1.st_dev, (long)s0.st_size);
	/* Closing some leaves the rest working, and a new open starts at 0. */
	close(fd[0]);
	close(fd[1]);
	long n4 = pread(fd[2], b, 1000, 50000);
	printf("after close: pread %ld same %d\n", n4, n4 == n3 && memcmp(a, b, 1000) == 0);
	int again = open(path, O_RDONLY);
	printf("reopened at %ld\n", (long)lseek(again, 0, SEEK_CUR));
	unsigned char *m = mmap(NULL, 100000, PROT_READ, MAP_PRIVATE, again, 0);
	close(again);
	close(fd[2]);
	close(fd[3]);
	printf("mapped after close: %d\n", m != MAP_FAILED && memcmp(m + 50000, a, 1000) == 0);
	/* Many opens at once, all closed, twice over. */
	int ok = 1;
	for (int round = 0; round < 2; round++) {
		int many[300];
		for (int i = 0; i < 300; i++)
			many[i] = open(path, O_RDONLY);
		for (int i = 0; i < 300; i++) {
			unsigned char c;
			ok &= pread(many[i], &c, 1, i) == 1 && c == m[i];
			close(many[i]);
		}
	}
	printf("300 opens: %d\n", ok);
	return 0;
}
