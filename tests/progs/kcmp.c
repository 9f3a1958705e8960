/* kcmp(2): which objects tasks share (0) or not (1 or 2, an order that
 * reverses when the arguments do): files across dup and fork, address
 * spaces, fd tables, fs contexts and signal handlers of threads, forks and
 * CLONE_VM|CLONE_FS|CLONE_FILES children, System V undo lists, an epoll
 * set's targets; and the errors in Linux's order (ESRCH, EPERM, then
 * EINVAL, EBADF, EFAULT, ENOENT). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/sem.h>

enum { KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM, KCMP_EPOLL_TFD };

struct kcmp_epoll_slot {
	uint32_t efd;
	uint32_t tfd;
	uint64_t toff;
};

static long kcmp(pid_t p1, pid_t p2, int type, unsigned long i1, unsigned long i2)
{
	return syscall(SYS_kcmp, p1, p2, type, i1, i2);
}

/* "same", "different" (with the reversed call giving the other order), or
 * the error. */
static void show(const char *label, pid_t p1, pid_t p2, int type, unsigned long i1, unsigned long i2)
{
	long r = kcmp(p1, p2, type, i1, i2);
	if (r == -1) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	if (r == 0) {
		printf("%s: same\n", label);
		return;
	}
	long back = type == KCMP_EPOLL_TFD ? 3 - r : kcmp(p2, p1, type, i2, i1);
	printf("%s: different%s\n", label, (r == 1 || r == 2) && back == 3 - r ? "" : " (bad order)");
}

static const char *types[] = { "FILE", "VM", "FILES", "FS", "SIGHAND" };

static void all_kinds(const char *who, pid_t p1, pid_t p2)
{
	char label[96];
	for (int k = KCMP_VM; k <= KCMP_SIGHAND; k++) {
		snprintf(label, sizeof label, "%s: KCMP_%s", who, types[k]);
		show(label, p1, p2, k, 0, 0);
	}
}

static pid_t main_pid;
static int pipefd[2];

static void *thread_fn(void *arg)
{
	(void)arg;
	all_kinds("a thread", main_pid, syscall(SYS_gettid));
	return NULL;
}

static int clone_fn(void *arg)
{
	(void)arg;
	all_kinds("CLONE_VM|CLONE_FS|CLONE_FILES child", main_pid, getpid());
	fflush(stdout);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_pid = getpid();
	pid_t me = main_pid;
	int a = open("/tmp/kcmp-a", O_CREAT | O_RDWR, 0644);
	int a2 = open("/tmp/kcmp-a", O_RDWR);
	int b = dup(a);

	show("an fd with itself", me, me, KCMP_FILE, a, a);
	show("an fd and its dup", me, me, KCMP_FILE, a, b);
	show("two opens of one file", me, me, KCMP_FILE, a, a2);
	show("an fd with bits above 32 (an unsigned int)", me, me, KCMP_FILE, (1UL << 32) | a, a);
	all_kinds("the caller with itself", me, me);

	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	pthread_join(th, NULL);

	static char stack[256 * 1024];
	pid_t c = clone(clone_fn, stack + sizeof stack, CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD, NULL);
	int st;
	waitpid(c, &st, 0);

	/* A fork child: files shared, nothing else. */
	pipe(pipefd);
	pid_t child = fork();
	if (child == 0) {
		char ch;
		read(pipefd[0], &ch, 1);
		_exit(0);
	}
	show("an inherited fd, parent and child", me, child, KCMP_FILE, a, a);
	show("a fd the child has not", me, child, KCMP_FILE, a, 100);
	all_kinds("a fork child", me, child);
	show("a fork child: KCMP_SYSVSEM, neither with undo", me, child, KCMP_SYSVSEM, 0, 0);
	int sem = semget(IPC_PRIVATE, 1, 0600);
	struct sembuf op = { 0, 1, SEM_UNDO };
	semop(sem, &op, 1);
	show("a fork child: KCMP_SYSVSEM, the parent with undo", me, child, KCMP_SYSVSEM, 0, 0);
	semctl(sem, 0, IPC_RMID);

	/* Errors. */
	show("type KCMP_TYPES", me, me, 8, 0, 0);
	show("type -1", me, me, -1, 0, 0);
	show("a closed fd", me, me, KCMP_FILE, 99, a);
	show("pid 0", 0, me, KCMP_VM, 0, 0);
	write(pipefd[1], "x", 1);
	waitpid(child, &st, 0);
	show("a reaped child", me, child, KCMP_FILE, a, a);
	show("a reaped child, bad type too", me, child, 99, 0, 0);

	fflush(stdout);
	pid_t nobody = fork();
	if (nobody == 0) {
		setuid(65534);
		show("uid 65534 and root's process", getpid(), main_pid, KCMP_VM, 0, 0);
		show("uid 65534 with itself", getpid(), getpid(), KCMP_VM, 0, 0);
		fflush(stdout);
		_exit(0);
	}
	waitpid(nobody, &st, 0);

	/* An epoll set's targets (pipes: epoll takes no regular files). */
	int p1[2], p2[2];
	pipe(p1);
	pipe(p2);
	int d = dup(p1[0]);
	int ep = epoll_create1(0);
	struct epoll_event ev = { EPOLLIN, { 0 } };
	report("epoll_ctl ADD a pipe", epoll_ctl(ep, EPOLL_CTL_ADD, p1[0], &ev));
	report("epoll_ctl ADD its dup", epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev));
	report("epoll_ctl ADD another pipe", epoll_ctl(ep, EPOLL_CTL_ADD, p2[0], &ev));
	struct kcmp_epoll_slot slot = { ep, p1[0], 0 };
	show("KCMP_EPOLL_TFD, the file added", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	show("KCMP_EPOLL_TFD, its dup", me, me, KCMP_EPOLL_TFD, d, (unsigned long)&slot);
	show("KCMP_EPOLL_TFD, another file", me, me, KCMP_EPOLL_TFD, p2[0], (unsigned long)&slot);
	slot.toff = 1;
	show("KCMP_EPOLL_TFD, toff 1", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	slot.toff = 0;
	slot.tfd = p1[1];
	show("KCMP_EPOLL_TFD, an fd not added", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	slot.tfd = d;
	show("KCMP_EPOLL_TFD, the dup's own entry", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	slot.efd = p1[0];
	show("KCMP_EPOLL_TFD, efd not an epoll set", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	slot.efd = 99;
	show("KCMP_EPOLL_TFD, efd closed", me, me, KCMP_EPOLL_TFD, p1[0], (unsigned long)&slot);
	slot.efd = ep;
	show("KCMP_EPOLL_TFD, idx1 closed", me, me, KCMP_EPOLL_TFD, 99, (unsigned long)&slot);
	show("KCMP_EPOLL_TFD, a bad slot", me, me, KCMP_EPOLL_TFD, p1[0], 8);
	/* The entry stays while the file lives, though the fd that added it
	 * is closed; it goes with the file. */
	slot.tfd = p1[0];
	close(p1[0]);
	show("KCMP_EPOLL_TFD, its fd closed, a dup open", me, me, KCMP_EPOLL_TFD, d, (unsigned long)&slot);
	slot.tfd = p2[0];
	close(p2[0]);
	show("KCMP_EPOLL_TFD, its file gone", me, me, KCMP_EPOLL_TFD, d, (unsigned long)&slot);
	return 0;
}
