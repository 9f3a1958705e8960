/* POSIX message queues: mq_open (O_CREAT|O_EXCL, the default and given
 * attributes and their errors, the name rules of the raw syscall), the
 * descriptor as a file (close-on-exec, fcntl, fstat, /proc/self/fd, read()
 * of its status line, dup), priorities, the size and priority limits,
 * O_NONBLOCK and timeouts on full and empty queues, blocking sends and
 * receives woken by a child, signals (SA_RESTART restarts them, unlike
 * the System V calls), mq_getattr/mq_setattr, mq_notify with SIGEV_SIGNAL
 * (only on empty to non-empty, only without a waiting receiver, one
 * registration per queue, removed once it fires), poll/select/epoll
 * readiness, mq_unlink, and /proc/sys/fs/mqueue.
 *
 * With the argument "fs" (Husk only: the native run has no /dev/mqueue in
 * its chroot) it checks the mqueue filesystem at /dev/mqueue instead: the
 * directory, a queue's file and its status text, listing, creating a
 * queue with open(2), unlinking one with unlink(2).
 *
 * Natively this runs in the host's IPC namespace, so queue names carry the
 * pid and every queue is unlinked, at exit too. Each check prints
 * "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>

/* Queue names by number, unlinked at exit whatever happened before:
 * track() records the numbers. */
static char names[16][64];

static void unlink_name(int n)
{
	mq_unlink(names[n]);
}

/* "/husk-mq-<pid>-<n>": unique among running processes. */
static const char *qname(int n)
{
	char *s = names[n];
	if (!s[0])
		track(n);
	snprintf(s, sizeof names[n], "/husk-mq-%d-%d", (int)me, n);
	return s;
}

static mqd_t open_q(const char *name, int flags, long maxmsg, long msgsize)
{
	struct mq_attr a = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
	return mq_open(name, flags, 0600, &a);
}

static void print_attr(const char *label, mqd_t q)
{
	struct mq_attr a;
	memset(&a, 0xff, sizeof a);
	if (mq_getattr(q, &a) == -1) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	printf("%s: flags %s, maxmsg %ld, msgsize %ld, curmsgs %ld\n", label,
	       a.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : a.mq_flags == 0 ? "0" : "other", a.mq_maxmsg,
	       a.mq_msgsize, a.mq_curmsgs);
}

/* Receives and prints "label: 'TEXT' prio P" or "label: ERRNO". */
static void recv_print(const char *label, mqd_t q, size_t cap)
{
	char buf[8192];
	unsigned prio = 99;
	ssize_t n = mq_receive(q, buf, cap, &prio);
	if (n < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: '%.*s' prio %u\n", label, (int)n, buf, prio);
}

static long send_str(mqd_t q, const char *s, unsigned prio)
{
	return mq_send(q, s, strlen(s), prio);
}

/* An absolute CLOCK_REALTIME time ms from now, as mq_timed* want. */
static struct timespec in_ms(long ms)
{
	return abs_time_in(ms, CLOCK_REALTIME);
}

static short revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM };
	poll(&p, 1, 0);
	return p.revents;
}

