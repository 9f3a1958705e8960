/* File leases (F_SETLEASE, F_GETLEASE): who may take which lease, the
 * errors, and a lease's break by a conflicting open or truncate: the
 * holder's signal (F_SETSIG's, POLL_MSG, the lease's fd), F_GETLEASE
 * during the break, the downgrade a reader allows and a waiting writer
 * refuses, the breaker's EWOULDBLOCK with O_NONBLOCK, and its open going
 * on once the holder lets go. */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#define F "/tmp/lease-file"

static const char *lease_name(int l)
{
	switch (l) {
	case F_RDLCK: return "F_RDLCK";
	case F_WRLCK: return "F_WRLCK";
	case F_UNLCK: return "F_UNLCK";
	default: return errname(errno);
	}
}

static void show_lease(const char *label, int fd)
{
	printf("%s: %s\n", label, lease_name(fcntl(fd, F_GETLEASE)));
}

/* Waits up to 5 s for the lease signal; prints what came. */
static void await_break(const char *label, int fd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	struct timespec ts = { 5, 0 };
	siginfo_t si;
	int sig = sigtimedwait(&set, &si, &ts);
	if (sig < 0) {
		printf("%s: no signal (%s)\n", label, errname(errno));
		return;
	}
	printf("%s: SIGRTMIN+1, code %s, si_fd %s\n", label, si.si_code == POLL_MSG ? "POLL_MSG" : "other",
	       si.si_fd == fd ? "the lease's fd" : "another");
}

/* A child that opens F with `flags` (or truncates it, flags -1) and
 * reports how it went; it tells the parent through `done` when it is
 * through. */
static pid_t breaker(const char *label, int flags, int done[2], int holder)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Not the holder's file: its lease ends when the holder's last
		 * reference closes. */
		close(holder);
		long r = flags < 0 ? truncate(F, 0) : open(F, flags);
		report(label, r);
		fflush(stdout);
		write(done[1], "x", 1);
		_exit(0);
	}
	return pid;
}

/* Whether the child has written to `done` within `ms`. */
static int finished(int done[2], int ms)
{
	struct timespec ts = { 0, 10 * 1000000L };
	for (int i = 0; i < ms / 10; i++) {
		char c;
		if (read(done[0], &c, 1) == 1)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int done[2];
	pipe2(done, O_NONBLOCK);

	int fd = open(F, O_CREAT | O_RDWR, 0644);
	write(fd, "data", 4);
	report("F_RDLCK on an O_RDWR file", fcntl(fd, F_SETLEASE, F_RDLCK));
	report("F_WRLCK on an O_RDWR file, the only open", fcntl(fd, F_SETLEASE, F_WRLCK));
	show_lease("F_GETLEASE", fd);
	report("F_UNLCK", fcntl(fd, F_SETLEASE, F_UNLCK));
	close(fd);

	fd = open(F, O_RDONLY);
	report("F_SETLEASE 3", fcntl(fd, F_SETLEASE, 3));
	report("F_UNLCK without a lease", fcntl(fd, F_SETLEASE, F_UNLCK));
	show_lease("F_GETLEASE without a lease", fd);
	report("F_RDLCK", fcntl(fd, F_SETLEASE, F_RDLCK));
	show_lease("F_GETLEASE", fd);
	int other = open(F, O_RDONLY);
	report("F_WRLCK with another open file", fcntl(fd, F_SETLEASE, F_WRLCK));
	report("F_RDLCK on the other one too", fcntl(other, F_SETLEASE, F_RDLCK));
	int r = open(F, O_RDONLY | O_NONBLOCK);
	report("a read-only open beside read leases", r);
	close(r);
	report("a write open beside read leases, O_NONBLOCK", open(F, O_WRONLY | O_NONBLOCK));
	/* The breaks: both leases are losing. */
	show_lease("F_GETLEASE while broken", fd);
	report("F_RDLCK again while broken", fcntl(fd, F_SETLEASE, F_RDLCK));
	close(other);
	report("F_UNLCK", fcntl(fd, F_SETLEASE, F_UNLCK));
	close(fd);

	int p[2];
	pipe(p);
	report("F_RDLCK on a pipe", fcntl(p[0], F_SETLEASE, F_RDLCK));
	close(p[0]);
	close(p[1]);
	fflush(stdout);
	if (fork() == 0) {
		setuid(65534);
		int f = open(F, O_RDONLY);
		report("F_RDLCK on another's file as uid 65534", fcntl(f, F_SETLEASE, F_RDLCK));
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);

	/* A write lease broken by a reader: it may become a read lease. */
	fd = open(F, O_RDONLY);
	fcntl(fd, F_SETSIG, SIGRTMIN + 1);
	report("F_WRLCK", fcntl(fd, F_SETLEASE, F_WRLCK));
	printf("F_GETOWN is the pid: %s\n", fcntl(fd, F_GETOWN) == getpid() ? "yes" : "no");
	pid_t c = breaker("a reader's open, O_NONBLOCK", O_RDONLY | O_NONBLOCK, done, fd);
	waitpid(c, NULL, 0);
	finished(done, 10);
	await_break("the holder", fd);
	show_lease("F_GETLEASE while a reader breaks it", fd);
	c = breaker("a reader's open", O_RDONLY, done, fd);
	printf("the reader waits: %s\n", finished(done, 300) ? "no" : "yes");
	report("downgrade to F_RDLCK", fcntl(fd, F_SETLEASE, F_RDLCK));
	printf("the reader is through: %s\n", finished(done, 5000) ? "yes" : "no");
	waitpid(c, NULL, 0);
	show_lease("F_GETLEASE", fd);

	/* A read lease broken by a writer: it must go. */
	c = breaker("a writer's open", O_WRONLY, done, fd);
	await_break("the holder", fd);
	show_lease("F_GETLEASE while a writer breaks it", fd);
	report("F_RDLCK while a writer waits", fcntl(fd, F_SETLEASE, F_RDLCK));
	printf("the writer waits: %s\n", finished(done, 300) ? "no" : "yes");
	report("F_UNLCK", fcntl(fd, F_SETLEASE, F_UNLCK));
	printf("the writer is through: %s\n", finished(done, 5000) ? "yes" : "no");
	waitpid(c, NULL, 0);
	printf("F_GETOWN after the lease went: %d, F_GETSIG: %d\n", fcntl(fd, F_GETOWN), fcntl(fd, F_GETSIG));

	/* truncate breaks a lease as a writer does; closing the holder's
	 * file ends its lease. */
	fcntl(fd, F_SETSIG, SIGRTMIN + 1);
	report("F_RDLCK", fcntl(fd, F_SETLEASE, F_RDLCK));
	c = breaker("truncate", -1, done, fd);
	await_break("the holder", fd);
	printf("truncate waits: %s\n", finished(done, 300) ? "no" : "yes");
	close(fd);
	printf("truncate is through once the holder closes: %s\n", finished(done, 5000) ? "yes" : "no");
	waitpid(c, NULL, 0);

	char t[16] = { 0 };
	int bt = open("/proc/sys/fs/lease-break-time", O_RDONLY);
	read(bt, t, sizeof t - 1);
	printf("lease-break-time: %s", t);
	unlink(F);
	return 0;
}
