/* System V IPC across a checkpoint. Before "ready":
 * - a keyed segment the parent and a forked child both attach, written
 *   by the parent; a second keyed segment attached and removed at once
 *   (it lives on, keyless, while attached); a third never attached;
 * - a set of two semaphores: a child takes semaphore 0 with SEM_UNDO and
 *   waits, another child waits in semop for semaphore 1;
 * - a message queue holding two messages of different types.
 * The program waits for SIGUSR1 (a checkpoint and a restore come in
 * between). Then every object must be found again by its key under the
 * same id, with its contents: the child's write through its attach shows
 * in the parent's, the attach counts are as before, semaphore 1's waiter
 * wakes when the parent posts it, the undo of semaphore 0 happens when its
 * holder exits, and the messages come out by type. Everything is removed
 * at the end (natively these are the host's objects). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define KEY_SHM 0x48534b01
#define KEY_SHM_IDLE 0x48534b02
#define KEY_SEM 0x48534b03
#define KEY_MSG 0x48534b04

struct msg {
	long type;
	char text[32];
};

static int sem_do(int set, int num, int op, int flags)
{
	struct sembuf b = { .sem_num = num, .sem_op = op, .sem_flg = flags };
	return semop(set, &b, 1);
}

static void clean(void)
{
	int id;
	if ((id = shmget(KEY_SHM, 0, 0)) >= 0)
		shmctl(id, IPC_RMID, NULL);
	if ((id = shmget(KEY_SHM_IDLE, 0, 0)) >= 0)
		shmctl(id, IPC_RMID, NULL);
	if ((id = semget(KEY_SEM, 0, 0)) >= 0)
		semctl(id, 0, IPC_RMID);
	if ((id = msgget(KEY_MSG, 0)) >= 0)
		msgctl(id, IPC_RMID, NULL);
}

static unsigned long nattch(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : 999;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	clean();
	int shm = shmget(KEY_SHM, 8192, IPC_CREAT | IPC_EXCL | 0600);
	int idle = shmget(KEY_SHM_IDLE, 4096, IPC_CREAT | IPC_EXCL | 0640);
	int doomed = shmget(IPC_PRIVATE, 4096, 0600);
	int sem = semget(KEY_SEM, 2, IPC_CREAT | IPC_EXCL | 0600);
	int msq = msgget(KEY_MSG, IPC_CREAT | IPC_EXCL | 0600);
	if (shm < 0 || idle < 0 || doomed < 0 || sem < 0 || msq < 0) {
		perror("get");
		clean();
		return 2;
	}
	char *a = shmat(shm, NULL, 0), *d = shmat(doomed, NULL, 0), *i = shmat(idle, NULL, 0);
	if (a == (void *)-1 || d == (void *)-1 || i == (void *)-1) {
		perror("shmat");
		clean();
		return 2;
	}
	strcpy(a + 4096, "written before");
	strcpy(d, "the removed segment's bytes");
	strcpy(i, "the idle segment's bytes");
	shmdt(i);
	shmctl(doomed, IPC_RMID, NULL);
	semctl(sem, 0, SETVAL, 1);
	struct msg m1 = { 7, "seven" }, m2 = { 3, "three" };
	msgsnd(msq, &m1, sizeof(m1.text), 0);
	msgsnd(msq, &m2, sizeof(m2.text), 0);

	int go[2];
	if (pipe(go) != 0)
		return 2;
	pid_t writer = fork();
	if (writer == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		strcpy(a + 4096, "the child wrote this after the restore");
		_exit(0);
	}
	pid_t holder = fork();
	if (holder == 0) {
		char c;
		close(go[1]);
		if (sem_do(sem, 0, -1, SEM_UNDO) != 0)
			_exit(3);
		/* Holds semaphore 0 until the go; its exit undoes the take. */
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	pid_t waiter = fork();
	if (waiter == 0) {
		int r = sem_do(sem, 1, -1, 0);
		printf("the waiter got semaphore 1: %s\n", r == 0 ? "yes" : strerror(errno));
		_exit(0);
	}
	close(go[0]);
	/* The holder has semaphore 0 and the waiter waits, before "ready". */
	while (semctl(sem, 0, GETVAL) != 0 || semctl(sem, 1, GETNCNT) != 1)
		usleep(1000);
	printf("ready\n");
	ckpt_wait_usr1();

	printf("same ids: %s %s %s %s\n", shmget(KEY_SHM, 0, 0) == shm ? "yes" : "no",
	       shmget(KEY_SHM_IDLE, 0, 0) == idle ? "yes" : "no", semget(KEY_SEM, 0, 0) == sem ? "yes" : "no",
	       msgget(KEY_MSG, 0) == msq ? "yes" : "no");
	printf("attaches: %lu (the parent and its three children), removed one %lu, idle %lu\n", nattch(shm), nattch(doomed),
	       nattch(idle));
	printf("the removed segment: %s\n", d);
	if (write(go[1], "gogo", 2) != 2)
		return 2;
	int status;
	waitpid(writer, &status, 0);
	printf("the parent's attach says: %s\n", a + 4096);
	waitpid(holder, &status, 0);
	printf("semaphore 0 after its holder's exit: %d\n", semctl(sem, 0, GETVAL));
	/* The waiter's semop was restarted by the restore: it waits again. */
	for (int tries = 0; tries < 2000 && semctl(sem, 1, GETNCNT) != 1; tries++)
		usleep(1000);
	printf("semaphore 1's waiters: %d\n", semctl(sem, 1, GETNCNT));
	sem_do(sem, 1, 1, 0);
	waitpid(waiter, &status, 0);
	i = shmat(idle, NULL, SHM_RDONLY);
	printf("the idle segment: %s\n", i == (void *)-1 ? strerror(errno) : i);
	struct msg got = { 0 };
	ssize_t n = msgrcv(msq, &got, sizeof(got.text), 3, IPC_NOWAIT);
	printf("message of type 3: %zd %s\n", n, n > 0 ? got.text : strerror(errno));
	n = msgrcv(msq, &got, sizeof(got.text), 0, IPC_NOWAIT);
	printf("next message: type %ld %s\n", got.type, n > 0 ? got.text : strerror(errno));
	n = msgrcv(msq, &got, sizeof(got.text), 0, IPC_NOWAIT);
	printf("then: %s\n", n < 0 ? strerror(errno) : "a message");
	shmdt(d);
	printf("the removed segment once detached: %s\n", shmctl(doomed, IPC_STAT, &(struct shmid_ds){ 0 }) == 0 ? "still there" : strerror(errno));
	clean();
	return 0;
}
