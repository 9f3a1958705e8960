/* Files of an overlay root whose upper layer keeps their data on disk
 * (dev.husk.overlay=disk:DIR), across a checkpoint: a new file with a
 * hole in it; a lower file changed (copied up); a file unlinked while open,
 * its offset mid-file; a file mapped shared and stored to, its fd closed;
 * a file mapped private and written to; a file of 3 MiB. The program says
 * "ready" and waits for SIGUSR1 (a checkpoint and a restore come in
 * between), then reads everything back, and writes some more. Natively it
 * runs in a chroot of the test root, so it leaves that root as it found
 * it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define PG 4096
#define HOLE_AT (1 << 20)
#define BIG (3 << 20)

static int must(int ok, const char *what)
{
	if (!ok) {
		perror(what);
		_exit(2);
	}
	return 1;
}

static int new_file(const char *path)
{
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	must(fd >= 0, path);
	return fd;
}

static uint32_t sum_of(int fd, off_t size)
{
	static char buf[1 << 16];
	uint32_t sum = 0;
	for (off_t at = 0; at < size;) {
		ssize_t n = pread(fd, buf, sizeof buf, at);
		must(n > 0, "pread");
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + (unsigned char)buf[i];
		at += n;
	}
	return sum;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	must(mkdir("/dk", 0755) == 0 || errno == EEXIST, "mkdir");

	char page[PG];
	memset(page, 'A', PG);
	int sparse = new_file("/dk/sparse");
	must(pwrite(sparse, page, PG, 0) == PG, "pwrite");
	must(pwrite(sparse, "tail!", 5, HOLE_AT + 3) == 5, "pwrite");
	close(sparse);

	int lower = open("/sub/lower.txt", O_WRONLY | O_APPEND);
	must(lower >= 0 && write(lower, "+more", 5) == 5, "append to the lower file");
	close(lower);

	int unlinked = new_file("/dk/unlinked");
	must(write(unlinked, "unlinked-data", 13) == 13, "write");
	lseek(unlinked, 9, SEEK_SET);
	unlink("/dk/unlinked");

	int shared_fd = new_file("/dk/shared");
	must(ftruncate(shared_fd, 2 * PG) == 0, "ftruncate");
	char *sh = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
	must(sh != MAP_FAILED, "mmap shared");
	close(shared_fd);
	memcpy(sh, "shared-one", 10);
	memcpy(sh + PG, "page-two", 8);

	int priv_fd = new_file("/dk/private");
	must(write(priv_fd, "private-file", 12) == 12, "write");
	char *pv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, priv_fd, 0);
	must(pv != MAP_FAILED, "mmap private");
	memcpy(pv, "PRIVATE", 7);

	int big = new_file("/dk/big");
	for (int i = 0; i < BIG / PG; i++) {
		memset(page, 'a' + i % 26, PG);
		page[0] = (char)i;
		must(write(big, page, PG) == PG, "write big");
	}
	uint32_t big_sum = sum_of(big, BIG);
	close(big);

	printf("ready\n");
	ckpt_wait_usr1();

	struct stat st;
	sparse = open("/dk/sparse", O_RDONLY);
	must(sparse >= 0 && fstat(sparse, &st) == 0, "the sparse file");
	char got[PG + 1] = "";
	int as = pread(sparse, got, PG, 0) == PG && got[0] == 'A' && got[PG - 1] == 'A';
	must(pread(sparse, got, PG, HOLE_AT / 2) == PG, "pread the hole");
	int zeros = 1;
	for (int i = 0; i < PG; i++)
		zeros &= got[i] == 0;
	memset(got, 0, sizeof got);
	must(pread(sparse, got, 16, HOLE_AT + 3) == 5, "pread the tail");
	printf("the sparse file: %lld bytes, its first page %s, its hole %s, its tail %s\n", (long long)st.st_size,
	       as ? "A's" : "wrong", zeros ? "zeros" : "not zeros", got);

	lower = open("/sub/lower.txt", O_RDONLY);
	memset(got, 0, sizeof got);
	must(lower >= 0 && read(lower, got, PG) >= 0, "read the lower file");
	printf("the lower file: %s\n", got);
	close(lower);

	memset(got, 0, sizeof got);
	must(read(unlinked, got, PG) == 4, "read the unlinked file");
	must(fstat(unlinked, &st) == 0, "fstat");
	printf("the unlinked file from offset 9: %s (%lu links)\n", got, (unsigned long)st.st_nlink);
	must(write(unlinked, "+after", 6) == 6, "write");
	memset(got, 0, sizeof got);
	must(pread(unlinked, got, PG, 0) == 19, "pread");
	printf("written to after: %s\n", got);

	printf("the shared mapping: %.10s, %.8s\n", sh, sh + PG);
	shared_fd = open("/dk/shared", O_RDWR);
	memset(got, 0, sizeof got);
	must(shared_fd >= 0 && pread(shared_fd, got, 10, 0) == 10, "pread shared");
	printf("the shared file reads: %s\n", got);
	memcpy(sh, "shared-two", 10);
	memset(got, 0, sizeof got);
	must(pread(shared_fd, got, 10, 0) == 10, "pread shared");
	printf("a store through the mapping, read from the file: %s\n", got);
	must(pwrite(shared_fd, "THREE", 5, PG) == 5, "pwrite shared");
	printf("a write to the file, seen in the mapping: %.8s\n", sh + PG);

	memset(got, 0, sizeof got);
	must(pread(priv_fd, got, 12, 0) == 12, "pread private");
	printf("the private mapping: %.12s; its file: %s\n", pv, got);

	big = open("/dk/big", O_RDONLY);
	must(big >= 0 && fstat(big, &st) == 0, "the big file");
	printf("the big file: %lld bytes, %s\n", (long long)st.st_size,
	       sum_of(big, BIG) == big_sum ? "the same bytes" : "CHANGED");

	int after = new_file("/dk/after");
	must(write(after, "made after", 10) == 10, "write");
	memset(got, 0, sizeof got);
	must(pread(after, got, PG, 0) == 10, "pread");
	printf("a file made after: %s\n", got);

	/* Natively: leave the test root as it was. */
	const char *made[] = { "/dk/sparse", "/dk/shared", "/dk/private", "/dk/big", "/dk/after" };
	for (unsigned i = 0; i < sizeof made / sizeof *made; i++)
		unlink(made[i]);
	rmdir("/dk");
	lower = open("/sub/lower.txt", O_WRONLY);
	must(lower >= 0 && ftruncate(lower, 5) == 0, "put the lower file back");
	return 0;
}
