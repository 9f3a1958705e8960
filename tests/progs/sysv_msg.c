/* System V message queues: msgget's creation rules, msgsnd and msgrcv
 * with every kind of msgtyp (0, > 0, < 0, MSG_EXCEPT), MSG_NOERROR
 * truncation against E2BIG, IPC_NOWAIT (EAGAIN when full, ENOMSG when
 * nothing matches), a blocked receive woken by another process's send
 * (of the type it waits for only), a blocked send on a full queue woken by
 * a receive, msg_qbytes limiting bytes and message count, msgctl
 * IPC_STAT/IPC_SET/IPC_RMID/IPC_INFO, waiters woken by IPC_RMID (EIDRM)
 * and by a signal (EINTR even with SA_RESTART), the argument errors, and
 * /proc/sys/kernel/msgmax, msgmnb and msgmni.
 *
 * Natively this runs in the host's IPC namespace, so keys are made from
 * the pid (unique among running processes) and every queue is removed, at
 * exit too. Each check prints "NAME: ok" or "NAME: bad", or the errno name
 * for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <sys/ipc.h>
#include <sys/msg.h>

/* This program's keys: 0x61, 0x62, ... in the top byte. */
static key_t key_for(int tag)
{
	return pid_key(0x60 + tag);
}

/* The remover of the queues track() records. */
static void remove_queue(int id)
{
	msgctl(id, IPC_RMID, NULL);
}

struct msg {
	long mtype;
	char mtext[8200];
};

static long snd(int id, long type, const char *text, int flags)
{
	static struct msg m;
	m.mtype = type;
	size_t n = strlen(text);
	memcpy(m.mtext, text, n);
	return msgsnd(id, &m, n, flags);
}

/* Receives into a static buffer and prints "label: type T, N bytes, TEXT"
 * or "label: ERRNO". */
