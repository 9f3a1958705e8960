/* A shared mapping of a tmpfs file across a checkpoint: the parent and
 * a child both map /tmp/shared (two pages) shared; the parent says
 * "ready" and waits for SIGUSR1 (a checkpoint and a restore come in
 * between). Then the child writes through its mapping, and the parent
 * must see the write in its own, in the file's read, and in a new
 * mapping; a write(2) to the file must show in the old mapping. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int fd = open("/tmp/shared", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 8192) < 0) {
		perror("/tmp/shared");
		return 2;
	}
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	strcpy(p, "written before");
	int go[2];
	if (pipe(go) < 0)
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		strcpy(p + 100, "from the child");
		_exit(0);
	}
	printf("ready\n");
	ckpt_wait_usr1();
	if (write(go[1], "g", 1) != 1)
		return 2;
	int status;
	waitpid(pid, &status, 0);
	printf("child: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	printf("mapping: %s, %s\n", p, p + 100);
	char buf[32] = { 0 };
	pread(fd, buf, 14, 100);
	printf("read: %s\n", buf);
	char *q = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	printf("a new mapping: %s, %s\n", q, q + 100);
	pwrite(fd, "by write", 9, 4096);
	printf("the old mapping sees a write: %s\n", p + 4096);
	return 0;
}
