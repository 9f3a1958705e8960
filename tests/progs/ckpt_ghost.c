/* A file of the host tree (the root, written through to the host)
 * deleted while open and mapped, across a checkpoint: an fd at an offset,
 * a read-only private mapping, and a private mapping written to. The
 * program says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between). Then the fd reads on from its offset, both mappings
 * show what they did (the written page its own copy), MADV_DONTNEED gives
 * the written page the file's bytes again, fstat says no links, and the
 * file can still be written through the fd. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define PATH "/ghost-file"
#define PG 4096

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	unlink(PATH);
	int fd = open(PATH, O_CREAT | O_RDWR, 0644);
	char page[PG];
	for (int i = 0; i < 3; i++) {
		memset(page, 'a' + i, PG);
		if (fd < 0 || write(fd, page, PG) != PG) {
			perror("write");
			return 2;
		}
	}
	char *ro = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	char *rw = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (ro == MAP_FAILED || rw == MAP_FAILED || lseek(fd, PG + 5, SEEK_SET) != PG + 5) {
		perror("mmap");
		return 2;
	}
	rw[0] = 'X';
	if (unlink(PATH) != 0) {
		perror("unlink");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	char buf[8] = { 0 };
	printf("the fd reads on: %zd [%s]\n", read(fd, buf, 4), buf);
	printf("the read-only mapping: %c %c %c\n", ro[0], ro[PG], ro[2 * PG]);
	printf("the written mapping: %c %c\n", rw[0], rw[1]);
	madvise(rw, PG, MADV_DONTNEED);
	printf("after MADV_DONTNEED: %c\n", rw[0]);
	struct stat st;
	fstat(fd, &st);
	printf("links %ld, size %lld\n", (long)st.st_nlink, (long long)st.st_size);
	printf("a write through the fd: %zd\n", pwrite(fd, "zz", 2, 3 * PG));
	fstat(fd, &st);
	printf("size now %lld\n", (long long)st.st_size);
	printf("the path: %s\n", access(PATH, F_OK) == 0 ? "there" : "gone");
	return 0;
}
