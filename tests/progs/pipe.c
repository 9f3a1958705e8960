/* pipe and pipe2: O_NONBLOCK and EAGAIN, capacity, EOF, PIPE_BUF
 * atomicity with two writers, EPIPE with SIGPIPE handled, ignored and
 * by default.
 *
 *   pipe          the checks (exit 0)
 *   pipe sigpipe  a child writes to a pipe with no reader, SIGPIPE at its
 *                 default action kills it; the program exits with 141 (see
 *                 die_in_child in common.h for why a child does the dying)
 */
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#define MSGS 300

static volatile sig_atomic_t got_sigpipe;

static void on_sigpipe(int sig)
{
	(void)sig;
	got_sigpipe++;
}

static void nonblocking(void)
{
	int p[2];
	report("pipe2(O_NONBLOCK | O_CLOEXEC)", pipe2(p, O_NONBLOCK | O_CLOEXEC));
	printf("read end flags: O_NONBLOCK %s, FD_CLOEXEC %s\n", (fcntl(p[0], F_GETFL) & O_NONBLOCK) ? "set" : "clear",
	       (fcntl(p[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
	printf("write end is O_WRONLY: %s\n", (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY ? "ok" : "bad");
	char buf[4096];
	errno = 0;
	long r = read(p[0], buf, sizeof buf);
	printf("read from an empty pipe: %ld %s\n", r, errname(errno));

	/* Fill it: the default capacity is 16 pages. */
	memset(buf, 'x', sizeof buf);
	long total = 0;
	for (;;) {
		r = write(p[1], buf, sizeof buf);
		if (r < 0)
			break;
		total += r;
	}
	printf("filled with %ld bytes, then: %s\n", total, errname(errno));
	printf("F_GETPIPE_SZ: %d\n", fcntl(p[1], F_GETPIPE_SZ));
	int avail = -1;
	ioctl(p[0], FIONREAD, &avail);
	printf("FIONREAD: %d\n", avail);
	errno = 0;
	r = write(p[1], buf, 1);
	printf("one more byte: %ld %s\n", r, errname(errno));

	/* Room for one page: a PIPE_BUF write fits, a byte more does not;
	 * a large write into two pages of room is partial. */
	r = read(p[0], buf, sizeof buf);
	printf("read 4096: %ld\n", r);
	r = write(p[1], buf, PIPE_BUF);
	printf("write PIPE_BUF into 4096 bytes of room: %ld\n", r);
	errno = 0;
	r = write(p[1], buf, 1);
	printf("then one more byte: %ld %s\n", r, errname(errno));
	char big[12288];
	memset(big, 'y', sizeof big);
	r = read(p[0], big, 8192);
	printf("read 8192: %ld\n", r);
	r = write(p[1], big, sizeof big);
	printf("write 12288 into 8192 bytes of room: %ld\n", r);

	/* Drain; then EOF once the writer is closed. */
	total = 0;
	while ((r = read(p[0], buf, sizeof buf)) > 0)
		total += r;
	printf("drained %ld bytes, then %s\n", total, errname(errno));
	close(p[1]);
	r = read(p[0], buf, sizeof buf);
	printf("read after the writer closed: %ld\n", r);
	close(p[0]);

	/* F_SETFL turns O_NONBLOCK off and on. */
	if (pipe(p))
		abort();
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	errno = 0;
	r = read(p[0], buf, 1);
	printf("after F_SETFL O_NONBLOCK: %ld %s\n", r, errname(errno));

	/* F_SETPIPE_SZ rounds up to a power of two pages and bounds the
	 * writes; it cannot shrink below what the pipe holds. */
	printf("F_SETPIPE_SZ 5000: %d\n", fcntl(p[1], F_SETPIPE_SZ, 5000));
	printf("then F_GETPIPE_SZ on the other end: %d\n", fcntl(p[0], F_GETPIPE_SZ));
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	total = 0;
	while ((r = write(p[1], buf, sizeof buf)) > 0)
		total += r;
	printf("it fills at %ld bytes\n", total);
	report("F_SETPIPE_SZ 4096 while it holds 8192", fcntl(p[1], F_SETPIPE_SZ, 4096));
	report("F_SETPIPE_SZ 0 (one page) while it holds 8192", fcntl(p[0], F_SETPIPE_SZ, 0));
	report("F_SETPIPE_SZ -1", fcntl(p[1], F_SETPIPE_SZ, -1));
	/* Up to /proc/sys/fs/pipe-max-size needs no privilege. */
	FILE *m = fopen("/proc/sys/fs/pipe-max-size", "r");
	long max = 0;
	if (m && fscanf(m, "%ld", &max) == 1 && max >= 4096) {
		int got = fcntl(p[0], F_SETPIPE_SZ, (int)max);
		CHECK("F_SETPIPE_SZ to /proc/sys/fs/pipe-max-size", got >= max && fcntl(p[0], F_GETPIPE_SZ) == got);
	} else {
		printf("/proc/sys/fs/pipe-max-size: unreadable\n");
	}
	if (m)
		fclose(m);
	int null = open("/dev/null", O_RDONLY);
	report("F_GETPIPE_SZ of /dev/null", fcntl(null, F_GETPIPE_SZ));
	close(null);
	close(p[0]);
	close(p[1]);
}

/* Two writers each send MSGS messages of PIPE_BUF bytes ('A' or 'B'):
 * every PIPE_BUF block the reader gets is all one letter. */
static void atomicity(void)
{
	int p[2];
	if (pipe(p))
		abort();
	fflush(stdout);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			char msg[PIPE_BUF];
			memset(msg, k ? 'B' : 'A', sizeof msg);
			close(p[0]);
			for (int i = 0; i < MSGS; i++)
				if (write(p[1], msg, sizeof msg) != sizeof msg)
					_exit(1);
			_exit(0);
		}
	}
	close(p[1]);
	static char all[2 * MSGS * PIPE_BUF + 1];
	long total = 0, r;
	while ((r = read(p[0], all + total, sizeof all - total)) > 0)
		total += r;
	close(p[0]);
	int mixed = 0, a = 0, b = 0;
	for (long off = 0; off + PIPE_BUF <= total; off += PIPE_BUF) {
		char c = all[off];
		for (long i = 1; i < PIPE_BUF; i++)
			if (all[off + i] != c) {
				mixed++;
				break;
			}
		if (c == 'A')
			a++;
		else if (c == 'B')
			b++;
	}
	printf("two writers: %ld bytes, %d A blocks, %d B blocks, %d mixed\n", total, a, b, mixed);
	for (int k = 0; k < 2; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		printf("writer %d: %s\n", k, status_str(st));
	}
}

static void epipe(void)
{
	int p[2];
	char c = 'z';

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	if (pipe(p))
		abort();
	close(p[0]);
	errno = 0;
	long r = write(p[1], &c, 1);
	printf("write with no reader, SIGPIPE handled: %ld %s, handler ran %d time(s)\n", r, errname(errno),
	       (int)got_sigpipe);
	close(p[1]);

	signal(SIGPIPE, SIG_IGN);
	if (pipe(p))
		abort();
	close(p[0]);
	errno = 0;
	r = write(p[1], &c, 1);
	printf("write with no reader, SIGPIPE ignored: %ld %s\n", r, errname(errno));
	close(p[1]);

	/* Blocked SIGPIPE stays pending. */
	signal(SIGPIPE, SIG_DFL);
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe(p))
		abort();
	close(p[0]);
	errno = 0;
	r = write(p[1], &c, 1);
	sigpending(&pending);
	printf("write with no reader, SIGPIPE blocked: %ld %s, pending: %s\n", r, errname(errno),
	       sigismember(&pending, SIGPIPE) ? "yes" : "no");
	int sig = 0;
	sigwait(&set, &sig);
	printf("sigwait took SIG%s\n", sigabbrev_np(sig));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	close(p[1]);

	/* The default action kills a child. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (pipe(p))
			_exit(2);
		close(p[0]);
		(void)!write(p[1], &c, 1);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child writing with no reader: %s\n", status_str(st));
}

/* The writer blocks on a full pipe until the reader makes room. */
static void blocking_writer(void)
{
	int p[2];
	if (pipe(p))
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		static char buf[256 * 1024];
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (char)(i * 31 + 7);
		_exit(write(p[1], buf, sizeof buf) == sizeof buf ? 0 : 1);
	}
	close(p[1]);
	unsigned long sum = 0, total = 0, i = 0;
	unsigned char buf[3000];
	long r;
	sleep_ms(20);
	while ((r = read(p[0], buf, sizeof buf)) > 0) {
		for (long k = 0; k < r; k++, i++)
			sum += buf[k] == (unsigned char)(i * 31 + 7);
		total += r;
	}
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	printf("256 KiB through one blocking write: %lu bytes, %lu in order, writer %s\n", total, sum,
	       status_str(st));
}

static void write_to_broken_pipe(void)
{
	int p[2];
	if (pipe(p))
		abort();
	close(p[0]);
	printf("writing to a pipe with no reader\n");
	(void)!write(p[1], "x", 1);
	printf("survived SIGPIPE\n");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "sigpipe") == 0)
		return die_in_child(write_to_broken_pipe);
	nonblocking();
	atomicity();
	epipe();
	blocking_writer();
	printf("done\n");
	return 0;
}
