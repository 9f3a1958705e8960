/* Advisory locks: flock(2), and fcntl's POSIX and OFD record locks.
 *
 * flock: exclusive and shared, per open file description (dup and fork
 * share it, a second open does not), released with the description's
 * last fd, blocking until released, EINTR, bad arguments. Record locks:
 * conflicts between processes (F_GETLK shows the holder), a process's own
 * locks never conflicting, splitting on unlock, SEEK_CUR/SEEK_END and
 * negative lengths, "to the end" (l_len 0), the access-mode rule, release
 * when the process closes any fd of the file and when it exits, not
 * inherited by fork, F_SETLKW waiting and EDEADLK, EINTR. OFD locks:
 * owned by the description, conflicting with POSIX locks, l_pid -1.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>

static const char *PATH = "/tmp/locks.test";

static int lk(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = whence, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &fl);
}

/* F_GETLK (or F_OFD_GETLK) for a write lock on [start, start+len). */
static void show_getlk(const char *label, int fd, int cmd, off_t start, off_t len, pid_t holder)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	if (fcntl(fd, cmd, &fl) < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	if (fl.l_type == F_UNLCK) {
		printf("%s: unlocked\n", label);
		return;
	}
	const char *who = fl.l_pid == holder ? "the holder" : fl.l_pid == -1 ? "-1" : "someone else";
	printf("%s: %s [%lld, +%lld) by %s\n", label, fl.l_type == F_WRLCK ? "write" : "read", (long long)fl.l_start,
	       (long long)fl.l_len, who);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Runs fn in a child and waits for it; the child's exit status is its
 * verdict. */
static void in_child(const char *label, void (*fn)(void))
{
	pid_t c = fork();
	if (c == 0) {
		fn();
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("%s: %s\n", label, status_str(st));
}

static pid_t parent;

static void child_sees_parents_lock(void)
{
	int fd = open(PATH, O_RDWR);
	show_getlk("child F_GETLK [5,6)", fd, F_GETLK, 5, 1, parent);
	report("child F_SETLK write [5,6)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	report("child F_SETLK read [10,20)", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10));
	show_getlk("child F_GETLK [0,100)", fd, F_GETLK, 0, 100, parent);
}

static void child_after_split(void)
{
	int fd = open(PATH, O_RDWR);
	show_getlk("after the split, [0,10)", fd, F_GETLK, 0, 10, parent);
	report("the freed middle [3,7)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 3, 4));
	show_getlk("[50,60), from SEEK_CUR", fd, F_GETLK, 50, 10, parent);
	show_getlk("[15,20), a negative length", fd, F_GETLK, 12, 20, parent);
	show_getlk("[1000, ...), to the end", fd, F_GETLK, 5000, 1, parent);
}

static void child_after_close(void)
{
	int fd = open(PATH, O_RDWR);
	show_getlk("after the parent closed another fd", fd, F_GETLK, 0, 0, parent);
}

static void posix_locks(void)
{
	parent = getpid();
	int fd = open(PATH, O_RDWR | O_CREAT | O_TRUNC, 0644);
	report("F_SETLK write [0,10)", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	report("again, overlapping, same process", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, 10));
	show_getlk("own F_GETLK", fd, F_GETLK, 0, 10, parent);
	report("back to [0,10) only", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 10, 5));
	in_child("child", child_sees_parents_lock);
	report("unlock [3,7)", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 3, 4));
	lseek(fd, 100, SEEK_SET);
	report("SEEK_CUR -50, 10 bytes", lk(fd, F_SETLK, F_WRLCK, SEEK_CUR, -50, 10));
	report("start 20, length -5", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 20, -5));
	ftruncate(fd, 1000);
	report("SEEK_END, length 0", lk(fd, F_SETLK, F_WRLCK, SEEK_END, 0, 0));
	in_child("child", child_after_split);
	/* Errors. */
	int ro = open(PATH, O_RDONLY), wo = open(PATH, O_WRONLY);
	report("write lock on an O_RDONLY fd", lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	report("read lock on an O_WRONLY fd", lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	report("unlock on an O_RDONLY fd", lk(ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
	report("l_type 5", lk(fd, F_SETLK, 5, SEEK_SET, 0, 1));
	report("l_whence 7", lk(fd, F_SETLK, F_WRLCK, 7, 0, 1));
	report("l_start -1", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1));
	report("F_GETLK of F_UNLCK", lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1));
	report("F_SETLK on a bad fd", lk(99, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	/* Closing any fd of the file lets all of the process's locks go. */
	close(wo);
	in_child("child", child_after_close);
	close(ro);
	close(fd);
}

static int pipefd[2];

static void child_waits(void)
{
	int fd = open(PATH, O_RDWR);
	write(pipefd[1], "w", 1);
	report("child F_SETLKW waits, then", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1));
	char b;
	read(pipefd[0], &b, 1);
	printf("child got it after the parent unlocked: %d\n", b == 'u');
}

static void child_deadlocks(void)
{
	int fd = open(PATH, O_RDWR);
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1);
	write(pipefd[1], "b", 1);
	/* Waits for the parent's [0,1); the parent then asks for [1,2). */
	report("child F_SETLKW [0,1)", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1));
}

static void child_exits_holding(void)
{
	int fd = open(PATH, O_RDWR);
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
}

static void waiting_and_deadlock(void)
{
	int fd = open(PATH, O_RDWR);
	pipe(pipefd);
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
	pid_t c = fork();
	if (c == 0) {
		child_waits();
		_exit(0);
	}
	char b;
	read(pipefd[0], &b, 1);
	sleep_ms(200);
	write(pipefd[1], "u", 1);
	/* Reported once the child is done, which prints as soon as it wakes. */
	int unlocked = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
	int st;
	waitpid(c, &st, 0);
	report("parent unlocks", unlocked);
	printf("waiting child: %s\n", status_str(st));

	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
	c = fork();
	if (c == 0) {
		child_deadlocks();
		_exit(0);
	}
	read(pipefd[0], &b, 1);
	sleep_ms(200);
	report("parent F_SETLKW [1,2), which the waiting child holds", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1));
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
	waitpid(c, &st, 0);
	printf("deadlocking child: %s\n", status_str(st));

	in_child("a child that exits holding a lock", child_exits_holding);
	report("its lock went with it", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

	/* EINTR: the locks are held before the child starts waiting. */
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
	int fl = open(PATH, O_RDONLY);
	flock(fl, LOCK_EX);
	c = fork();
	if (c == 0) {
		int f = open(PATH, O_RDWR);
		struct sigaction sa = { .sa_handler = on_alarm };
		sigaction(SIGALRM, &sa, NULL);
		alarm(1);
		report("F_SETLKW interrupted", lk(f, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1));
		alarm(1);
		report("flock interrupted", flock(f, LOCK_EX));
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("interrupted child: %s\n", status_str(st));
	close(fl);
	close(fd);
}

static void ofd_locks(void)
{
	int a = open(PATH, O_RDWR), b = open(PATH, O_RDWR);
	report("F_OFD_SETLK write on one description", lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10));
	report("F_OFD_SETLK on another, same process", lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	show_getlk("F_OFD_GETLK on the other", b, F_OFD_GETLK, 0, 10, getpid());
	report("a POSIX lock of the same process over it", lk(b, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 1, .l_pid = 1 };
	report("F_OFD_SETLK with l_pid set", fcntl(a, F_OFD_SETLK, &fl));
	int a2 = dup(a);
	close(a);
	report("still held through a dup", lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	close(a2);
	report("released with the last fd", lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	close(b);
}

static void child_flocks_inherited(void)
{
	/* fd 3 is the parent's description, inherited. */
	report("child flock LOCK_EX|LOCK_NB on the inherited fd", flock(3, LOCK_EX | LOCK_NB));
	int other = open(PATH, O_RDONLY);
	report("child flock on its own description", flock(other, LOCK_SH | LOCK_NB));
}

static void child_flock_waits(void)
{
	int fd = open(PATH, O_RDONLY);
	write(pipefd[1], "w", 1);
	report("child flock LOCK_EX waits, then", flock(fd, LOCK_EX));
	char b;
	read(pipefd[0], &b, 1);
	printf("child got it after the unlock: %d\n", b == 'u');
}

static void flocks(void)
{
	int fd = open(PATH, O_RDONLY);
	if (fd != 3)
		dup2(fd, 3), close(fd), fd = 3;
	int other = open(PATH, O_RDONLY);
	report("flock LOCK_EX", flock(fd, LOCK_EX));
	report("another description LOCK_EX|LOCK_NB", flock(other, LOCK_EX | LOCK_NB));
	report("another description LOCK_SH|LOCK_NB", flock(other, LOCK_SH | LOCK_NB));
	int d = dup(fd);
	report("a dup LOCK_EX|LOCK_NB", flock(d, LOCK_EX | LOCK_NB));
	in_child("child", child_flocks_inherited);
	report("a record lock is another thing", lk(open(PATH, O_RDWR), F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
	close(fd);
	report("closing one fd keeps it", flock(other, LOCK_SH | LOCK_NB));
	close(d);
	report("closing the last lets it go", flock(other, LOCK_SH | LOCK_NB));
	int third = open(PATH, O_RDONLY);
	report("two shared locks", flock(third, LOCK_SH | LOCK_NB));
	report("converting to exclusive with another shared", flock(third, LOCK_EX | LOCK_NB));
	report("unlock", flock(other, LOCK_UN));
	report("flock op 0", flock(other, 0));
	report("flock LOCK_SH|LOCK_EX", flock(other, LOCK_SH | LOCK_EX));
	report("flock on a bad fd", flock(99, LOCK_SH));
	report("exclusive again", flock(other, LOCK_EX));
	pid_t c = fork();
	if (c == 0) {
		child_flock_waits();
		_exit(0);
	}
	char b;
	read(pipefd[0], &b, 1);
	sleep_ms(200);
	write(pipefd[1], "u", 1);
	int unlocked = flock(other, LOCK_UN);
	int st;
	waitpid(c, &st, 0);
	report("parent LOCK_UN", unlocked);
	printf("waiting child: %s\n", status_str(st));
	close(other);
	close(third);
}

/* A process's record locks go when exec closes a close-on-exec fd of the
 * file: the child locks through one, execs this program as "probe", and
 * the parent looks before and after. */
static void exec_releases(char *self)
{
	int p[2], q[2];
	pipe(p);
	pipe(q);
	pid_t c = fork();
	if (c == 0) {
		dup2(p[1], 10);
		dup2(q[0], 11);
		int fd = open(PATH, O_RDWR | O_CLOEXEC);
		lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
		write(10, "l", 1);
		/* Exec only once the parent has looked. */
		char go;
		read(11, &go, 1);
		char *argv[] = { self, "probe", NULL };
		execv("/proc/self/exe", argv);
		_exit(9);
	}
	int fd = open(PATH, O_RDWR);
	char b;
	read(p[0], &b, 1);
	show_getlk("before the child's exec", fd, F_GETLK, 0, 1, c);
	write(q[1], "g", 1);
	read(p[0], &b, 1);
	show_getlk("after it", fd, F_GETLK, 0, 1, c);
	write(q[1], "x", 1);
	int st;
	waitpid(c, &st, 0);
	printf("the exec'd child: %s\n", status_str(st));
	close(fd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "probe")) {
		char b;
		write(10, "e", 1);
		read(11, &b, 1);
		return 0;
	}
	posix_locks();
	exec_releases(argv[0]);
	waiting_and_deadlock();
	ofd_locks();
	flocks();
	unlink(PATH);
	printf("done\n");
	return 0;
}
