/* eventfd and epoll: counters, semaphore mode, limits and errors; epoll's
 * level- and edge-triggered and one-shot entries, EPOLLOUT, EPOLLHUP and
 * EPOLLERR, the entry's data, entries that outlive a closed fd, nested
 * sets, wake-ups from another thread, signals, and epoll_ctl's and
 * epoll_wait's errors in Linux's order. Each check prints "NAME: ok" or
 * "NAME: bad", or the errno name for the error cases. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

/* Raw syscalls, so that no libc emulation stands in. */
static int efd_new(unsigned init, int flags)
{
	return syscall(SYS_eventfd2, init, flags);
}

static long wait_ms(int ep, struct epoll_event *ev, int max, int ms)
{
	return syscall(SYS_epoll_wait, ep, ev, max, ms);
}

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, 8) != 8)
		return (uint64_t)-1;
	return v;
}

static int efd_write(int fd, uint64_t v)
{
	return write(fd, &v, 8) == 8 ? 0 : -1;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* One wait with timeout 0: the count, and the first event in *ev. */
static long peek(int ep, struct epoll_event *ev)
{
	return wait_ms(ep, ev, 8, 0);
}

static void eventfd_cases(void)
{
	int fd = efd_new(3, EFD_NONBLOCK);
	CHECK("eventfd: read takes the count", efd_read(fd) == 3);
	uint64_t v;
	report("eventfd: read at 0 (nonblocking)", read(fd, &v, 8));
	efd_write(fd, 5);
	efd_write(fd, 7);
	CHECK("eventfd: writes add up", efd_read(fd) == 12);
	report("eventfd: read into 4 bytes", read(fd, &v, 4));
	report("eventfd: write of 4 bytes", write(fd, &v, 4));
	v = UINT64_MAX;
	report("eventfd: write of UINT64_MAX", write(fd, &v, 8));
	efd_write(fd, UINT64_MAX - 1);
	v = 1;
	report("eventfd: write past the maximum (nonblocking)", write(fd, &v, 8));
	CHECK("eventfd: the maximum is UINT64_MAX - 1", efd_read(fd) == UINT64_MAX - 1);
	report("eventfd: lseek", lseek(fd, 0, SEEK_SET));
	report("eventfd: pread", pread(fd, &v, 8, 0));
	struct stat st;
	fstat(fd, &st);
	printf("eventfd: fstat mode %o\n", st.st_mode);
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("eventfd: fd link %s\n", link);
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	poll(&p, 1, 0);
	printf("eventfd: poll at 0: %#x\n", p.revents);
	efd_write(fd, 1);
	poll(&p, 1, 0);
	printf("eventfd: poll at 1: %#x\n", p.revents);
	close(fd);

	fd = efd_new(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	CHECK("eventfd: semaphore reads 1", efd_read(fd) == 1);
	CHECK("eventfd: semaphore reads 1 again", efd_read(fd) == 1);
	report("eventfd: semaphore at 0", read(fd, &v, 8));
	close(fd);

	report("eventfd2: unknown flag", efd_new(0, 0x10));
	fd = efd_new(0, EFD_CLOEXEC);
	CHECK("eventfd2: EFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK("eventfd: flags are O_RDWR", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	close(fd);
#ifdef SYS_eventfd
	fd = syscall(SYS_eventfd, 4);
	CHECK("eventfd (old): starts at its value", efd_read(fd) == 4);
	close(fd);
#endif
	/* A fork child's write reaches the parent. */
	fd = efd_new(0, 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		efd_write(fd, 9);
		_exit(0);
	}
	CHECK("eventfd: a blocking read gets the child's write", efd_read(fd) == 9);
	waitpid(pid, NULL, 0);
	close(fd);
}

static int thread_fd;

static void *write_later(void *arg)
{
	(void)arg;
	sleep_ms(100);
	efd_write(thread_fd, 1);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void epoll_errors(void)
{
	report("epoll_create(0)", syscall(SYS_epoll_create, 0));
	report("epoll_create1(1)", epoll_create1(1));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK("epoll_create1: EPOLL_CLOEXEC", fcntl(ep, F_GETFD) == FD_CLOEXEC);
	int reg = open("/progs/epoll", O_RDONLY);
	int efd = efd_new(0, EFD_NONBLOCK);
	int pfd[2];
	pipe(pfd);
	struct epoll_event ev = { .events = EPOLLIN };
	report("epoll_ctl: a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
	report("epoll_ctl: the set itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
	report("epoll_ctl: a set that is not one", epoll_ctl(efd, EPOLL_CTL_ADD, pfd[0], &ev));
	report("epoll_ctl: a bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
	report("epoll_ctl: a bad set fd", epoll_ctl(999, EPOLL_CTL_ADD, efd, &ev));
	report("epoll_ctl: MOD of a file not in the set", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
	report("epoll_ctl: DEL of a file not in the set", epoll_ctl(ep, EPOLL_CTL_DEL, efd, &ev));
	report("epoll_ctl: ADD", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	report("epoll_ctl: ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	report("epoll_ctl: an unknown op", epoll_ctl(ep, 99, efd, &ev));
	report("epoll_ctl: a bad event pointer", epoll_ctl(ep, EPOLL_CTL_MOD, efd, (void *)8));
	report("epoll_ctl: DEL with a NULL event", epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	report("epoll_ctl: ADD with EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	report("epoll_ctl: MOD with EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
	ev.events = EPOLLIN;
	report("epoll_ctl: MOD of an EPOLLEXCLUSIVE entry", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	report("epoll_ctl: EPOLLEXCLUSIVE with EPOLLONESHOT", epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev));
	int inner = epoll_create1(0);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	report("epoll_ctl: EPOLLEXCLUSIVE on a set", epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev));
	struct epoll_event out[4];
	report("epoll_wait: maxevents 0", wait_ms(ep, out, 0, 0));
	report("epoll_wait: on an eventfd", wait_ms(efd, out, 1, 0));
	report("epoll_wait: on a bad fd", wait_ms(999, out, 1, 0));
	efd_write(efd, 1);
	report("epoll_wait: a bad events pointer", wait_ms(ep, (void *)8, 1, 0));
	uint64_t mask = 0;
	report("epoll_pwait: sigsetsize 7", syscall(SYS_epoll_pwait, ep, out, 1, 0, &mask, 7));
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", ep);
	readlink(path, link, sizeof link - 1);
	printf("epoll: fd link %s\n", link);
	close(inner);
	close(ep);
	close(efd);
	close(reg);
	close(pfd[0]);
	close(pfd[1]);
}

static void epoll_triggers(void)
{
	struct epoll_event ev[8];
	int pfd[2];
	pipe(pfd);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	fcntl(pfd[1], F_SETFL, O_NONBLOCK);
	char buf[65536];

	/* Level-triggered. */
	int ep = epoll_create1(0);
	add(ep, pfd[0], EPOLLIN | EPOLLRDHUP, 0x1122334455667788ULL);
	CHECK("level: nothing to read", peek(ep, ev) == 0);
	write(pfd[1], "ab", 2);
	long n = peek(ep, ev);
	CHECK("level: readable", n == 1 && ev[0].events == EPOLLIN && ev[0].data.u64 == 0x1122334455667788ULL);
	CHECK("level: still readable", peek(ep, ev) == 1);
	read(pfd[0], buf, 2);
	CHECK("level: drained", peek(ep, ev) == 0);
	close(ep);

	/* Edge-triggered: once per write. */
	ep = epoll_create1(0);
	add(ep, pfd[0], EPOLLIN | EPOLLET, 1);
	write(pfd[1], "a", 1);
	CHECK("edge: reported once", peek(ep, ev) == 1 && peek(ep, ev) == 0);
	write(pfd[1], "b", 1);
	CHECK("edge: a new write, reported again", peek(ep, ev) == 1 && peek(ep, ev) == 0);
	read(pfd[0], buf, 1);
	CHECK("edge: a read is no new input", peek(ep, ev) == 0);
	read(pfd[0], buf, 1);
	close(ep);

	/* One-shot. */
	ep = epoll_create1(0);
	add(ep, pfd[0], EPOLLIN | EPOLLONESHOT, 2);
	write(pfd[1], "a", 1);
	CHECK("oneshot: reported", peek(ep, ev) == 1);
	write(pfd[1], "b", 1);
	CHECK("oneshot: then silent", peek(ep, ev) == 0);
	mod(ep, pfd[0], EPOLLIN | EPOLLONESHOT, 3);
	n = peek(ep, ev);
	CHECK("oneshot: MOD re-arms", n == 1 && ev[0].data.u64 == 3);
	read(pfd[0], buf, 2);
	close(ep);

	/* EPOLLOUT on the write end, as the pipe fills and drains. */
	ep = epoll_create1(0);
	add(ep, pfd[1], EPOLLOUT, 4);
	n = peek(ep, ev);
	CHECK("out: writable", n == 1 && ev[0].events == EPOLLOUT);
	while (write(pfd[1], buf, sizeof buf) > 0)
		;
	CHECK("out: full", peek(ep, ev) == 0);
	while (read(pfd[0], buf, sizeof buf) > 0)
		;
	CHECK("out: drained, writable again", peek(ep, ev) == 1);
	close(ep);

	/* HUP for the reader once the writer is gone; ERR for a writer without readers. */
	int p2[2];
	pipe(p2);
	ep = epoll_create1(0);
	add(ep, p2[0], EPOLLIN, 5);
	close(p2[1]);
	n = peek(ep, ev);
	printf("hup: %ld event(s), events %#x\n", n, n > 0 ? ev[0].events : 0);
	close(ep);
	close(p2[0]);
	pipe(p2);
	ep = epoll_create1(0);
	add(ep, p2[1], EPOLLOUT, 6);
	close(p2[0]);
	n = peek(ep, ev);
	printf("err: %ld event(s), events %#x\n", n, n > 0 ? ev[0].events : 0);
	close(ep);
	close(p2[1]);

	/* DEL stops reports. */
	ep = epoll_create1(0);
	add(ep, pfd[0], EPOLLIN, 7);
	write(pfd[1], "a", 1);
	epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL);
	CHECK("del: nothing reported", peek(ep, ev) == 0);
	read(pfd[0], buf, 1);
	close(ep);

	/* An entry lives as long as its open file, not its fd. */
	ep = epoll_create1(0);
	int dup_fd = dup(pfd[0]);
	add(ep, dup_fd, EPOLLIN, 8);
	close(dup_fd);
	write(pfd[1], "a", 1);
	n = peek(ep, ev);
	CHECK("closed fd, file still open: reported", n == 1 && ev[0].data.u64 == 8);
	read(pfd[0], buf, 1);
	int p3[2];
	pipe(p3);
	add(ep, p3[0], EPOLLIN, 9);
	write(p3[1], "a", 1);
	close(p3[0]);
	CHECK("file closed: gone from the set", peek(ep, ev) == 0);
	close(p3[1]);
	close(ep);

	/* maxevents 1 takes turns among level-triggered entries. */
	ep = epoll_create1(0);
	int e[3];
	for (int i = 0; i < 3; i++) {
		e[i] = efd_new(1, 0);
		add(ep, e[i], EPOLLIN, 10 + i);
	}
	printf("turns:");
	for (int i = 0; i < 4; i++) {
		wait_ms(ep, ev, 1, 0);
		printf(" %llu", (unsigned long long)ev[0].data.u64);
	}
	printf("\n");
	CHECK("three ready at once", wait_ms(ep, ev, 8, 0) == 3);
	for (int i = 0; i < 3; i++)
		close(e[i]);
	close(ep);
	close(pfd[0]);
	close(pfd[1]);
}

static void epoll_nesting_and_waking(void)
{
	struct epoll_event ev[4];
	int inner = epoll_create1(0), outer = epoll_create1(0);
	int efd = efd_new(0, EFD_NONBLOCK);
	add(inner, efd, EPOLLIN, 20);
	add(outer, inner, EPOLLIN, 21);
	CHECK("nested: nothing yet", peek(outer, ev) == 0);
	efd_write(efd, 1);
	long n = peek(outer, ev);
	CHECK("nested: the inner set is readable", n == 1 && ev[0].data.u64 == 21 && ev[0].events == EPOLLIN);
	n = peek(inner, ev);
	CHECK("nested: and reports its file", n == 1 && ev[0].data.u64 == 20);
	report("nested: a loop", add(inner, outer, EPOLLIN, 22));
	/* Linux's limit: at most 4 sets nested below a set, counted through
	 * the new link, both below it and above the set it goes in. */
	int chain[7];
	chain[0] = efd_new(0, EFD_NONBLOCK);
	for (int i = 1; i < 7; i++) {
		chain[i] = epoll_create1(0);
		int r = add(chain[i], chain[i - 1], EPOLLIN, (uint64_t)i);
		printf("nested: set %d holding the one below: %s\n", i, r == 0 ? "ok" : errname(errno));
	}
	/* mid sits two sets down (in top, in high): a set with 2 levels of
	 * sets below it is one too many there, one with 1 level fits. */
	int high = epoll_create1(0), top = epoll_create1(0), mid = epoll_create1(0);
	add(high, top, EPOLLIN, 1);
	add(top, mid, EPOLLIN, 2);
	int two = epoll_create1(0), one = epoll_create1(0);
	add(two, chain[2], EPOLLIN, 3);
	add(one, chain[1], EPOLLIN, 4);
	printf("nested: a set 2 levels deep into one 2 levels down: %s\n",
	       add(mid, two, EPOLLIN, 5) == 0 ? "ok" : errname(errno));
	printf("nested: a set 1 level deep into it: %s\n", add(mid, one, EPOLLIN, 6) == 0 ? "ok" : errname(errno));
	close(high), close(top), close(mid), close(two), close(one);
	for (int i = 0; i < 7; i++)
		close(chain[i]);
	struct pollfd p = { .fd = outer, .events = POLLIN };
	CHECK("poll on a set", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
	efd_read(efd);
	CHECK("nested: drained", peek(outer, ev) == 0);
	close(outer);
	close(inner);

	/* Woken by another thread. */
	int ep = epoll_create1(0);
	thread_fd = efd;
	add(ep, efd, EPOLLIN, 23);
	pthread_t th;
	pthread_create(&th, NULL, write_later, NULL);
	n = wait_ms(ep, ev, 4, 5000);
	CHECK("a blocked wait wakes for another thread's write", n == 1 && ev[0].data.u64 == 23);
	pthread_join(th, NULL);
	efd_read(efd);

	/* A timeout, and epoll_pwait2's timespec. */
	CHECK("a 20 ms timeout", wait_ms(ep, ev, 4, 20) == 0);
	struct timespec ts = { 0, 20000000 };
	CHECK("epoll_pwait2: a 20 ms timeout", syscall(SYS_epoll_pwait2, ep, ev, 4, &ts, NULL, 8) == 0);
	efd_write(efd, 1);
	CHECK("epoll_pwait2: no timeout, ready", syscall(SYS_epoll_pwait2, ep, ev, 4, NULL, NULL, 8) == 1);
	efd_read(efd);

	/* A handler ends the wait with EINTR, SA_RESTART or not. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	fflush(stdout);
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		kill(me, SIGALRM);
		_exit(0);
	}
	report("epoll_wait: a handler with SA_RESTART", wait_ms(ep, ev, 4, 5000));
	waitpid(pid, NULL, 0);

	/* epoll_pwait's mask holds a signal off for the wait only. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigset_t during;
	sigemptyset(&during);
	pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		kill(me, SIGALRM);
		_exit(0);
	}
	report("epoll_pwait: a signal let through by its mask", epoll_pwait(ep, ev, 4, 5000, &during));
	waitpid(pid, NULL, 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ep);
	close(efd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	eventfd_cases();
	epoll_errors();
	epoll_triggers();
	epoll_nesting_and_waking();
	printf("done\n");
	return 0;
}
