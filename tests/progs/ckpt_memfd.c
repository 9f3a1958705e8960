/* memfds across a checkpoint: one sealed against growing and shrinking,
 * written through a shared mapping that a forked child also has; a second,
 * unsealed one, open in the parent only at an offset. The program says
 * "ready" and waits for SIGUSR1 (a checkpoint and a restore come in
 * between). Then the child writes through its mapping and the parent must
 * see it in its own mapping and by read(2); the seals still hold (ftruncate
 * EPERM, F_GET_SEALS the same), a reopen through /proc/self/fd shares them,
 * the second memfd reads on from its offset, and /proc/self/fd names both
 * as Linux does. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static void link_of(int fd)
{
	char path[64], target[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = 0;
	printf("fd %d is %s\n", fd, target);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int a = memfd_create("shared-pages", MFD_ALLOW_SEALING);
	int b = memfd_create("plain", 0);
	if (a < 0 || b < 0 || ftruncate(a, 8192) != 0 || write(b, "0123456789", 10) != 10) {
		perror("memfd_create");
		return 2;
	}
	char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	if (map == MAP_FAILED || fcntl(a, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) != 0) {
		perror("mmap or seal");
		return 2;
	}
	strcpy(map + 4096, "written before");
	lseek(b, 4, SEEK_SET);
	int hold[2];
	if (pipe(hold) != 0)
		return 2;
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(hold[1]);
		if (read(hold[0], &c, 1) != 1)
			_exit(3);
		strcpy(map + 4096, "the child wrote this after the restore");
		_exit(0);
	}
	close(hold[0]);
	printf("ready\n");
	ckpt_wait_usr1();

	if (write(hold[1], "go", 1) != 1)
		return 2;
	int status;
	waitpid(child, &status, 0);
	printf("child exited %d\n", WEXITSTATUS(status));
	printf("the parent's mapping says: %s\n", map + 4096);
	char buf[64] = { 0 };
	pread(a, buf, sizeof(buf) - 1, 4096);
	printf("read(2) says: %s\n", buf);
	printf("seals: %#x\n", fcntl(a, F_GET_SEALS));
	printf("ftruncate past the seal: %s\n", ftruncate(a, 16384) == 0 ? "allowed" : strerror(errno));
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", a);
	int again = open(path, O_RDWR);
	printf("a reopen's seals: %#x\n", again < 0 ? -1 : fcntl(again, F_GET_SEALS));
	memset(buf, 0, sizeof(buf));
	printf("the plain memfd reads on: %zd [%s]\n", read(b, buf, sizeof(buf) - 1), buf);
	struct stat st;
	fstat(a, &st);
	printf("size %lld, links %ld\n", (long long)st.st_size, (long)st.st_nlink);
	link_of(a);
	link_of(b);
	return 0;
}
