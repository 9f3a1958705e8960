/* pidfds across a checkpoint: one of a child blocked reading a pipe, one
 * of a child that has exited (a zombie), one of a child already reaped.
 * The program says "ready" and waits for SIGUSR1 (a checkpoint and a
 * restore come in between). Then the zombie's pidfd polls readable and
 * waitid(P_PIDFD) reaps it, the live child's pidfd is not readable, takes
 * pidfd_send_signal's SIGTERM, and reaps it, and the reaped child's polls
 * readable and hung up and names no process (ESRCH, ECHILD). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int hold[2];
	if (pipe(hold) != 0)
		return 2;
	pid_t live = fork();
	if (live == 0) {
		char c;
		while (read(hold[0], &c, 1) != 0)
			;
		_exit(0);
	}
	pid_t dead = fork();
	if (dead == 0)
		_exit(7);
	pid_t gone = fork();
	if (gone == 0)
		_exit(9);
	int live_fd = pidfd_open_(live), dead_fd = pidfd_open_(dead), gone_fd = pidfd_open_(gone);
	siginfo_t si;
	if (gone_fd < 0 || waitpid(gone, NULL, 0) != gone) {
		perror("reap");
		return 2;
	}
	if (live_fd < 0 || dead_fd < 0 || waitid(P_PID, dead, &si, WEXITED | WNOWAIT) != 0) {
		perror("pidfd_open");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	struct pollfd pg = { .fd = gone_fd, .events = POLLIN };
	poll(&pg, 1, 0);
	printf("the reaped child's pidfd: %s%s\n", pg.revents & POLLIN ? "readable" : "not readable",
	       pg.revents & POLLHUP ? ", hung up" : "");
	errno = 0;
	syscall(SYS_pidfd_send_signal, gone_fd, SIGTERM, NULL, 0);
	printf("a signal through it: %s\n", strerror(errno));
	printf("waitid through it: %s\n", waitid(P_PIDFD, gone_fd, &si, WEXITED | WNOHANG) == 0 ? "a child" : strerror(errno));
	printf("the zombie's pidfd is readable: %s\n", readable(dead_fd) ? "yes" : "no");
	si.si_pid = 0;
	waitid(P_PIDFD, dead_fd, &si, WEXITED);
	printf("waitid through it: pid matches %s, status %d\n", si.si_pid == dead ? "yes" : "no", si.si_status);
	printf("the live child's pidfd is readable: %s\n", readable(live_fd) ? "yes" : "no");
	printf("pidfd_send_signal: %ld\n", syscall(SYS_pidfd_send_signal, live_fd, SIGTERM, NULL, 0));
	si.si_pid = 0;
	waitid(P_PIDFD, live_fd, &si, WEXITED);
	printf("waitid through it: pid matches %s, killed by %s\n", si.si_pid == live ? "yes" : "no",
	       si.si_code == CLD_KILLED && si.si_status == SIGTERM ? "SIGTERM" : "?");
	return 0;
}
