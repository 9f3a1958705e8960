/* System V semaphores: semget's creation rules and errors, semctl
 * (SETVAL, GETVAL, SETALL, GETALL, GETNCNT, GETZCNT, GETPID, IPC_STAT,
 * IPC_SET, IPC_RMID, IPC_INFO), semop (increments, decrements, IPC_NOWAIT,
 * wait-for-zero, several operations applied all or none), waits woken by
 * another process, semtimedop's timeout, a wait interrupted by a signal
 * (EINTR even with SA_RESTART), a set removed under a waiter (EIDRM),
 * SEM_UNDO at exit (clamped at 0, cleared by SETVAL, not inherited by
 * fork), the limits (SEMVMX, SEMOPM, sem_num) and /proc/sys/kernel/sem.
 *
 * Natively this runs in the host's IPC namespace, so keys are made from
 * the pid (unique among running processes) and every set is removed, at
 * exit too. semop and semtimedop are called as the raw syscalls, so both
 * are exercised. Each check prints "NAME: ok" or "NAME: bad", or the errno
 * name for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <sys/ipc.h>
#include <sys/sem.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* This program's keys: 0x51, 0x52, ... in the top byte. */
static key_t key_for(int tag)
{
	return pid_key(0x50 + tag);
}

/* The remover of the sets track() records. */
static void remove_set(int id)
{
	semctl(id, 0, IPC_RMID);
}

static long op(int id, struct sembuf *sops, size_t n)
{
	return syscall(SYS_semop, id, sops, n);
}

static long op1(int id, unsigned short num, short delta, short flags)
{
	struct sembuf s = { num, delta, flags };
	return op(id, &s, 1);
}

static long timed(int id, struct sembuf *sops, size_t n, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	return syscall(SYS_semtimedop, id, sops, n, &ts);
}

static int val(int id, int num)
{
	return semctl(id, num, GETVAL);
}

static void setval(int id, int num, int v)
{
	semctl(id, num, SETVAL, (union semun){ .val = v });
}

/* Polls GETNCNT or GETZCNT of sem num until it is n (or 5 s pass): how
 * the parent knows its child is blocked. */
static int wait_count(int id, int cmd, int num, int n)
{
	long t0 = now_ms();
	int c;
	while ((c = semctl(id, num, cmd)) != n && now_ms() - t0 < 5000)
		sleep_ms(2);
	return c;
}

static void creation(void)
{
	key_t k = key_for(1), missing = key_for(2);
	int id = track(semget(k, 3, IPC_CREAT | IPC_EXCL | 0640));
	report("semget: a new key, 3 semaphores", id);
	report("semget: the key again, IPC_CREAT|IPC_EXCL", semget(k, 3, IPC_CREAT | IPC_EXCL | 0640));
	CHECK("semget: the key, nsems 0: the same id", semget(k, 0, 0) == id);
	CHECK("semget: the key, fewer semaphores: the same id", semget(k, 2, 0) == id);
	report("semget: the key, more semaphores", semget(k, 4, 0));
	report("semget: a missing key", semget(missing, 1, 0));
	report("semget: IPC_PRIVATE, nsems 0", track(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600)));
	report("semget: nsems 32001 (above SEMMSL)", track(semget(IPC_PRIVATE, 32001, IPC_CREAT | 0600)));
	report("semget: nsems -1", track(semget(IPC_PRIVATE, -1, IPC_CREAT | 0600)));
	struct semid_ds ds;
	memset(&ds, 0, sizeof ds);
	report("IPC_STAT", semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds }));
	printf("IPC_STAT: nsems %lu, mode %o\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode);
	CHECK("IPC_STAT: the key, my uid and gid", ds.sem_perm.__key == k && ds.sem_perm.uid == getuid() &&
						     ds.sem_perm.cuid == getuid() && ds.sem_perm.gid == getgid());
	CHECK("IPC_STAT: no semop yet (otime 0), ctime set", ds.sem_otime == 0 && ds.sem_ctime != 0);
	unsigned short all[3] = { 9, 9, 9 };
	semctl(id, 0, GETALL, (union semun){ .array = all });
	printf("new semaphores: %u %u %u\n", all[0], all[1], all[2]);
	ds.sem_perm.mode = 0604;
	report("IPC_SET mode 0604", semctl(id, 0, IPC_SET, (union semun){ .buf = &ds }));
	semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds });
	printf("mode after IPC_SET: %o\n", ds.sem_perm.mode);
	report("IPC_RMID", semctl(id, 0, IPC_RMID));
	report("IPC_STAT after IPC_RMID", semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds }));
	report("semop after IPC_RMID", op1(id, 0, 1, 0));
	report("IPC_RMID again", semctl(id, 0, IPC_RMID));
	report("semget: the removed key", semget(k, 1, 0));
}