static void opening(void)
{
	const char *n0 = qname(0);
	mqd_t q = mq_open(n0, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
	report("mq_open O_CREAT|O_EXCL, no attributes", q);
	print_attr("its attributes", q);
	report("mq_open O_CREAT|O_EXCL again", mq_open(n0, O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
	mqd_t q2 = open_q(n0, O_CREAT | O_RDWR, 3, 32);
	CHECK("mq_open O_CREAT of an existing queue: another descriptor", q2 >= 0 && q2 != q);
	print_attr("whose attributes are the queue's", q2);
	mq_close(q2);
	report("mq_open of a missing queue", mq_open(qname(1), O_RDWR));
	report("mq_open: maxmsg 0", open_q(qname(1), O_CREAT | O_RDWR, 0, 16));
	report("mq_open: msgsize 0", open_q(qname(1), O_CREAT | O_RDWR, 4, 0));
	report("mq_open: maxmsg -1", open_q(qname(1), O_CREAT | O_RDWR, -1, 16));
	report("mq_open: msgsize -1", open_q(qname(1), O_CREAT | O_RDWR, 4, -1));
	report("mq_open: maxmsg 65537 (above HARD_MSGMAX)", open_q(qname(1), O_CREAT | O_RDWR, 65537, 16));
	report("mq_open: O_RDWR|O_WRONLY", mq_open(n0, O_RDWR | O_WRONLY));
	mqd_t small = open_q(qname(1), O_CREAT | O_EXCL | O_RDWR, 4, 16);
	print_attr("mq_open with maxmsg 4, msgsize 16", small);
	mq_close(small);

	/* The raw syscall takes the name without its leading slash; glibc
	 * itself refuses a name without one. */
	report("mq_open (glibc) of a name without a slash", mq_open("husk-no-slash", O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_open of 'a/b'", syscall(SYS_mq_open, "a/b", O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_open of ''", syscall(SYS_mq_open, "", O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_open of '.'", syscall(SYS_mq_open, ".", O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_open of '..'", syscall(SYS_mq_open, "..", O_RDWR | O_CREAT, 0600, NULL));
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	report("raw mq_open of a 256-byte name", syscall(SYS_mq_open, longname, O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_open of a NULL name", syscall(SYS_mq_open, NULL, O_RDWR | O_CREAT, 0600, NULL));
	report("raw mq_unlink of 'a/b'", syscall(SYS_mq_unlink, "a/b"));
	report("raw mq_unlink of ''", syscall(SYS_mq_unlink, ""));

	/* The descriptor is a file. */
	CHECK("close-on-exec without O_CLOEXEC (Linux always sets it)", fcntl(q, F_GETFD) == FD_CLOEXEC);
	CHECK("F_GETFL: O_RDWR", fcntl(q, F_GETFL) == O_RDWR);
	struct stat st;
	fstat(q, &st);
	printf("fstat: mode %o, size %lld, nlink %lu\n", st.st_mode, (long long)st.st_size, (unsigned long)st.st_nlink);
	char link[128] = "", path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", q);
	readlink(path, link, sizeof link - 1);
	CHECK("/proc/self/fd link: the name", strcmp(link, n0) == 0);
	mode_t old = umask(022);
	mqd_t u = mq_open(qname(2), O_CREAT | O_EXCL | O_WRONLY, 0666, NULL);
	umask(old);
	fstat(u, &st);
	printf("created with 0666 under umask 022: mode %o\n", st.st_mode);
	CHECK("O_WRONLY: F_GETFL", fcntl(u, F_GETFL) == O_WRONLY);
	mq_close(u);
	mq_unlink(qname(2));

	report("fcntl F_SETFL O_NONBLOCK", fcntl(q, F_SETFL, O_NONBLOCK));
	print_attr("then mq_getattr", q);
	struct mq_attr a = { .mq_flags = 0, .mq_maxmsg = 99, .mq_msgsize = 99 }, was;
	report("mq_setattr flags 0 (and maxmsg 99, ignored)", mq_setattr(q, &a, &was));
	printf("mq_setattr's old flags: %s\n", was.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other");
	print_attr("then mq_getattr", q);
	CHECK("and F_GETFL: O_RDWR", fcntl(q, F_GETFL) == O_RDWR);
	a.mq_flags = O_NONBLOCK | O_APPEND;
	report("mq_setattr with O_APPEND", mq_setattr(q, &a, NULL));
	print_attr("then mq_getattr", q);
	a.mq_flags = 0;
	mq_setattr(q, &a, NULL);
	int p[2];
	pipe(p);
	report("mq_getattr of a pipe", mq_getattr(p[0], &a));
	report("mq_send to a pipe", mq_send(p[1], "x", 1, 0));
	close(p[0]);
	close(p[1]);
	mqd_t d = dup(q);
	send_str(q, "12345", 0);
	send_str(q, "abcde", 0);
	print_attr("a dup of it", d);
	char text[256] = "";
	ssize_t n = read(q, text, sizeof text - 1);
	printf("read() of the descriptor: %zd bytes: %s", n, n > 0 ? text : "\n");
	printf("read() again (at the end): %zd\n", read(q, text, sizeof text));
	report("write() to it", write(q, "x", 1));
	report("lseek to 0", lseek(q, 0, SEEK_SET));
	n = read(q, text, 6);
	printf("read() of 6 bytes after it: %zd '%.*s'\n", n, n > 0 ? (int)n : 0, text);
	mq_close(d);
	mq_close(q);
	report("mq_send on a closed descriptor", send_str(q, "x", 0));
}

static void drain_one(mqd_t q)
{
	char buf[8192];
	mq_receive(q, buf, sizeof buf, NULL);
}

static void messages(void)
{
	mqd_t q = open_q(qname(3), O_CREAT | O_EXCL | O_RDWR, 4, 16);
	send_str(q, "low", 1);
	send_str(q, "high", 9);
	send_str(q, "mid-a", 5);
	send_str(q, "mid-b", 5);
	print_attr("four sent", q);
	CHECK("poll when full: POLLIN|POLLRDNORM", revents(q) == (POLLIN | POLLRDNORM));
	struct mq_attr a = { .mq_flags = O_NONBLOCK };
	mq_setattr(q, &a, NULL);
	report("mq_send when full, O_NONBLOCK", send_str(q, "x", 0));
	a.mq_flags = 0;
	mq_setattr(q, &a, NULL);
	struct timespec t = in_ms(50);
	long t0 = now_ms();
	report("mq_timedsend when full, 50 ms", mq_timedsend(q, "x", 1, 0, &t));
	CHECK("it waited at least 40 ms", now_ms() - t0 >= 40);
	t.tv_nsec = 1000000000;
	report("mq_timedsend when full, tv_nsec 1e9", mq_timedsend(q, "x", 1, 0, &t));
	t = in_ms(-1000);
	report("mq_timedsend when full, a time in the past", mq_timedsend(q, "x", 1, 0, &t));
	recv_print("receive 1", q, 16);
	recv_print("receive 2", q, 16);
	recv_print("receive 3", q, 16);
	CHECK("poll when partly full: POLLIN|POLLRDNORM|POLLOUT|POLLWRNORM",
	      revents(q) == (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM));
	t.tv_sec = 0;
	t.tv_nsec = 1000000000;
	char buf[64];
	report("mq_timedreceive with a message, tv_nsec 1e9", mq_timedreceive(q, buf, 16, NULL, &t));
	recv_print("receive 4", q, 16);
	CHECK("poll when empty: POLLOUT|POLLWRNORM", revents(q) == (POLLOUT | POLLWRNORM));
	mq_setattr(q, &(struct mq_attr){ .mq_flags = O_NONBLOCK }, NULL);
	recv_print("mq_receive when empty, O_NONBLOCK", q, 16);
	mq_setattr(q, &(struct mq_attr){ .mq_flags = 0 }, NULL);
	t = in_ms(50);
	t0 = now_ms();
	report("mq_timedreceive when empty, 50 ms", mq_timedreceive(q, buf, 16, NULL, &t));
	CHECK("it waited at least 40 ms", now_ms() - t0 >= 40);

	report("mq_send of 17 bytes (msgsize 16)", mq_send(q, "0123456789abcdefg", 17, 0));
	report("mq_send prio 32768 (MQ_PRIO_MAX)", mq_send(q, "x", 1, 32768));
	report("mq_send prio 32767", mq_send(q, "x", 1, 32767));
	report("mq_send of 0 bytes", mq_send(q, "", 0, 0));
	recv_print("mq_receive into 15 bytes (msgsize 16)", q, 15);
	recv_print("mq_receive into 16", q, 16);
	recv_print("mq_receive into 17", q, 17);

	mqd_t ro = mq_open(qname(3), O_RDONLY), wo = mq_open(qname(3), O_WRONLY);
	report("mq_send on an O_RDONLY descriptor", send_str(ro, "x", 0));
	recv_print("mq_receive on an O_WRONLY descriptor", wo, 16);
	/* poll looks at the queue, not at the descriptor's access mode. */
	printf("poll of an O_RDONLY descriptor, empty queue: %#x\n", revents(ro));
	send_str(q, "x", 0);
	printf("poll of an O_WRONLY descriptor, one message: %#x\n", revents(wo));
	drain_one(q);
	mq_close(ro);
	mq_close(wo);
	mq_close(q);
	mq_unlink(qname(3));
}

static void blocking(void)
{
	mqd_t q = open_q(qname(4), O_CREAT | O_EXCL | O_RDWR, 2, 16);
	int sync[2];
	pipe(sync);

	/* A receive woken by a child's send. */
	pid_t pid = fork_flushed();
	if (pid == 0) {
		sleep_ms(50);
		_exit(send_str(q, "from the child", 3) == 0 ? 0 : 1);
	}
	recv_print("a blocking mq_receive, a child sends", q, 16);
	printf("the child: %s\n", status_str(wait_child(pid)));

	/* A send woken by a child's receive. */
	send_str(q, "one", 1);
	send_str(q, "two", 2);
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		char buf[16];
		_exit(mq_receive(q, buf, 16, NULL) == 3 ? 0 : 1);
	}
	report("a blocking mq_send on a full queue, a child receives", send_str(q, "three", 3));
	printf("the child: %s\n", status_str(wait_child(pid)));
	recv_print("then", q, 16);
	recv_print("then", q, 16);

	/* A poll woken by a child's send. */
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(send_str(q, "poll", 0) == 0 ? 0 : 1);
	}
	struct pollfd pf = { .fd = q, .events = POLLIN };
	int r = poll(&pf, 1, 5000);
	printf("a poll for POLLIN, a child sends: %d, revents %#x\n", r, pf.revents);
	wait_child(pid);
	fd_set rd, wr;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(q, &rd);
	FD_SET(q, &wr);
	struct timeval tv = { 0, 0 };
	r = select(q + 1, &rd, &wr, NULL, &tv);
	printf("select with one message: %d, readable %d, writable %d\n", r, FD_ISSET(q, &rd) != 0,
	       FD_ISSET(q, &wr) != 0);
	recv_print("then", q, 16);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 }, out;
	report("epoll_ctl ADD of the queue", epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev));
	printf("epoll_wait when empty: %d\n", epoll_wait(ep, &out, 1, 0));
	send_str(q, "e", 0);
	r = epoll_wait(ep, &out, 1, 0);
	printf("epoll_wait after a send: %d, events %#x, data %llu\n", r, out.events, (unsigned long long)out.data.u64);
	recv_print("then", q, 16);
	close(ep);

	/* Signals: SA_RESTART restarts mq_receive; without it, EINTR. */
	pid = fork();
	if (pid == 0) {
		handle(SIGUSR1, on_signal, SA_RESTART);
		child_about_to_block(sync[1]);
		char buf[16];
		ssize_t n = mq_receive(q, buf, 16, NULL);
		printf("mq_receive in a child, SIGUSR1 with SA_RESTART, then a send: %s, handler ran: %s\n",
		       n < 0 ? errname(errno) : "got it", handled ? "yes" : "no");
		handle(SIGUSR1, on_signal, 0);
		child_about_to_block(sync[1]);
		handled = 0;
		n = mq_receive(q, buf, 16, NULL);
		write(sync[1], "r", 1);
		printf("mq_receive in a child, SIGUSR1 without SA_RESTART: %s, handler ran: %s\n",
		       n < 0 ? errname(errno) : "got it", handled ? "yes" : "no");
		_exit(0);
	}
	parent_until_blocked(sync[0]);
	kill(pid, SIGUSR1);
	sleep_ms(100);
	send_str(q, "after the signal", 0);
	parent_until_blocked(sync[0]);
	signal_until_returned(pid, SIGUSR1, sync[0]);
	printf("the child: %s\n", status_str(wait_child(pid)));
	close(sync[0]);
	close(sync[1]);
	mq_close(q);
	mq_unlink(qname(4));
}

static void drain(mqd_t q)
{
	char buf[16];
	mq_setattr(q, &(struct mq_attr){ .mq_flags = O_NONBLOCK }, NULL);
	while (mq_receive(q, buf, 16, NULL) >= 0)
		;
	mq_setattr(q, &(struct mq_attr){ .mq_flags = 0 }, NULL);
}

static void notify(void)
{
	handle_info(SIGUSR2, on_info);
	mqd_t q = open_q(qname(5), O_CREAT | O_EXCL | O_RDWR, 4, 16);

	struct sigevent sev = sigev_signal(SIGUSR2, 42);
	report("mq_notify SIGEV_SIGNAL", mq_notify(q, &sev));
	report("mq_notify again from the same process", mq_notify(q, &sev));
	send_str(q, "a", 0);
	printf("a send to the empty queue: %d signal(s)\n", info_count);
	CHECK("siginfo: SI_MESGQ, the value, the sender's pid",
	      info_code == SI_MESGQ && info_value == 42 && info_pid == getpid());
	send_str(q, "b", 0);
	drain(q);
	send_str(q, "c", 0);
	printf("the registration is gone after it fired: %d signal(s)\n", info_count);

	info_count = 0;
	mq_notify(q, &sev);
	send_str(q, "d", 0);
	printf("registered with a message queued, then a send: %d signal(s)\n", info_count);
	drain(q);
	send_str(q, "e", 0);
	printf("emptied, then a send: %d signal(s)\n", info_count);
	drain(q);

	/* Another process: EBUSY; its mq_notify(NULL) removes nothing. */
	info_count = 0;
	mq_notify(q, &sev);
	pid_t pid = fork_flushed();
	if (pid == 0) {
		struct sigevent s2 = sigev_signal(SIGUSR2, 1);
		report("mq_notify from a child while the parent is registered", mq_notify(q, &s2));
		report("mq_notify(NULL) from the child", mq_notify(q, NULL));
		_exit(0);
	}
	wait_child(pid);
	send_str(q, "f", 0);
	printf("the parent's registration still fires: %d signal(s)\n", info_count);
	drain(q);

	/* A child's send: the siginfo names the child. */
	info_count = 0;
	info_pid = 0;
	mq_notify(q, &sev);
	pid = fork();
	if (pid == 0)
		_exit(send_str(q, "from a child", 0) == 0 ? 0 : 1);
	wait_child(pid);
	long t0 = now_ms();
	while (info_count == 0 && now_ms() - t0 < 5000)
		sleep_ms(1);
	printf("a child's send: %d signal(s)\n", info_count);
	CHECK("siginfo: SI_MESGQ, si_pid the child", info_code == SI_MESGQ && info_pid == pid);
	drain(q);

	/* No notification when a receiver is waiting: it gets the message. */
	info_count = 0;
	mq_notify(q, &sev);
	int sync[2];
	pipe(sync);
	pid = fork();
	if (pid == 0) {
		char buf[16];
		child_about_to_block(sync[1]);
		_exit(mq_receive(q, buf, 16, NULL) == 1 ? 0 : 1);
	}
	parent_until_blocked(sync[0]);
	send_str(q, "g", 0);
	/* The child first: C leaves the order of a call's arguments open. */
	const char *st_text = status_str(wait_child(pid));
	printf("a send with a receiver waiting: receiver %s, %d signal(s)\n", st_text, info_count);
	send_str(q, "h", 0);
	printf("the registration stayed: %d signal(s)\n", info_count);
	drain(q);
	close(sync[0]);
	close(sync[1]);

	info_count = 0;
	mq_notify(q, &sev);
	report("mq_notify(NULL) by the owner", mq_notify(q, NULL));
	send_str(q, "i", 0);
	printf("after it, a send: %d signal(s)\n", info_count);
	drain(q);
	sev.sigev_notify = 99;
	report("mq_notify with sigev_notify 99", mq_notify(q, &sev));
	sev = sigev_signal(SIGUSR2, 0);
	sev.sigev_signo = 65;
	report("mq_notify SIGEV_SIGNAL, signal 65", mq_notify(q, &sev));
	/* Signal 0 is accepted: a registration that sends nothing. */
	info_count = 0;
	sev.sigev_signo = 0;
	report("mq_notify SIGEV_SIGNAL, signal 0", mq_notify(q, &sev));
	report("then SIGEV_SIGNAL SIGUSR2", mq_notify(q, &(struct sigevent){ .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 }));
	send_str(q, "j", 0);
	printf("a send: %d signal(s)\n", info_count);
	drain(q);
	report("mq_notify SIGEV_NONE", mq_notify(q, &(struct sigevent){ .sigev_notify = SIGEV_NONE }));
	report("then SIGEV_SIGNAL SIGUSR2", mq_notify(q, &(struct sigevent){ .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 }));
	send_str(q, "k", 0);
	printf("a send: %d signal(s)\n", info_count);
	report("and the SIGEV_NONE registration is used up", mq_notify(q, &(struct sigevent){ .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 }));
	mq_notify(q, NULL);
	drain(q);
	int p[2];
	pipe(p);
	report("mq_notify on a pipe", mq_notify(p[0], NULL));
	report("mq_notify on a bad fd", mq_notify(-1, NULL));
	close(p[0]);
	close(p[1]);
	mq_close(q);
	mq_unlink(qname(5));
}

/* A notification goes when its process closes any fd of the queue
 * (Linux's mqueue_flush_file) or exits; another process's close leaves
 * it. */
static void notify_and_close(void)
{
	const char *n = qname(7);
	mqd_t q = open_q(n, O_CREAT | O_EXCL | O_RDWR, 4, 16);
	struct sigevent sev = sigev_signal(SIGUSR2, 7);
	mq_notify(q, &sev);
	pid_t pid = fork();
	if (pid == 0) {
		mq_close(q);
		report("after a child's close, the child's mq_notify", mq_notify(mq_open(n, O_RDWR), &sev));
		_exit(0);
	}
	wait_child(pid);
	mqd_t other = mq_open(n, O_RDONLY);
	mq_close(other);
	info_count = 0;
	send_str(q, "x", 0);
	printf("registered, another fd of the queue closed, then a send: %d signal(s)\n", info_count);
	drain(q);
	pid = fork();
	if (pid == 0) {
		report("then a child's mq_notify", mq_notify(q, &sev));
		_exit(0);
	}
	wait_child(pid);
	printf("after the child's exit, ");
	report("the parent's mq_notify", mq_notify(q, &sev));
	mq_notify(q, NULL);
	mq_close(q);
	mq_unlink(n);
}

static void unlinking(void)
{
	const char *n = qname(6);
	mqd_t q = open_q(n, O_CREAT | O_EXCL | O_RDWR, 4, 16);
	send_str(q, "kept", 0);
	report("mq_unlink", mq_unlink(n));
	report("mq_open after it", mq_open(n, O_RDWR));
	report("mq_unlink again", mq_unlink(n));
	recv_print("the open descriptor still works", q, 16);
	mqd_t q2 = open_q(n, O_CREAT | O_EXCL | O_RDWR, 4, 16);
	CHECK("the name makes a new queue", q2 >= 0);
	print_attr("which is empty", q2);
	mq_close(q2);
	mq_unlink(n);
	mq_close(q);

	print_files("/proc/sys/fs/mqueue", "msg_default", "msg_max", "msgsize_default", "msgsize_max", "queues_max", NULL);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Husk only: the mqueue filesystem at /dev/mqueue. The names are fixed:
 * the sandbox has its own IPC namespace. */
static int fs_mode(void)
{
	struct stat st;
	report("stat /dev/mqueue", stat("/dev/mqueue", &st));
	printf("/dev/mqueue: mode %o\n", st.st_mode);
	mq_unlink("/husk-fs");
	mqd_t q = open_q("/husk-fs", O_CREAT | O_EXCL | O_RDWR, 10, 64);
	report("mq_open /husk-fs", q);
	send_str(q, "hello", 1);
	send_str(q, "world", 2);
	report("stat /dev/mqueue/husk-fs", stat("/dev/mqueue/husk-fs", &st));
	printf("its mode %o, size %lld\n", st.st_mode, (long long)st.st_size);
	int fd = open("/dev/mqueue/husk-fs", O_RDONLY);
	char text[256] = "";
	ssize_t n = read(fd, text, sizeof text - 1);
	printf("read of /dev/mqueue/husk-fs: %zd bytes: %s", n, n > 0 ? text : "\n");
	close(fd);

	mq_close(open_q("/husk-fs2", O_CREAT | O_RDWR, 10, 64));
	DIR *d = opendir("/dev/mqueue");
	char *list[16];
	int count = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && count < 16)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			list[count++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(list, count, sizeof list[0], by_name);
	printf("ls /dev/mqueue:");
	for (int i = 0; i < count; i++)
		printf(" %s", list[i]);
	printf("\n");

	report("unlink /dev/mqueue/husk-fs", unlink("/dev/mqueue/husk-fs"));
	report("then mq_open /husk-fs", mq_open("/husk-fs", O_RDWR));
	recv_print("the open descriptor still works", q, 64);
	mq_close(q);
	report("mkdir /dev/mqueue/dir", mkdir("/dev/mqueue/dir", 0755));

	/* open(2) with O_CREAT in the filesystem makes a queue. */
	fd = open("/dev/mqueue/husk-fs3", O_CREAT | O_EXCL | O_RDWR, 0600);
	report("open O_CREAT /dev/mqueue/husk-fs3", fd);
	print_attr("mq_getattr of it", fd);
	close(fd);
	report("mq_unlink /husk-fs2", mq_unlink("/husk-fs2"));
	report("mq_unlink /husk-fs3", mq_unlink("/husk-fs3"));
	printf("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "fs") == 0)
		return fs_mode();
	remove_at_exit(unlink_name);
	opening();
	messages();
	blocking();
	notify();
	notify_and_close();
	unlinking();
	printf("done\n");
	return 0;
}
