/* poll, ppoll, select and pselect6 over pipes and a regular file:
 * readiness, hangup and error events, timeouts, wakeups by another
 * process, and signal masks (ppoll and pselect6 return EINTR when a
 * signal they unblock arrives).
 *
 * Timeouts print only whether at least the timeout elapsed. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/select.h>

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

/* revents as text; a few calls may share one printf. */
static const char *events(short ev)
{
	static char bufs[4][128];
	static int next;
	char *buf = bufs[next++ % 4];
	buf[0] = 0;
	if (ev & POLLIN)
		strcat(buf, "IN|");
	if (ev & POLLPRI)
		strcat(buf, "PRI|");
	if (ev & POLLOUT)
		strcat(buf, "OUT|");
	if (ev & POLLERR)
		strcat(buf, "ERR|");
	if (ev & POLLHUP)
		strcat(buf, "HUP|");
	if (ev & POLLNVAL)
		strcat(buf, "NVAL|");
	if (ev & POLLRDNORM)
		strcat(buf, "RDNORM|");
	if (ev & POLLWRNORM)
		strcat(buf, "WRNORM|");
	size_t n = strlen(buf);
	if (n)
		buf[n - 1] = 0;
	else
		strcpy(buf, "0");
	return buf;
}

static void poll_pipes(void)
{
	int p[2];
	if (pipe(p))
		abort();
	struct pollfd fds[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
	int r = poll(fds, 2, 0);
	printf("poll, empty pipe: %d, read end %s, write end %s\n", r, events(fds[0].revents), events(fds[1].revents));

	long start = now_ms();
	fds[1].events = 0;
	r = poll(fds, 2, 50);
	printf("poll, nothing ready, 50 ms: %d, waited at least 50 ms: %s\n", r, now_ms() - start >= 49 ? "ok" : "bad");

	if (write(p[1], "x", 1) != 1)
		abort();
	fds[1].events = POLLOUT;
	r = poll(fds, 2, -1);
	printf("poll, one byte in: %d, read end %s, write end %s\n", r, events(fds[0].revents), events(fds[1].revents));

	/* Events asked for the other direction are not reported. */
	struct pollfd wrong = { p[0], POLLOUT, 0 };
	r = poll(&wrong, 1, 0);
	printf("poll POLLOUT on the read end: %d %s\n", r, events(wrong.revents));

	/* Writer closed: POLLHUP (with POLLIN while data remains). */
	close(p[1]);
	fds[1].fd = -1;
	r = poll(fds, 2, 0);
	printf("poll, writer closed, data left: %d, read end %s, negative fd %s\n", r, events(fds[0].revents),
	       events(fds[1].revents));
	char c;
	if (read(p[0], &c, 1) != 1)
		abort();
	r = poll(fds, 1, 0);
	printf("poll, writer closed, drained: %d %s\n", r, events(fds[0].revents));
	close(p[0]);

	/* Reader closed: POLLERR on the write end. */
	if (pipe(p))
		abort();
	close(p[0]);
	struct pollfd w = { p[1], POLLOUT, 0 };
	r = poll(&w, 1, 0);
	printf("poll, reader closed: %d %s\n", r, events(w.revents));
	close(p[1]);

	/* A closed fd: POLLNVAL. */
	struct pollfd bad = { p[1], POLLIN, 0 };
	r = poll(&bad, 1, 0);
	printf("poll on a closed fd: %d %s\n", r, events(bad.revents));

	/* Full pipe: no POLLOUT. */
	if (pipe2(p, O_NONBLOCK))
		abort();
	char buf[4096];
	memset(buf, 0, sizeof buf);
	while (write(p[1], buf, sizeof buf) > 0)
		;
	w.fd = p[1];
	r = poll(&w, 1, 0);
	printf("poll, full pipe: %d %s\n", r, events(w.revents));
	if (read(p[0], buf, sizeof buf) != sizeof buf)
		abort();
	r = poll(&w, 1, 0);
	printf("poll, after reading a page: %d %s\n", r, events(w.revents));
	close(p[0]);
	close(p[1]);

	errno = 0;
	r = poll(NULL, 0, 10);
	printf("poll with no fds, 10 ms: %d\n", r);
	errno = 0;
	r = syscall(SYS_poll, 8L, 1L, 0L);
	printf("poll with a bad pointer: %d %s\n", r, errname(errno));
}

static void poll_file(void)
{
	int fd = open("/progs/poll", O_RDONLY);
	struct pollfd f = { fd, POLLIN | POLLOUT, 0 };
	int r = poll(&f, 1, -1);
	printf("poll on a regular file: %d %s\n", r, events(f.revents));
	fd_set rd, wr;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(fd, &rd);
	FD_SET(fd, &wr);
	struct timeval tv = { 0, 0 };
	r = select(fd + 1, &rd, &wr, NULL, &tv);
	printf("select on a regular file: %d, readable %d, writable %d\n", r, FD_ISSET(fd, &rd), FD_ISSET(fd, &wr));
	close(fd);
}

/* A child writes after 50 ms; the parent's wait (up to 10 s) ends then. */
static pid_t writer_after(int fd, int ms)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(ms);
		_exit(write(fd, "w", 1) == 1 ? 0 : 1);
	}
	return pid;
}

