/* System V IPC as /proc shows it, and the *_STAT_ANY commands:
 * - /proc/sysvipc/{shm,sem,msg}: the header line, and the line of an
 *   object this program made, found by its id, with the key, mode, size
 *   (nsems, cbytes and qnum), owner and creator columns; a segment's rss
 *   (its pages in memory) before and after writes; a removed object's
 *   line gone;
 * - SHM_STAT_ANY, SEM_STAT_ANY and MSG_STAT_ANY given an id instead of an
 *   index: Linux takes the id's index bits, so it answers with the id;
 *
 * Natively this runs in the host's IPC namespace, so keys are made from
 * the pid and only this program's lines are printed. Each check prints
 * "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static int shm_ids[4], sem_ids[4], msg_ids[4];
static int nshm, nsem, nmsg;

/* Removes what this program made, at exit in the main process (the
 * removals the checks make already are harmless to repeat). */
static void remove_all(void)
{
	if (getpid() != me)
		return;
	for (int i = 0; i < nshm; i++)
		shmctl(shm_ids[i], IPC_RMID, NULL);
	for (int i = 0; i < nsem; i++)
		semctl(sem_ids[i], 0, IPC_RMID);
	for (int i = 0; i < nmsg; i++)
		msgctl(msg_ids[i], IPC_RMID, NULL);
}

static void no_remover(int id)
{
	(void)id;
}

/* The header line of /proc/sysvipc/NAME, and the fields of the line whose
 * second column is id (n of them, as longs), or -1 when none has it. */
static int proc_line(const char *name, int id, char *header, size_t cap, long *fields, int n)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int found = -1;
	if (!fgets(header, cap, f))
		header[0] = 0;
	header[strcspn(header, "\n")] = 0;
	while (fgets(line, sizeof line, f)) {
		long v[16];
		int got = 0;
		char *p = line, *end;
		while (got < n && got < 16) {
			long x = strtol(p, &end, got == 2 ? 8 : 10);
			if (end == p)
				break;
			v[got++] = x;
			p = end;
		}
		if (got >= 2 && v[1] == id) {
			memcpy(fields, v, sizeof(long) * (size_t)got);
			found = got;
		}
	}
	fclose(f);
	return found;
}

static void shm(void)
{
	char header[512];
	long f[16];
	int id = shmget(pid_key(0x61), 10000, IPC_CREAT | 0640);
	if (id < 0) {
		report("shmget", -1);
		return;
	}
	shm_ids[nshm++] = id;
	int got = proc_line("shm", id, header, sizeof header, f, 16);
	printf("/proc/sysvipc/shm header: %s\n", header);
	printf("shm line: %d fields, key ok %d, mode %lo, size %ld, cpid ok %d, nattch %ld, uid %ld, cuid %ld, rss %ld\n",
	       got, f[0] == pid_key(0x61), f[2], f[3], f[4] == getpid(), f[6], f[7], f[9], f[14]);
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		report("shmat", -1);
		return;
	}
	p[0] = 1;
	p[8192] = 1;
	got = proc_line("shm", id, header, sizeof header, f, 16);
	/* Husk may bring in the pages around a fault too: the rss is at least
	 * the pages touched, at most the segment's. */
	printf("after touching pages 0 and 2 of an attach: nattch %ld, lpid ok %d, rss of 2 or 3 pages %d\n", f[6],
	       f[5] == getpid(), f[14] == 8192 || f[14] == 12288);
	struct shmid_ds ds;
	printf("SHM_STAT_ANY given the id: %s\n", shmctl(id, SHM_STAT_ANY, &ds) == id ? "the id" : errname(errno));
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	printf("after IPC_RMID: line %s\n", proc_line("shm", id, header, sizeof header, f, 16) < 0 ? "gone" : "there");
}

static void sem(void)
{
	char header[512];
	long f[16];
	int id = semget(pid_key(0x62), 3, IPC_CREAT | 0600);
	if (id < 0) {
		report("semget", -1);
		return;
	}
	sem_ids[nsem++] = id;
	int got = proc_line("sem", id, header, sizeof header, f, 10);
	printf("/proc/sysvipc/sem header: %s\n", header);
	printf("sem line: %d fields, key ok %d, mode %lo, nsems %ld, uid %ld, cgid %ld, otime %ld\n", got,
	       f[0] == pid_key(0x62), f[2], f[3], f[4], f[7], f[8]);
	struct sembuf op = {.sem_num = 1, .sem_op = 1};
	semop(id, &op, 1);
	proc_line("sem", id, header, sizeof header, f, 10);
	printf("after a semop: otime set %d\n", f[8] > 0);
	struct semid_ds ds;
	union semun arg = {.buf = &ds};
	printf("SEM_STAT_ANY given the id: %s\n", semctl(id, 0, SEM_STAT_ANY, arg) == id ? "the id" : errname(errno));
	semctl(id, 0, IPC_RMID);
	printf("after IPC_RMID: line %s\n", proc_line("sem", id, header, sizeof header, f, 10) < 0 ? "gone" : "there");
}

static void msg(void)
{
	char header[512];
	long f[16];
	int id = msgget(pid_key(0x63), IPC_CREAT | 0620);
	if (id < 0) {
		report("msgget", -1);
		return;
	}
	msg_ids[nmsg++] = id;
	struct {
		long type;
		char text[8];
	} m = {5, "hello"};
	msgsnd(id, &m, 5, 0);
	msgsnd(id, &m, 3, 0);
	int got = proc_line("msg", id, header, sizeof header, f, 14);
	printf("/proc/sysvipc/msg header: %s\n", header);
	printf("msg line: %d fields, key ok %d, mode %lo, cbytes %ld, qnum %ld, lspid ok %d, lrpid %ld, uid %ld\n", got,
	       f[0] == pid_key(0x63), f[2], f[3], f[4], f[5] == getpid(), f[6], f[7]);
	msgrcv(id, &m, sizeof m.text, 0, 0);
	proc_line("msg", id, header, sizeof header, f, 14);
	printf("after a receive: cbytes %ld, qnum %ld, lrpid ok %d, rtime set %d\n", f[3], f[4], f[6] == getpid(),
	       f[12] > 0);
	struct msqid_ds ds;
	printf("MSG_STAT_ANY given the id: %s\n", msgctl(id, MSG_STAT_ANY, &ds) == id ? "the id" : errname(errno));
	msgctl(id, IPC_RMID, NULL);
	printf("after IPC_RMID: line %s\n", proc_line("msg", id, header, sizeof header, f, 14) < 0 ? "gone" : "there");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	remove_at_exit(no_remover);
	atexit(remove_all);
	shm();
	sem();
	msg();
	printf("done\n");
	return 0;
}