static void values(void)
{
	int id = track(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	report("SETVAL 5", semctl(id, 0, SETVAL, (union semun){ .val = 5 }));
	printf("GETVAL: %d\n", val(id, 0));
	report("SETVAL 32767 (SEMVMX)", semctl(id, 1, SETVAL, (union semun){ .val = 32767 }));
	report("SETVAL 32768", semctl(id, 1, SETVAL, (union semun){ .val = 32768 }));
	report("SETVAL -1", semctl(id, 1, SETVAL, (union semun){ .val = -1 }));
	report("GETVAL of semaphore 3 of 3", semctl(id, 3, GETVAL));
	report("SETVAL of semaphore -1", semctl(id, -1, SETVAL, (union semun){ .val = 1 }));
	report("semctl: command 12345", semctl(id, 0, 12345));
	report("semctl: a bad id", semctl(id ^ 0x40000000, 0, GETVAL));
	unsigned short set[3] = { 1, 2, 3 }, got[3] = { 0, 0, 0 };
	report("SETALL 1 2 3", semctl(id, 0, SETALL, (union semun){ .array = set }));
	semctl(id, 0, GETALL, (union semun){ .array = got });
	printf("GETALL: %u %u %u\n", got[0], got[1], got[2]);
	unsigned short big[3] = { 1, 40000, 3 };
	report("SETALL with 40000", semctl(id, 0, SETALL, (union semun){ .array = big }));
	semctl(id, 0, GETALL, (union semun){ .array = got });
	printf("GETALL after it: %u %u %u\n", got[0], got[1], got[2]);

	report("semop +2", op1(id, 0, 2, 0));
	report("semop -3", op1(id, 0, -3, 0));
	printf("value: %d\n", val(id, 0));
	report("semop -1 at 0, IPC_NOWAIT", op1(id, 0, -1, IPC_NOWAIT));
	report("wait-for-zero at 0", op1(id, 0, 0, 0));
	report("wait-for-zero at 2, IPC_NOWAIT", op1(id, 1, 0, IPC_NOWAIT));
	CHECK("GETPID: me", semctl(id, 0, GETPID) == me);
	struct semid_ds ds;
	semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds });
	CHECK("IPC_STAT: otime set", ds.sem_otime != 0);

	/* Several operations: all or none. */
	struct sembuf two[2] = { { 0, 1, 0 }, { 1, -5, IPC_NOWAIT } };
	report("semop {0:+1, 1:-5} with 1 at 2, IPC_NOWAIT", op(id, two, 2));
	printf("values after it: %d %d\n", val(id, 0), val(id, 1));
	two[1].sem_op = -2;
	report("semop {0:+1, 1:-2}", op(id, two, 2));
	printf("values after it: %d %d\n", val(id, 0), val(id, 1));
	/* The operations apply in order: +1 then -1 of the same one passes. */
	struct sembuf same[2] = { { 2, -4, 0 }, { 2, 1, 0 } };
	report("semop {2:-4, 2:+1} at 3, IPC_NOWAIT", (same[0].sem_flg = IPC_NOWAIT, op(id, same, 2)));
	same[0].sem_op = 1;
	same[1].sem_op = -4;
	report("semop {2:+1, 2:-4} at 3", op(id, same, 2));
	printf("value after it: %d\n", val(id, 2));

	setval(id, 0, 32767);
	report("semop +1 at SEMVMX", op1(id, 0, 1, 0));
	setval(id, 0, 0);
	static struct sembuf many[501];
	for (int i = 0; i < 501; i++)
		many[i] = (struct sembuf){ 0, 0, 0 };
	report("semop with 500 operations (SEMOPM)", op(id, many, 500));
	report("semop with 501 operations", op(id, many, 501));
	report("semop with 0 operations", op(id, many, 0));
	report("semop on semaphore 3 of 3", op1(id, 3, 1, 0));
	report("semop: a bad id", op1(id ^ 0x40000000, 0, 1, 0));

	struct sembuf dec = { 0, -1, 0 };
	long t0 = now_ms();
	report("semtimedop -1 at 0, 50 ms", timed(id, &dec, 1, 50));
	CHECK("semtimedop: waited at least 40 ms", now_ms() - t0 >= 40);
	struct timespec bad = { 0, 1000000000 };
	struct sembuf inc = { 0, 1, 0 };
	report("semtimedop with tv_nsec 1e9 (would not block)", syscall(SYS_semtimedop, id, &inc, 1, &bad));
	printf("value after it: %d\n", val(id, 0));
	report("semtimedop with a NULL timeout", syscall(SYS_semtimedop, id, &inc, 1, NULL));
	semctl(id, 0, IPC_RMID);
}

