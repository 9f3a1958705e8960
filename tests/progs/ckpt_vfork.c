/* A vfork in progress across a checkpoint: a process P vforks, and its
 * child C, still sharing P's memory, waits on a pipe before it execs. The
 * main process says "ready" once C waits, and waits for SIGUSR1 (a
 * checkpoint and a restore come in between); then it lets C go on. C
 * execs (this program again, which exits 4), which releases P: vfork
 * returns C's pid, and P reaps it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

int main(int argc, char **argv)
{
	if (argc > 1)
		return 4;
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int go[2], waiting[2];
	if (pipe(go) != 0 || pipe(waiting) != 0)
		return 2;
	pid_t p = fork();
	if (p == 0) {
		pid_t c = vfork();
		if (c == 0) {
			char b;
			if (write(waiting[1], "w", 1) != 1 || read(go[0], &b, 1) != 1)
				_exit(3);
			execl("/progs/ckpt_vfork", "ckpt_vfork", "child", (char *)NULL);
			_exit(5);
		}
		int st;
		printf("vfork returned the child: %s\n", c > 0 ? "yes" : "no");
		printf("the child exited %d\n", waitpid(c, &st, 0) == c && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		_exit(0);
	}
	char b;
	if (read(waiting[0], &b, 1) != 1)
		return 2;
	printf("ready\n");
	ckpt_wait_usr1();
	if (write(go[1], "g", 1) != 1)
		return 2;
	int st;
	printf("P exited %d\n", waitpid(p, &st, 0) == p && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
