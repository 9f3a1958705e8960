/* Files of the host tree (the root, written through to the host) mapped
 * shared, across a checkpoint: a writable shared mapping whose fd was
 * closed, stored to and never msynced; a read-only shared mapping of
 * another file; and a private mapping of the first file, written to. The
 * program says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between). Then the shared mapping shows what was stored and the
 * file reads the same; a child's store through the mapping is the
 * parent's and the file's, and the child puts it back; the private copy keeps its own page, and
 * MADV_DONTNEED gives it the file's bytes again. The program leaves the
 * file as the checkpoint found it, so that a second restore finds it
 * unchanged. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define PATH "/hostmap-file"
#define RO_PATH "/hostmap-ro"
#define PG 4096
#define STORED "stored before"

static char byte_at(int fd, off_t at)
{
	char c = '?';
	return pread(fd, &c, 1, at) == 1 ? c : '?';
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int fd = open(PATH, O_CREAT | O_RDWR | O_TRUNC, 0644);
	char page[PG];
	for (int i = 0; i < 3; i++) {
		memset(page, 'a' + i, PG);
		if (fd < 0 || write(fd, page, PG) != PG) {
			perror("write");
			return 2;
		}
	}
	char *sh = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	int ro_fd = open(RO_PATH, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (ro_fd < 0 || write(ro_fd, "read-only shared", 16) != 16) {
		perror("write");
		return 2;
	}
	close(ro_fd);
	ro_fd = open(RO_PATH, O_RDONLY);
	char *ro = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro_fd, 0);
	int priv_fd = open(PATH, O_RDONLY);
	char *pv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, priv_fd, PG);
	if (sh == MAP_FAILED || ro == MAP_FAILED || pv == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	memcpy(sh, STORED, strlen(STORED));
	pv[0] = 'P';
	printf("ready\n");
	ckpt_wait_usr1();

	printf("the shared mapping: %.13s\n", sh);
	int check = open(PATH, O_RDONLY);
	char got[16] = "";
	if (check < 0 || pread(check, got, strlen(STORED), 0) != (ssize_t)strlen(STORED)) {
		perror("pread");
		return 2;
	}
	printf("the file reads: %s, then %c\n", got, byte_at(check, PG));
	printf("the private copy: %c %c\n", pv[0], pv[1]);
	/* The child stores, the parent looks, the child puts the byte back
	 * (each end's unmapping writes back what differs from the file). */
	int stored[2], looked[2];
	char c = 0;
	if (pipe(stored) || pipe(looked)) {
		perror("pipe");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		sh[2 * PG] = 'X';
		if (write(stored[1], "s", 1) != 1 || read(looked[0], &c, 1) != 1)
			_exit(1);
		sh[2 * PG] = 'c';
		_exit(0);
	}
	if (read(stored[0], &c, 1) != 1) {
		perror("read");
		return 2;
	}
	printf("the child's store: %c in the mapping, %c in the file\n", sh[2 * PG], byte_at(check, 2 * PG));
	if (write(looked[1], "l", 1) != 1) {
		perror("write");
		return 2;
	}
	waitpid(child, NULL, 0);
	printf("put back: %c\n", sh[2 * PG]);
	madvise(pv, PG, MADV_DONTNEED);
	printf("the private copy after MADV_DONTNEED: %c\n", pv[0]);
	printf("the read-only mapping: %.16s\n", ro);
	return 0;
}