static void waits(void)
{
	int id = track(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));

	/* A child waits for 2; one +1 is not enough, the second is. */
	pid_t pid = fork_flushed();
	if (pid == 0)
		_exit(op1(id, 0, -2, 0) == 0 ? 0 : 1);
	printf("GETNCNT with a child waiting for 2: %d\n", wait_count(id, GETNCNT, 0, 1));
	printf("GETZCNT then: %d\n", semctl(id, 0, GETZCNT));
	op1(id, 0, 1, 0);
	sleep_ms(20);
	printf("after +1: value %d, GETNCNT %d\n", val(id, 0), semctl(id, 0, GETNCNT));
	op1(id, 0, 1, 0);
	printf("after another +1, the child: %s\n", status_str(wait_child(pid)));
	printf("value %d, GETNCNT %d\n", val(id, 0), semctl(id, 0, GETNCNT));
	CHECK("GETPID: the child", semctl(id, 0, GETPID) == pid);

	/* Wait-for-zero. */
	setval(id, 1, 1);
	pid = fork();
	if (pid == 0)
		_exit(op1(id, 1, 0, 0) == 0 ? 0 : 1);
	printf("GETZCNT with a child waiting for zero: %d\n", wait_count(id, GETZCNT, 1, 1));
	op1(id, 1, -1, 0);
	printf("after -1, the child: %s\n", status_str(wait_child(pid)));

	/* A blocked set of operations takes nothing until all can pass; it
	 * counts as waiting on the semaphore it blocks on only. */
	setval(id, 0, 1);
	setval(id, 1, 0);
	pid = fork();
	if (pid == 0) {
		struct sembuf two[2] = { { 0, -1, 0 }, { 1, -1, 0 } };
		_exit(op(id, two, 2) == 0 ? 0 : 1);
	}
	int n1 = wait_count(id, GETNCNT, 1, 1);
	printf("a child blocked in {0:-1, 1:-1} at 1 0: GETNCNT %d %d, values %d %d\n", semctl(id, 0, GETNCNT), n1,
	       val(id, 0), val(id, 1));
	op1(id, 1, 1, 0);
	/* The child first: C leaves the order of a call's arguments open. */
	const char *st_text = status_str(wait_child(pid));
	printf("after 1:+1, the child: %s, values %d %d\n", st_text, val(id, 0), val(id, 1));

	/* A signal interrupts the wait: EINTR, even with SA_RESTART. The
	 * child says on a pipe when its first wait is over. */
	int sync[2];
	pipe(sync);
	pid = fork();
	if (pid == 0) {
		close(sync[0]);
		handle(SIGUSR1, on_signal, SA_RESTART);
		long r = op1(id, 2, -1, 0);
		printf("semop in a child, SIGUSR1 with SA_RESTART: %s, handler ran %d\n",
		       r == -1 ? errname(errno) : "ok", handled);
		write(sync[1], "x", 1);
		struct sembuf dec = { 2, -1, 0 };
		r = timed(id, &dec, 1, 5000);
		printf("semtimedop in a child, SIGUSR1 with SA_RESTART: %s, handler ran %d\n",
		       r == -1 ? errname(errno) : "ok", handled);
		_exit(0);
	}
	wait_count(id, GETNCNT, 2, 1);
	kill(pid, SIGUSR1);
	close(sync[1]);
	char c;
	read(sync[0], &c, 1);
	close(sync[0]);
	wait_count(id, GETNCNT, 2, 1);
	kill(pid, SIGUSR1);
	printf("the interrupted child: %s\n", status_str(wait_child(pid)));
	printf("GETNCNT after: %d\n", semctl(id, 2, GETNCNT));

	/* Removing the set wakes its waiters with EIDRM. */
	pid = fork();
	if (pid == 0) {
		long r = op1(id, 2, -1, 0);
		printf("semop in a child when the set is removed: %s\n", r == -1 ? errname(errno) : "ok");
		_exit(0);
	}
	wait_count(id, GETNCNT, 2, 1);
	semctl(id, 0, IPC_RMID);
	printf("the child: %s\n", status_str(wait_child(pid)));
}