static void rcv(const char *label, int id, size_t cap, long type, int flags)
{
	static struct msg m;
	memset(&m, 0, sizeof m);
	ssize_t n = msgrcv(id, &m, cap, type, flags);
	if (n < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: type %ld, %zd bytes, '%.*s'\n", label, m.mtype, n, (int)n, m.mtext);
}

static struct msqid_ds stat_of(int id)
{
	struct msqid_ds ds;
	memset(&ds, 0xff, sizeof ds);
	msgctl(id, IPC_STAT, &ds);
	return ds;
}

static void print_counts(const char *label, int id)
{
	struct msqid_ds ds = stat_of(id);
	printf("%s: qnum %lu, cbytes %lu\n", label, (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

static void creation(void)
{
	key_t k = key_for(1), missing = key_for(2);
	int id = track(msgget(k, IPC_CREAT | IPC_EXCL | 0640));
	report("msgget: a new key", id);
	report("msgget: the key again, IPC_CREAT|IPC_EXCL", msgget(k, IPC_CREAT | IPC_EXCL | 0640));
	CHECK("msgget: the key, no flags: the same id", msgget(k, 0) == id);
	report("msgget: a missing key", msgget(missing, 0));
	struct msqid_ds ds;
	report("IPC_STAT", msgctl(id, IPC_STAT, &ds));
	printf("IPC_STAT of a new queue: mode %o, qnum %lu, cbytes %lu, qbytes %lu\n", ds.msg_perm.mode,
	       (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);
	CHECK("IPC_STAT: the key, my uid and gid", ds.msg_perm.__key == k && ds.msg_perm.uid == getuid() &&
						     ds.msg_perm.cuid == getuid() && ds.msg_perm.gid == getgid());
	CHECK("IPC_STAT: no pids or times but ctime", ds.msg_lspid == 0 && ds.msg_lrpid == 0 && ds.msg_stime == 0 &&
							   ds.msg_rtime == 0 && ds.msg_ctime != 0);
	report("IPC_RMID", msgctl(id, IPC_RMID, NULL));
	report("IPC_STAT after IPC_RMID", msgctl(id, IPC_STAT, &ds));
	report("msgsnd after IPC_RMID", snd(id, 1, "x", 0));
	report("msgget: the removed key", msgget(k, 0));
}

static void types(void)
{
	int id = track(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	report("msgsnd type 1 'one'", snd(id, 1, "one", 0));
	report("msgsnd type 2 'two'", snd(id, 2, "two", 0));
	report("msgsnd type 3 'three'", snd(id, 3, "three", 0));
	report("msgsnd type 1 'uno'", snd(id, 1, "uno", 0));
	print_counts("after four sends", id);
	struct msqid_ds ds = stat_of(id);
	CHECK("IPC_STAT: lspid is me, stime set", ds.msg_lspid == me && ds.msg_stime != 0);
	rcv("msgrcv type 3", id, 100, 3, 0);
	rcv("msgrcv type -2 (the lowest type <= 2, first sent)", id, 100, -2, 0);
	rcv("msgrcv type 1 with MSG_EXCEPT", id, 100, 1, MSG_EXCEPT);
	rcv("msgrcv type 5, IPC_NOWAIT", id, 100, 5, IPC_NOWAIT);
	rcv("msgrcv type 0", id, 100, 0, 0);
	rcv("msgrcv type 0 of an empty queue, IPC_NOWAIT", id, 100, 0, IPC_NOWAIT);
	ds = stat_of(id);
	CHECK("IPC_STAT: lrpid is me, rtime set", ds.msg_lrpid == me && ds.msg_rtime != 0);

	/* Too long for the buffer: E2BIG keeps it, MSG_NOERROR cuts it. */
	snd(id, 7, "0123456789", 0);
	rcv("msgrcv of 10 bytes into 4", id, 4, 0, 0);
	print_counts("then", id);
	rcv("msgrcv of 10 bytes into 4 with MSG_NOERROR", id, 4, 0, MSG_NOERROR);
	print_counts("then", id);

	report("msgsnd of 0 bytes", snd(id, 4, "", 0));
	rcv("msgrcv of it", id, 100, 0, 0);
	static struct msg big;
	big.mtype = 1;
	memset(big.mtext, 'b', sizeof big.mtext);
	report("msgsnd of 8192 bytes (msgmax)", msgsnd(id, &big, 8192, 0));
	report("msgsnd of 8193 bytes", msgsnd(id, &big, 8193, 0));
	report("msgsnd of -1 bytes", msgsnd(id, &big, (size_t)-1, 0));
	ssize_t n = msgrcv(id, &big, 8192, 0, 0);
	printf("msgrcv of the 8192 bytes: %zd\n", n);
	report("msgsnd type 0", snd(id, 0, "z", 0));
	report("msgsnd type -1", snd(id, -1, "z", 0));
	report("msgrcv of -1 bytes", msgrcv(id, &big, (size_t)-1, 0, IPC_NOWAIT));
	report("msgsnd: a bad id", snd(id ^ 0x40000000, 1, "z", 0));
	report("msgrcv: a bad id", msgrcv(id ^ 0x40000000, &big, 10, 0, IPC_NOWAIT));
	report("msgctl: command 12345", msgctl(id, 12345, &ds));
	msgctl(id, IPC_RMID, NULL);
}

static void full_queue(void)
{
	int id = track(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	struct msqid_ds ds = stat_of(id);
	ds.msg_qbytes = 100;
	ds.msg_perm.mode = 0620;
	report("IPC_SET qbytes 100, mode 0620", msgctl(id, IPC_SET, &ds));
	ds = stat_of(id);
	printf("after IPC_SET: qbytes %lu, mode %o\n", (unsigned long)ds.msg_qbytes, ds.msg_perm.mode);
	char sixty[61];
	memset(sixty, 's', 60);
	sixty[60] = 0;
	report("msgsnd of 60 bytes", snd(id, 1, sixty, 0));
	report("msgsnd of 60 more, IPC_NOWAIT", snd(id, 1, sixty, IPC_NOWAIT));
	report("msgsnd of 40 more, IPC_NOWAIT", snd(id, 2, sixty + 20, IPC_NOWAIT));
	print_counts("full", id);

	/* A blocked sender finishes when a receive makes room. */
	int sync[2];
	pipe(sync);
	pid_t pid = fork_flushed();
	if (pid == 0) {
		child_about_to_block(sync[1]);
		_exit(snd(id, 3, "from the blocked sender", 0) == 0 ? 0 : 1);
	}
	parent_until_blocked(sync[0]);
	rcv("msgrcv type 1", id, 100, 1, 0);
	printf("the blocked sender: %s\n", status_str(wait_child(pid)));
	rcv("msgrcv type 3", id, 100, 3, 0);
	CHECK("IPC_STAT: lspid is the child", stat_of(id).msg_lspid == pid);

	/* Each message counts as a byte too: with qbytes 3, three empty
	 * messages fill the queue. */
	rcv("msgrcv the rest", id, 100, 0, 0);
	ds = stat_of(id);
	ds.msg_qbytes = 3;
	msgctl(id, IPC_SET, &ds);
	report("qbytes 3: an empty message", snd(id, 1, "", IPC_NOWAIT));
	report("qbytes 3: a second", snd(id, 1, "", IPC_NOWAIT));
	report("qbytes 3: a third", snd(id, 1, "", IPC_NOWAIT));
	report("qbytes 3: a fourth", snd(id, 1, "", IPC_NOWAIT));
	print_counts("then", id);
	close(sync[0]);
	close(sync[1]);
	msgctl(id, IPC_RMID, NULL);
}

static void waits(void)
{
	int id = track(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int sync[2];
	pipe(sync);

	/* A receiver waiting for type 9 sleeps through a type 8 send. */
	pid_t pid = fork_flushed();
	if (pid == 0) {
		sleep_ms(50);
		snd(id, 8, "eight", 0);
		sleep_ms(50);
		snd(id, 9, "nine", 0);
		_exit(0);
	}
	rcv("a blocking msgrcv type 9, the child sends 8 then 9", id, 100, 9, 0);
	wait_child(pid);
	print_counts("left", id);
	rcv("msgrcv", id, 100, 0, 0);

	/* A signal: EINTR even with SA_RESTART, for receive and send. */
	pid = fork();
	if (pid == 0) {
		handle(SIGUSR1, on_signal, SA_RESTART);
		struct msg m;
		child_about_to_block(sync[1]);
		long r = msgrcv(id, &m, 100, 0, 0);
		write(sync[1], "r", 1);
		printf("msgrcv in a child, SIGUSR1 with SA_RESTART: %s, handler ran: %s\n",
		       r == -1 ? errname(errno) : "ok", handled ? "yes" : "no");
		struct msqid_ds ds;
		msgctl(id, IPC_STAT, &ds);
		ds.msg_qbytes = 4;
		msgctl(id, IPC_SET, &ds);
		snd(id, 1, "full", 0);
		child_about_to_block(sync[1]);
		r = snd(id, 1, "more", 0);
		write(sync[1], "r", 1);
		printf("msgsnd in a child, SIGUSR1 with SA_RESTART: %s, handler ran: %s\n",
		       r == -1 ? errname(errno) : "ok", handled ? "yes" : "no");
		_exit(0);
	}
	parent_until_blocked(sync[0]);
	signal_until_returned(pid, SIGUSR1, sync[0]);
	parent_until_blocked(sync[0]);
	signal_until_returned(pid, SIGUSR1, sync[0]);
	printf("the interrupted child: %s\n", status_str(wait_child(pid)));
	print_counts("left", id);

	/* IPC_RMID wakes a receiver and a sender with EIDRM (the children
	 * exit with the errno, so that their reports come in a fixed order). */
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct msg m;
			child_about_to_block(sync[1]);
			long r = i == 0 ? msgrcv(id, &m, 100, 5, 0) : snd(id, 1, "more", 0);
			_exit(r == -1 ? errno : 0);
		}
		parent_until_blocked(sync[0]);
	}
	msgctl(id, IPC_RMID, NULL);
	for (int i = 0; i < 2; i++) {
		int st = wait_child(kids[i]);
		printf("%s blocked in a child when the queue is removed: %s\n", i == 0 ? "msgrcv" : "msgsnd",
		       WIFEXITED(st) ? errname(WEXITSTATUS(st)) : status_str(st));
	}
	close(sync[0]);
	close(sync[1]);
}

static void limits(void)
{
	print_files("/proc/sys/kernel", "msgmax", "msgmnb", "msgmni", NULL);
	struct msginfo mi;
	memset(&mi, 0, sizeof mi);
	CHECK("IPC_INFO returns an index", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) >= 0);
	printf("IPC_INFO: msgmax %d, msgmnb %d, msgmni %d, msgssz %d, msgseg %d, msgpool %d, msgmap %d, msgtql %d\n",
	       mi.msgmax, mi.msgmnb, mi.msgmni, mi.msgssz, mi.msgseg, mi.msgpool, mi.msgmap, mi.msgtql);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	remove_at_exit(remove_queue);
	creation();
	types();
	full_queue();
	waits();
	limits();
	printf("done\n");
	return 0;
}
