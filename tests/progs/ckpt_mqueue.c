/* POSIX message queues across a checkpoint. Before "ready": a queue with
 * three messages of different priorities; a queue unlinked while open
 * (only the fd holds it) with a message; an empty queue with an mq_notify
 * registration for SIGUSR2; an empty queue with a SIGEV_THREAD one (glibc's
 * helper thread waits on its netlink socket); and an empty queue a child
 * waits on in mq_receive. The program waits for SIGUSR1 (a checkpoint and a restore
 * come in between). Then the messages come out by priority, the attributes
 * are as before, the unlinked queue still reads and its name still finds
 * nothing, a send to the registered queue brings SIGUSR2 with its value, a
 * send to the other runs the thread asked for,
 * and the child's receive takes what the parent sends. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static volatile sig_atomic_t usr2_value = -1;
static volatile int thread_value = -1;

static void in_thread(union sigval v)
{
	thread_value = v.sival_int;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	usr2_value = si->si_value.sival_int;
}

static const char *names[] = { "/ckpt-q", "/ckpt-gone", "/ckpt-notify", "/ckpt-wait", "/ckpt-thread" };

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO };
	sigaction(SIGUSR2, &sa, NULL);
	for (int i = 0; i < 5; i++)
		mq_unlink(names[i]);
	struct mq_attr attr = { .mq_maxmsg = 5, .mq_msgsize = 64 };
	mqd_t q = mq_open(names[0], O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	mqd_t gone = mq_open(names[1], O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	mqd_t notify = mq_open(names[2], O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &attr);
	mqd_t wait_q = mq_open(names[3], O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	mqd_t thread_q = mq_open(names[4], O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &attr);
	if (q < 0 || gone < 0 || notify < 0 || wait_q < 0 || thread_q < 0) {
		perror("mq_open");
		return 2;
	}
	mq_send(q, "low", 3, 1);
	mq_send(q, "high", 4, 5);
	mq_send(q, "middle", 6, 3);
	mq_send(gone, "kept by its fd", 14, 0);
	mq_unlink(names[1]);
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
	ev.sigev_value.sival_int = 42;
	if (mq_notify(notify, &ev) != 0) {
		perror("mq_notify");
		return 2;
	}
	struct sigevent tev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = in_thread };
	tev.sigev_value.sival_int = 7;
	if (mq_notify(thread_q, &tev) != 0) {
		perror("mq_notify SIGEV_THREAD");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		char buf[64] = { 0 };
		unsigned prio = 0;
		ssize_t n = mq_receive(wait_q, buf, sizeof(buf), &prio);
		printf("the child received %zd [%s] at %u\n", n, buf, prio);
		_exit(0);
	}
	printf("ready\n");
	ckpt_wait_usr1();

	struct mq_attr now;
	mq_getattr(q, &now);
	printf("attributes: maxmsg %ld, msgsize %ld, %ld queued\n", now.mq_maxmsg, now.mq_msgsize, now.mq_curmsgs);
	for (int i = 0; i < 3; i++) {
		char buf[64] = { 0 };
		unsigned prio = 0;
		ssize_t n = mq_receive(q, buf, sizeof(buf), &prio);
		printf("received %zd [%s] at %u\n", n, buf, prio);
	}
	char buf[64] = { 0 };
	ssize_t n = mq_receive(gone, buf, sizeof(buf), NULL);
	printf("the unlinked queue: %zd [%s]\n", n, buf);
	printf("its name: %s\n", mq_open(names[1], O_RDONLY) < 0 ? strerror(errno) : "found");
	mq_send(notify, "ping", 4, 0);
	for (int tries = 0; tries < 2000 && usr2_value < 0; tries++)
		usleep(1000);
	printf("the notification's value: %d\n", (int)usr2_value);
	mq_send(thread_q, "pong", 4, 0);
	for (int tries = 0; tries < 2000 && thread_value < 0; tries++)
		usleep(1000);
	printf("the thread notification's value: %d\n", thread_value);
	mq_send(wait_q, "for the child", 13, 9);
	int status;
	waitpid(child, &status, 0);
	printf("the child exited %d\n", WEXITSTATUS(status));
	for (int i = 0; i < 5; i++)
		mq_unlink(names[i]);
	return 0;
}