/* Runs fn(id) in a child and waits for it. */
static void in_child(int id, void (*fn)(int))
{
	pid_t pid = fork_flushed();
	if (pid == 0) {
		fn(id);
		_exit(0);
	}
	wait_child(pid);
}

static void up3_undo(int id)
{
	op1(id, 0, 3, SEM_UNDO);
}

static void down1_undo(int id)
{
	op1(id, 0, -1, SEM_UNDO);
}

static void up3_undo_then_down3(int id)
{
	op1(id, 0, 3, SEM_UNDO);
	op1(id, 0, -3, 0);
}

static void up2_undo_then_setval(int id)
{
	op1(id, 0, 2, SEM_UNDO);
	setval(id, 0, 7);
}

static void nothing(int id)
{
	(void)id;
}

static void undo(void)
{
	int id = track(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	in_child(id, up3_undo);
	printf("a child's +3 with SEM_UNDO, after its exit: %d\n", val(id, 0));
	setval(id, 0, 5);
	in_child(id, down1_undo);
	printf("a child's -1 at 5 with SEM_UNDO, after its exit: %d\n", val(id, 0));
	setval(id, 0, 0);
	in_child(id, up3_undo_then_down3);
	printf("a child's +3 with SEM_UNDO then -3, after its exit (clamped): %d\n", val(id, 0));
	in_child(id, up2_undo_then_setval);
	printf("a child's +2 with SEM_UNDO then SETVAL 7, after its exit: %d\n", val(id, 0));
	setval(id, 0, 0);
	report("my own +1 with SEM_UNDO", op1(id, 0, 1, SEM_UNDO));
	in_child(id, nothing);
	printf("after a fork child exited (no undo inherited): %d\n", val(id, 0));
	report("my own -1 with SEM_UNDO", op1(id, 0, -1, SEM_UNDO));
	semctl(id, 0, IPC_RMID);
}

static void limits(void)
{
	char buf[128];
	int got = read_first_line("/proc/sys/kernel/sem", buf, sizeof buf);
	for (char *c = buf; *c; c++)
		if (*c == '\t')
			*c = ' ';
	printf("/proc/sys/kernel/sem (tabs as spaces): %s\n", got == 0 ? buf : errname(errno));
	struct seminfo si;
	memset(&si, 0, sizeof si);
	CHECK("IPC_INFO returns an index", semctl(0, 0, IPC_INFO, (union semun){ .__buf = &si }) >= 0);
	printf("IPC_INFO: semmni %d, semmsl %d, semmns %d, semopm %d, semvmx %d, semaem %d, semume %d\n", si.semmni,
	       si.semmsl, si.semmns, si.semopm, si.semvmx, si.semaem, si.semume);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	remove_at_exit(remove_set);
	creation();
	values();
	waits();
	undo();
	limits();
	printf("done\n");
	return 0;
}
