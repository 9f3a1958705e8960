/* An IPC namespace of its own across a checkpoint: the process makes a
 * System V segment in the sandbox's first IPC namespace, then unshares
 * one of its own and makes there a segment (attached), a semaphore set
 * and a message queue under keys, and a POSIX message queue; it keeps an
 * open file of the first namespace (/proc/self/ns/ipc). Says "ready" and
 * waits for SIGUSR1 (a checkpoint and a restore come in between). Then
 * each object reads back in its own namespace, and a child that enters
 * the first namespace through the open file finds the first segment. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define KEY 0x4b1d

struct msg {
	long type;
	char text[32];
};

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int first = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *fp = first < 0 ? (char *)-1 : shmat(first, NULL, 0);
	if (fp == (char *)-1) {
		printf("the first namespace's segment: %s\n", strerrorname_np(errno));
		return 1;
	}
	strcpy(fp, "in the first namespace");
	shmdt(fp);
	int first_ns = open("/proc/self/ns/ipc", O_RDONLY);
	if (first_ns < 0 || unshare(CLONE_NEWIPC) != 0) {
		printf("unshare: %s\n", strerrorname_np(errno));
		shmctl(first, IPC_RMID, NULL);
		return 1;
	}
	int shm = shmget(KEY, 4096, IPC_CREAT | 0600);
	char *p = shm < 0 ? (char *)-1 : shmat(shm, NULL, 0);
	int sem = semget(KEY, 1, IPC_CREAT | 0600);
	int msq = msgget(KEY, IPC_CREAT | 0600);
	struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };
	mqd_t mq = mq_open("/in-ns", O_CREAT | O_RDWR, 0600, &attr);
	struct msg m = { 1, "a message in the namespace" };
	if (p == (char *)-1 || sem < 0 || msq < 0 || mq == (mqd_t)-1 || semctl(sem, 0, SETVAL, 7) != 0 ||
	    msgsnd(msq, &m, sizeof m.text, 0) != 0 || mq_send(mq, "a queued message", 17, 3) != 0) {
		printf("the namespace's objects: %s\n", strerrorname_np(errno));
		return 1;
	}
	strcpy(p, "in its own namespace");
	printf("ready\n");
	ckpt_wait_usr1();

	printf("the attached segment: %s\n", p);
	printf("its key finds it again: %s\n", shmget(KEY, 0, 0) == shm ? "yes" : "no");
	printf("the semaphore: %d\n", semctl(semget(KEY, 0, 0), 0, GETVAL));
	struct msg got = { 0, "" };
	if (msgrcv(msgget(KEY, 0), &got, sizeof got.text, 0, IPC_NOWAIT) < 0)
		printf("msgrcv: %s\n", strerrorname_np(errno));
	printf("the message: %s\n", got.text);
	char buf[32] = "";
	unsigned prio = 0;
	mqd_t again = mq_open("/in-ns", O_RDONLY | O_NONBLOCK);
	if (again == (mqd_t)-1 || mq_receive(again, buf, sizeof buf, &prio) < 0)
		printf("mq_receive: %s\n", strerrorname_np(errno));
	printf("the POSIX queue: %s (priority %u)\n", buf, prio);
	pid_t child = fork();
	if (child == 0) {
		if (setns(first_ns, CLONE_NEWIPC) != 0) {
			printf("setns: %s\n", strerrorname_np(errno));
			_exit(1);
		}
		char *back = shmat(first, NULL, SHM_RDONLY);
		printf("the first namespace again: %s\n", back == (char *)-1 ? strerrorname_np(errno) : back);
		shmctl(first, IPC_RMID, NULL);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	mq_unlink("/in-ns");
	return 0;
}
