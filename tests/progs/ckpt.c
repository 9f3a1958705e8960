/* A process tree whose state spans the Sentry's kernel objects, for the
 * checkpoint tests (tests/checkpoint.rs): it sets everything up, prints
 * "ready", and waits for SIGUSR1; a checkpoint and a restore come in
 * between under Husk. Then it checks that everything survived and says
 * so. Natively the same runs with no checkpoint, for the comparison.
 *
 * Covered: heap memory, a shared anonymous page, a pipe holding data, a
 * file of the root read part way, the working directory, a blocked and
 * pending signal, a handler, a child blocked in read, a child asleep in
 * nanosleep (a restart block), a zombie, a thread waiting on a condition
 * variable (a futex), an SSE register kept across the wait, and files in
 * a tmpfs (/tmp): a directory, a file open at an offset, a hard link, a
 * symlink, and a file of several pages; an eventfd, a timerfd, a
 * signalfd and an epoll set watching two of them; an interval timer
 * (ITIMER_REAL) and a POSIX timer, both periodic, with handlers; Unix
 * socket pairs holding data (a stream, each way, and datagrams). */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static volatile sig_atomic_t alarms, rt_ticks;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_rt(int sig)
{
	(void)sig;
	rt_ticks++;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released;

static void *worker(void *arg)
{
	double acc = *(double *)arg;
	pthread_mutex_lock(&mu);
	while (!released)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	acc = acc * 3.0 + 0.5;
	return (void *)(intptr_t)acc;
}

/* pause(2), with `v` in xmm7 across it; returns what xmm7 then holds. A
 * signal handler may clobber xmm7, but sigreturn gives it back. */
static uint64_t pause_keeping_xmm7(uint64_t v)
{
	uint64_t out;
	long ret;
	__asm__ volatile("movq %[v], %%xmm7\n\t"
			 "mov $34, %%eax\n\t"
			 "syscall\n\t"
			 "movq %%xmm7, %[o]\n\t"
			 : "=&a"(ret), [o] "=r"(out)
			 : [v] "r"(v)
			 : "rcx", "r11", "xmm7", "memory");
	(void)ret;
	return out;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

int main(void)
{
	size_t n = 8 << 20;
	unsigned char *heap = malloc(n);
	for (size_t i = 0; i < n; i++)
		heap[i] = pattern(i);
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	*shared = 41;

	int p[2];
	if (pipe(p) != 0 || write(p[1], "buffered in the pipe", 20) != 20)
		return 10;
	int fd = open("/data.txt", O_RDONLY);
	char first[4] = { 0 };
	if (fd < 0 || read(fd, first, 3) != 3)
		return 11;
	if (chdir("/bin") != 0)
		return 12;

	mkdir("/tmp/d", 0750);
	int tf = open("/tmp/d/f", O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (tf < 0 || write(tf, "tmpfs data kept", 15) != 15 || lseek(tf, 6, SEEK_SET) != 6)
		return 15;
	unlink("/tmp/d/g");
	unlink("/tmp/s");
	link("/tmp/d/f", "/tmp/d/g");
	symlink("d/f", "/tmp/s");
	size_t big_len = 3 * 4096 + 100;
	int bf = open("/tmp/big", O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (size_t i = 0; i < big_len; i++) {
		unsigned char b = pattern(i * 13);
		if (write(bf, &b, 1) != 1)
			return 16;
	}
	close(bf);

	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, NULL);
	raise(SIGUSR2);

	int efd = eventfd(5, EFD_NONBLOCK);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct itimerspec its = { .it_interval = { 0, 10000000 }, .it_value = { 0, 10000000 } };
	int sfd = signalfd(-1, &usr2, SFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
	if (efd < 0 || tfd < 0 || sfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0
	    || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0)
		return 17;
	ev.data.u64 = 88;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0)
		return 18;

	int us[2], ud[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, us) != 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, ud) != 0)
		return 20;
	if (write(us[0], "to one", 6) != 6 || write(us[1], "back to zero", 12) != 12
	    || send(ud[0], "first", 5, 0) != 5 || send(ud[0], "second!", 7, 0) != 7)
		return 21;

	int c[2];
	if (pipe(c) != 0)
		return 13;
	pid_t reader = fork();
	if (reader == 0) {
		char x = 0;
		while (read(c[0], &x, 1) == -1 && errno == EINTR)
			;
		*shared += 1;
		_exit(x == 'k' ? 7 : 1);
	}
	pid_t sleeper = fork();
	if (sleeper == 0) {
		sleep_ms(1500);
		_exit(5);
	}
	pid_t zombie = fork();
	if (zombie == 0)
		_exit(3);
	siginfo_t si;
	waitid(P_PID, zombie, &si, WEXITED | WNOWAIT);

	/* The thread blocks every signal: SIGUSR1 is the main thread's to
	 * take (a process-directed signal goes to any thread not blocking it). */
	double seed = 13.25;
	pthread_t th;
	sigset_t all, mine;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &mine);
	pthread_create(&th, NULL, worker, &seed);
	pthread_sigmask(SIG_SETMASK, &mine, NULL);

	/* Both timers tick every 20 ms; the handlers restart what they
	 * interrupt. */
	struct sigaction ta = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &ta, NULL);
	ta.sa_handler = on_rt;
	sigaction(SIGRTMIN, &ta, NULL);
	struct itimerval iv = { { 0, 20000 }, { 0, 20000 } };
	timer_t ptimer;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	struct itimerspec pts = { { 0, 20000000 }, { 0, 20000000 } };
	if (setitimer(ITIMER_REAL, &iv, NULL) != 0 || timer_create(CLOCK_MONOTONIC, &sev, &ptimer) != 0
	    || timer_settime(ptimer, 0, &pts, NULL) != 0)
		return 19;

	/* Process and thread attributes a checkpoint keeps, and a locked
	 * page. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 || prctl(PR_SET_TIMERSLACK, 70000) != 0 ||
	    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
		return 20;
	if (syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 3) != 0)
		return 22;
	char *locked_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (locked_page == MAP_FAILED || mlock(locked_page, 4096) != 0)
		return 21;

	printf("ready\n");
	fflush(stdout);
	const uint64_t kept = 0x1122334455667788ull;
	uint64_t xmm = kept;
	while (!go)
		xmm = pause_keeping_xmm7(kept);

	CHECK("sse register", xmm == kept);
	int subreaper = 0;
	CHECK("still a child subreaper", prctl(PR_GET_CHILD_SUBREAPER, &subreaper) == 0 && subreaper == 1);
	CHECK("timer slack kept", prctl(PR_GET_TIMERSLACK) == 70000);
	CHECK("THP still disabled", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1);
	CHECK("the I/O priority kept", syscall(SYS_ioprio_get, 1, 0) == ((2 << 13) | 3));
	CHECK("the page still locked", madvise(locked_page, 4096, MADV_DONTNEED) == -1 && errno == EINVAL);
	/* The timers go on ticking after the restore. */
	alarms = 0;
	rt_ticks = 0;
	sleep_ms(200);
	struct itimerspec pnow;
	struct itimerval inow;
	CHECK("itimer ticks", alarms > 0 && getitimer(ITIMER_REAL, &inow) == 0 && inow.it_interval.tv_usec == 20000);
	CHECK("posix timer ticks",
	      rt_ticks > 0 && timer_gettime(ptimer, &pnow) == 0 && pnow.it_interval.tv_nsec == 20000000);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	timer_delete(ptimer);
	struct epoll_event got[4];
	int ready = epoll_wait(ep, got, 4, 1000);
	uint64_t tags = 0;
	for (int i = 0; i < ready; i++)
		tags += got[i].data.u64;
	printf("epoll: %d ready, tags %llu\n", ready, (unsigned long long)tags);
	uint64_t count = 0;
	CHECK("eventfd", read(efd, &count, 8) == 8 && count == 5);
	uint64_t ticks = 0;
	CHECK("timerfd", read(tfd, &ticks, 8) == 8 && ticks >= 1);
	struct itimerspec now;
	CHECK("timerfd interval", timerfd_gettime(tfd, &now) == 0 && now.it_interval.tv_nsec == 10000000);
	int good = 1;
	for (size_t i = 0; i < n; i++)
		if (heap[i] != pattern(i))
			good = 0;
	CHECK("heap", good);
	char buf[64] = { 0 };
	ssize_t r = read(p[0], buf, sizeof buf);
	CHECK("pipe data", r == 20 && memcmp(buf, "buffered in the pipe", 20) == 0);
	char next[4] = { 0 };
	CHECK("file offset", read(fd, next, 3) == 3 && strcmp(first, "012") == 0 && strcmp(next, "345") == 0);
	char sbuf[32] = { 0 };
	CHECK("unix stream", read(us[1], sbuf, sizeof sbuf) == 6 && memcmp(sbuf, "to one", 6) == 0);
	CHECK("unix stream back", read(us[0], sbuf, sizeof sbuf) == 12 && memcmp(sbuf, "back to zero", 12) == 0);
	ssize_t d1 = recv(ud[1], sbuf, sizeof sbuf, 0);
	ssize_t d2 = recv(ud[1], sbuf + 8, sizeof sbuf - 8, 0);
	CHECK("unix datagrams", d1 == 5 && d2 == 7 && memcmp(sbuf, "first", 5) == 0 && memcmp(sbuf + 8, "second!", 7) == 0);
	char word[5] = { 0 };
	CHECK("tmpfs file and offset", read(tf, word, 4) == 4 && strcmp(word, "data") == 0);
	struct stat ts;
	CHECK("tmpfs hard link", stat("/tmp/d/g", &ts) == 0 && ts.st_nlink == 2 && (ts.st_mode & 07777) == 0640);
	CHECK("tmpfs directory", stat("/tmp/d", &ts) == 0 && S_ISDIR(ts.st_mode) && (ts.st_mode & 07777) == 0750);
	char link_text[16] = { 0 };
	CHECK("tmpfs symlink", readlink("/tmp/s", link_text, sizeof link_text) == 3 && strcmp(link_text, "d/f") == 0);
	bf = open("/tmp/big", O_RDONLY);
	int big_good = bf >= 0 && lseek(bf, 0, SEEK_END) == (off_t)big_len && lseek(bf, 0, SEEK_SET) == 0;
	for (size_t i = 0; big_good && i < big_len; i++) {
		unsigned char b;
		big_good = read(bf, &b, 1) == 1 && b == pattern(i * 13);
	}
	CHECK("tmpfs pages", big_good);
	unlink("/tmp/big");
	unlink("/tmp/s");
	unlink("/tmp/d/g");
	unlink("/tmp/d/f");
	rmdir("/tmp/d");
	char cwd[64] = { 0 };
	printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
	sigset_t pend;
	sigpending(&pend);
	CHECK("pending SIGUSR2", sigismember(&pend, SIGUSR2));
	struct signalfd_siginfo ssi;
	CHECK("signalfd", read(sfd, &ssi, sizeof ssi) == sizeof ssi && ssi.ssi_signo == SIGUSR2);
	int st;
	if (write(c[1], "k", 1) != 1)
		return 14;
	waitpid(reader, &st, 0);
	printf("reader: %s\n", status_str(st));
	CHECK("shared memory", *shared == 42);
	waitpid(sleeper, &st, 0);
	printf("sleeper: %s\n", status_str(st));
	waitpid(zombie, &st, 0);
	printf("zombie: %s\n", status_str(st));
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	void *ret;
	pthread_join(th, &ret);
	printf("thread: %ld\n", (long)(intptr_t)ret);
	return 0;
}
