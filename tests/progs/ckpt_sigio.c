/* Signal-driven I/O across a checkpoint: a pipe's read end owned by the
 * process (F_SETOWN) with F_SETSIG's real-time signal and O_ASYNC, and a
 * socket owned the same way with plain SIGIO. The program says "ready"
 * and waits for SIGUSR1 (a checkpoint and a restore come in between).
 * Then the settings read back, and data written to each brings its
 * signal, with the fd and POLL_IN for the real-time one. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt_wait.h"

static volatile sig_atomic_t rt_fd = -1, rt_code, sigios;

static void on_rt(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	rt_fd = si->si_fd;
	rt_code = si->si_code;
}

static void on_sigio(int sig)
{
	(void)sig;
	sigios++;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigaction(SIGRTMIN + 1, &sa, NULL);
	struct sigaction io = { .sa_handler = on_sigio, .sa_flags = SA_RESTART };
	sigaction(SIGIO, &io, NULL);
	int p[2], s[2];
	if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
		return 2;
	if (fcntl(p[0], F_SETOWN, getpid()) != 0 || fcntl(p[0], F_SETSIG, SIGRTMIN + 1) != 0
	    || fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK) != 0 || fcntl(s[0], F_SETOWN, getpid()) != 0
	    || fcntl(s[0], F_SETFL, O_ASYNC) != 0) {
		perror("fcntl");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	printf("pipe: owner is this process: %s, F_GETSIG is SIGRTMIN+1: %s, O_ASYNC: %s\n",
	       fcntl(p[0], F_GETOWN) == getpid() ? "yes" : "no", fcntl(p[0], F_GETSIG) == SIGRTMIN + 1 ? "yes" : "no",
	       fcntl(p[0], F_GETFL) & O_ASYNC ? "on" : "off");
	if (write(p[1], "x", 1) != 1)
		return 2;
	printf("pipe: the signal came with its fd: %s, POLL_IN: %s\n", rt_fd == p[0] ? "yes" : "no",
	       rt_code == POLL_IN ? "yes" : "no");
	printf("socket: owner is this process: %s\n", fcntl(s[0], F_GETOWN) == getpid() ? "yes" : "no");
	if (write(s[1], "y", 1) != 1)
		return 2;
	printf("socket: SIGIO came: %s\n", sigios > 0 ? "yes" : "no");
	return 0;
}