static void wakeups(void)
{
	int p[2];
	if (pipe(p))
		abort();
	char c;

	pid_t pid = writer_after(p[1], 50);
	struct pollfd f = { p[0], POLLIN, 0 };
	long start = now_ms();
	int r = poll(&f, 1, 10000);
	printf("poll woken by a write from another process: %d %s, before the timeout: %s\n", r, events(f.revents),
	       now_ms() - start < 9000 ? "ok" : "bad");
	waitpid(pid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		abort();

	pid = writer_after(p[1], 50);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	struct timeval tv = { 10, 0 };
	r = select(p[0] + 1, &rd, NULL, NULL, &tv);
	printf("select woken by a write: %d, readable %d, time left: %s\n", r, FD_ISSET(p[0], &rd),
	       tv.tv_sec < 10 && tv.tv_sec >= 1 ? "ok" : "bad");
	waitpid(pid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		abort();

	pid = writer_after(p[1], 50);
	struct timespec ts = { 10, 0 };
	f.revents = 0;
	r = ppoll(&f, 1, &ts, NULL);
	printf("ppoll woken by a write: %d %s\n", r, events(f.revents));
	waitpid(pid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		abort();

	pid = writer_after(p[1], 50);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	r = pselect(p[0] + 1, &rd, NULL, NULL, &ts, NULL);
	printf("pselect woken by a write: %d, readable %d\n", r, FD_ISSET(p[0], &rd));
	waitpid(pid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		abort();
	close(p[0]);
	close(p[1]);
}

static void timeouts(void)
{
	int p[2];
	if (pipe(p))
		abort();
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	struct timeval tv = { 0, 30000 };
	long start = now_ms();
	int r = select(p[0] + 1, &rd, NULL, NULL, &tv);
	printf("select timeout 30 ms: %d, set cleared %s, waited at least 30 ms: %s, timeval now zero: %s\n", r,
	       FD_ISSET(p[0], &rd) ? "no" : "yes", now_ms() - start >= 29 ? "ok" : "bad",
	       tv.tv_sec == 0 && tv.tv_usec == 0 ? "ok" : "bad");

	struct pollfd f = { p[0], POLLIN, 0 };
	struct timespec ts = { 0, 30000000 };
	start = now_ms();
	r = ppoll(&f, 1, &ts, NULL);
	printf("ppoll timeout 30 ms: %d, waited at least 30 ms: %s\n", r, now_ms() - start >= 29 ? "ok" : "bad");

	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	ts.tv_nsec = 30000000;
	start = now_ms();
	r = pselect(p[0] + 1, &rd, NULL, NULL, &ts, NULL);
	printf("pselect timeout 30 ms: %d, waited at least 30 ms: %s\n", r, now_ms() - start >= 29 ? "ok" : "bad");

	/* select as a sleep, with no fds. */
	tv.tv_sec = 0;
	tv.tv_usec = 20000;
	start = now_ms();
	r = select(0, NULL, NULL, NULL, &tv);
	printf("select with no fds, 20 ms: %d, waited at least 20 ms: %s\n", r, now_ms() - start >= 19 ? "ok" : "bad");

	/* Errors. */
	/* A descriptor known to be closed: the lowest free one (a fixed
	 * number such as 100 may be inherited open from the test runner). */
	int closed = dup(0);
	if (closed < 0 || close(closed))
		abort();
	FD_ZERO(&rd);
	FD_SET(closed, &rd);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	errno = 0;
	r = select(closed + 1, &rd, NULL, NULL, &tv);
	printf("select on a closed fd: %d %s\n", r, errname(errno));
	tv.tv_usec = -1;
	errno = 0;
	r = select(0, NULL, NULL, NULL, &tv);
	printf("select with a negative timeout: %d %s\n", r, errname(errno));
	errno = 0;
	r = select(-1, NULL, NULL, NULL, NULL);
	printf("select with nfds -1: %d %s\n", r, errname(errno));
	ts.tv_sec = 0;
	ts.tv_nsec = 1000000000;
	errno = 0;
	r = ppoll(&f, 1, &ts, NULL);
	printf("ppoll with tv_nsec out of range: %d %s\n", r, errname(errno));
	close(p[0]);
	close(p[1]);
}

/* SIGUSR1 is blocked; ppoll and pselect unblock it while they wait. A
 * child sends it (repeatedly, until told to stop). */
static void masks(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGUSR1);

	for (int k = 0; k < 2; k++) {
		int p[2], stop[2];
		if (pipe(p) || pipe(stop))
			abort();
		pid_t parent = getpid();
		got_usr1 = 0;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			close(stop[1]);
			fcntl(stop[0], F_SETFL, O_NONBLOCK);
			char c;
			for (int i = 0; i < 2000 && read(stop[0], &c, 1) < 0; i++) {
				kill(parent, SIGUSR1);
				sleep_ms(10);
			}
			_exit(0);
		}
		close(stop[0]);
		struct timespec ts = { 10, 0 };
		int r;
		errno = 0;
		if (k == 0) {
			struct pollfd f = { p[0], POLLIN, 0 };
			r = ppoll(&f, 1, &ts, &waitmask);
		} else {
			fd_set rd;
			FD_ZERO(&rd);
			FD_SET(p[0], &rd);
			r = pselect(p[0] + 1, &rd, NULL, NULL, &ts, &waitmask);
		}
		int e = errno;
		sigset_t now;
		sigprocmask(SIG_BLOCK, NULL, &now);
		printf("%s with SIGUSR1 unblocked during the wait: %d %s, handler ran: %s, blocked again: %s\n",
		       k ? "pselect" : "ppoll", r, errname(e), got_usr1 ? "yes" : "no",
		       sigismember(&now, SIGUSR1) ? "yes" : "no");
		if (write(stop[1], "s", 1) != 1)
			abort();
		waitpid(pid, NULL, 0);
		close(stop[1]);
		close(p[0]);
		close(p[1]);
		/* Take the signal sent after the wait ended, if any. */
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&block, NULL, &zero) > 0)
			;
	}

	/* poll itself keeps the mask: a blocked signal does not interrupt it. */
	int p[2];
	if (pipe(p))
		abort();
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		kill(parent, SIGUSR1);
		sleep_ms(30);
		_exit(write(p[1], "d", 1) == 1 ? 0 : 1);
	}
	got_usr1 = 0;
	struct pollfd f = { p[0], POLLIN, 0 };
	int r = poll(&f, 1, 10000);
	printf("poll with SIGUSR1 blocked: %d %s, handler ran: %s\n", r, events(f.revents), got_usr1 ? "yes" : "no");
	waitpid(pid, NULL, 0);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	printf("after unblocking: handler ran: %s\n", got_usr1 ? "yes" : "no");
	close(p[0]);
	close(p[1]);
}

/* A child polls an empty pipe for 2 s while the parent stops it from 200
 * to 1200 ms. poll restarts through a restart block that keeps its
 * deadline, so it still ends at about 2 s; ppoll restarts with the time
 * left that it wrote back when the stop interrupted it, so it ends at
 * about 3 s. */
static void stopped_poll(const char *what, int use_ppoll)
{
	int p[2];
	if (pipe(p))
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		struct pollfd f = { p[0], POLLIN, 0 };
		struct timespec ts = { 2, 0 };
		long start = now_ms();
		int r = use_ppoll ? (int)syscall(SYS_ppoll, &f, 1, &ts, NULL, 8) : poll(&f, 1, 2000);
		long took = now_ms() - start;
		printf("%s 2 s, stopped from 200 to 1200 ms: %d, slept it all: %s, ended at about %s\n", what, r,
		       took >= 1990 ? "ok" : "bad", took < 2500 ? "2 s" : "3 s");
		_exit(0);
	}
	stop_then_continue(pid);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	poll_pipes();
	poll_file();
	wakeups();
	timeouts();
	masks();
	stopped_poll("poll", 0);
	stopped_poll("ppoll", 1);
	printf("done\n");
	return 0;
}
