/* Named pipes (FIFOs) across a checkpoint. /tmp/ckpt-fifo is open for
 * reading (non-blocking) and for writing in the parent, with data in it
 * and a capacity of its own; /tmp/ckpt-fifo2 is open O_RDWR (both ends in
 * one file) in a child that waits on it. The program says "ready" and
 * waits for SIGUSR1 (a checkpoint and a restore come in between). Then a
 * new open of the first FIFO's path must reach the same pipe (a writer's
 * open does not wait: the parent's reader is still there), the data
 * written before comes out first, the capacity held, and the child wakes
 * when the parent writes into the second FIFO through a new open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define FIFO "/tmp/ckpt-fifo"
#define FIFO2 "/tmp/ckpt-fifo2"

static void drain(int fd, const char *what)
{
	char buf[128] = { 0 };
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	printf("%s: %zd [%s]\n", what, n, n > 0 ? buf : n == 0 ? "end of file" : strerror(errno));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	unlink(FIFO);
	unlink(FIFO2);
	if (mkfifo(FIFO, 0600) != 0 || mkfifo(FIFO2, 0600) != 0) {
		perror("mkfifo");
		return 2;
	}
	int rd = open(FIFO, O_RDONLY | O_NONBLOCK);
	int wr = open(FIFO, O_WRONLY);
	if (rd < 0 || wr < 0 || fcntl(wr, F_SETPIPE_SZ, 8192) < 0 || write(wr, "written before", 14) != 14) {
		perror("open the FIFO");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		close(rd);
		close(wr);
		int both = open(FIFO2, O_RDWR);
		char buf[64] = { 0 };
		if (both < 0)
			_exit(3);
		/* Blocks until the parent writes, after the restore. */
		ssize_t n = read(both, buf, sizeof(buf) - 1);
		printf("child read %zd [%s]\n", n, buf);
		_exit(0);
	}
	printf("ready\n");
	ckpt_wait_usr1();

	printf("capacity: %d\n", fcntl(rd, F_GETPIPE_SZ));
	int again = open(FIFO, O_WRONLY);
	if (again < 0 || write(again, ", then after", 12) != 12) {
		perror("open the FIFO again");
		return 2;
	}
	drain(rd, "the reader");
	close(again);
	close(wr);
	drain(rd, "the reader, writers gone");
	struct stat st;
	fstat(rd, &st);
	printf("a FIFO: %s\n", S_ISFIFO(st.st_mode) ? "yes" : "no");
	int to_child = open(FIFO2, O_WRONLY);
	if (to_child < 0 || write(to_child, "wake up", 7) != 7) {
		perror("open the second FIFO");
		return 2;
	}
	int status;
	waitpid(child, &status, 0);
	printf("child exited %d\n", WEXITSTATUS(status));
	unlink(FIFO);
	unlink(FIFO2);
	return 0;
}
