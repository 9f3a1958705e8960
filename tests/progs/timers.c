/* timerfd (one-shot, interval with overruns, absolute times, disarming,
 * gettime, epoll, errors), ITIMER_REAL through setitimer, getitimer and
 * alarm (SIGALRM, intervals, alarm's rounding, a fork child's timers), and
 * POSIX timers (SIGEV_SIGNAL with its value, SIGEV_THREAD_ID, SIGEV_NONE,
 * overruns, absolute times, delete, errors).
 * Times are checked as ranges, generous for a loaded machine. Each check
 * prints "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/timerfd.h>

static uint64_t ticks(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, 8) != 8)
		return 0;
	return n;
}

static struct itimerspec its(long value_ms, long interval_ms)
{
	struct itimerspec s = { { interval_ms / 1000, (interval_ms % 1000) * 1000000L },
				{ value_ms / 1000, (value_ms % 1000) * 1000000L } };
	return s;
}

static volatile int alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void timerfd_cases(void)
{
	report("timerfd_create: clock 99", timerfd_create(99, 0));
	report("timerfd_create: unknown flags", timerfd_create(CLOCK_MONOTONIC, 0x10));
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	CHECK("timerfd: TFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	uint64_t n;
	report("timerfd: read before it fires", read(fd, &n, 8));
	report("timerfd: read into 4 bytes", read(fd, &n, 4));
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("timerfd: fd link %s\n", link);

	/* One-shot, blocking read. */
	fcntl(fd, F_SETFL, 0);
	struct itimerspec s = its(50, 0), cur;
	long t0 = now_ms();
	timerfd_settime(fd, 0, &s, NULL);
	n = ticks(fd);
	long took = now_ms() - t0;
	CHECK("timerfd: one-shot fires once", n == 1);
	CHECK("timerfd: after about 50 ms", took >= 45 && took < 2000);
	timerfd_gettime(fd, &cur);
	CHECK("timerfd: then disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

	/* An interval timer counts every expiry, overruns included. */
	s = its(10, 10);
	timerfd_settime(fd, 0, &s, NULL);
	sleep_ms(105);
	n = ticks(fd);
	CHECK("timerfd: 10 ms interval, ~10 ticks in 105 ms", n >= 7 && n <= 11);
	timerfd_gettime(fd, &cur);
	CHECK("timerfd: gettime shows the interval", cur.it_interval.tv_nsec == 10000000 && cur.it_value.tv_nsec <= 10000000);
	struct itimerspec old;
	s = its(0, 0);
	timerfd_settime(fd, 0, &s, &old);
	CHECK("timerfd: disarming returns the old interval", old.it_interval.tv_nsec == 10000000);
	timerfd_gettime(fd, &cur);
	CHECK("timerfd: disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0 && cur.it_interval.tv_nsec == 0);

	/* Absolute times, in the future and in the past. */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s = its(0, 0);
	s.it_value = now;
	s.it_value.tv_nsec += 30000000;
	if (s.it_value.tv_nsec >= 1000000000) {
		s.it_value.tv_sec++;
		s.it_value.tv_nsec -= 1000000000;
	}
	t0 = now_ms();
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &s, NULL);
	n = ticks(fd);
	took = now_ms() - t0;
	CHECK("timerfd: an absolute time 30 ms ahead", n == 1 && took >= 20);
	s = its(0, 0);
	s.it_value.tv_sec = 1;
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &s, NULL);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	sleep_ms(5);
	CHECK("timerfd: an absolute time in the past fires at once", ticks(fd) == 1);
	s = its(1000, 0);
	timerfd_settime(fd, 0, &s, NULL);
	timerfd_gettime(fd, &cur);
	CHECK("timerfd: gettime counts down", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 500000000);
	s = its(0, 0);
	s.it_value.tv_nsec = 1000000000;
	report("timerfd_settime: tv_nsec of a second", timerfd_settime(fd, 0, &s, NULL));
	report("timerfd_settime: unknown flags", timerfd_settime(fd, 4, &s, NULL));
	int p[2];
	pipe(p);
	s = its(10, 0);
	report("timerfd_settime: a pipe", timerfd_settime(p[0], 0, &s, NULL));
	report("timerfd_settime: a bad fd", timerfd_settime(999, 0, &s, NULL));
	report("timerfd_gettime: a pipe", timerfd_gettime(p[0], &cur));
	close(p[0]);
	close(p[1]);

	/* epoll wakes for it. */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
	s = its(20, 0);
	timerfd_settime(fd, 0, &s, NULL);
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	struct epoll_event out;
	int got = epoll_wait(ep, &out, 1, 5000);
	CHECK("timerfd: epoll reports it", got == 1 && out.data.u64 == 42 && out.events == EPOLLIN);
	CHECK("timerfd: and the read clears it", ticks(fd) == 1 && epoll_wait(ep, &out, 1, 0) == 0);
	close(ep);
	close(fd);
}

static void itimer_cases(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	printf("alarm(5) first: %u\n", alarm(5));
	printf("alarm(0) then: %u\n", alarm(0));
	struct itimerval v = { { 0, 0 }, { 0, 50000 } }, cur;
	setitimer(ITIMER_REAL, &v, NULL);
	getitimer(ITIMER_REAL, &cur);
	CHECK("getitimer: counting down", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 50000);
	long t0 = now_ms();
	while (alarms == 0 && now_ms() - t0 < 5000)
		pause();
	CHECK("setitimer: SIGALRM after about 50 ms", alarms == 1 && now_ms() - t0 >= 40);
	alarms = 0;
	struct itimerval iv = { { 0, 20000 }, { 0, 20000 } };
	setitimer(ITIMER_REAL, &iv, NULL);
	sleep_ms(110);
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, old;
	setitimer(ITIMER_REAL, &off, &old);
	CHECK("setitimer: a 20 ms interval, ~5 alarms in 110 ms", alarms >= 3 && alarms <= 6);
	CHECK("setitimer: the old value has the interval", old.it_interval.tv_usec == 20000);
	struct itimerval bad = { { 0, 0 }, { 0, 1000000 } };
	report("setitimer: tv_usec of a second", setitimer(ITIMER_REAL, &bad, NULL));
	report("setitimer: which 7", setitimer(7, &off, NULL));
	report("getitimer: which 7", getitimer(7, &cur));

	/* A fork child starts with no timers. */
	alarm(30);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(alarm(0) == 0 ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	printf("fork child's alarm: %s\n", status_str(st));
	unsigned left = alarm(0);
	CHECK("the parent's alarm is still set", left >= 29 && left <= 30);
}

static volatile int rt_hits, rt_value, rt_code, rt_tid_ok;
static void on_rt(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	rt_hits++;
	rt_value = si->si_value.sival_int;
	rt_code = si->si_code;
	rt_tid_ok = syscall(SYS_gettid) == getpid();
}

static void posix_timer_cases(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 1;
	sev.sigev_value.sival_int = 1234;
	timer_t id;
	report("timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL)", syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id));
	struct itimerspec s = its(30, 0), cur;
	long t0 = now_ms();
	syscall(SYS_timer_settime, id, 0, &s, NULL);
	while (rt_hits == 0 && now_ms() - t0 < 5000)
		pause();
	CHECK("timer: the signal, with SI_TIMER and the value", rt_hits == 1 && rt_code == SI_TIMER && rt_value == 1234);
	CHECK("timer: after about 30 ms", now_ms() - t0 >= 25);
	syscall(SYS_timer_gettime, id, &cur);
	CHECK("timer: then disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	/* An interval timer whose signal is blocked overruns. */
	sigset_t rt, old;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &rt, &old);
	rt_hits = 0;
	s = its(10, 10);
	syscall(SYS_timer_settime, id, 0, &s, NULL);
	sleep_ms(100);
	s = its(0, 0);
	syscall(SYS_timer_settime, id, 0, &s, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("timer: a blocked interval timer delivered %d signal(s)\n", rt_hits);
	report("timer_delete", syscall(SYS_timer_delete, id));
	report("timer_delete again", syscall(SYS_timer_delete, id));
	report("timer_settime on a deleted timer", syscall(SYS_timer_settime, id, 0, &s, NULL));
	report("timer_getoverrun on a deleted timer", syscall(SYS_timer_getoverrun, id));

	/* SIGEV_NONE: nothing is sent; gettime shows it counting down. */
	sev.sigev_notify = SIGEV_NONE;
	syscall(SYS_timer_create, CLOCK_REALTIME, &sev, &id);
	s = its(5000, 0);
	syscall(SYS_timer_settime, id, 0, &s, NULL);
	syscall(SYS_timer_gettime, id, &cur);
	CHECK("SIGEV_NONE: gettime counts down", cur.it_value.tv_sec == 4 || cur.it_value.tv_sec == 5);
	syscall(SYS_timer_delete, id);

	/* SIGEV_THREAD_ID to the main thread, with an absolute time. */
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev._sigev_un._tid = syscall(SYS_gettid);
	sev.sigev_value.sival_int = 77;
	rt_hits = 0;
	syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s = its(0, 0);
	s.it_value = now;
	s.it_value.tv_nsec += 20000000;
	if (s.it_value.tv_nsec >= 1000000000) {
		s.it_value.tv_sec++;
		s.it_value.tv_nsec -= 1000000000;
	}
	syscall(SYS_timer_settime, id, TIMER_ABSTIME, &s, NULL);
	t0 = now_ms();
	while (rt_hits == 0 && now_ms() - t0 < 5000)
		pause();
	CHECK("SIGEV_THREAD_ID: to that thread, absolute time", rt_hits == 1 && rt_value == 77 && rt_tid_ok);
	syscall(SYS_timer_delete, id);

	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = 0;
	report("timer_create: signal 0", syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id));
	sev.sigev_notify = 99;
	report("timer_create: notify 99", syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN + 1;
	sev._sigev_un._tid = 999999;
	report("timer_create: a thread of another process", syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id));
	report("timer_create: clock 99", syscall(SYS_timer_create, 99, NULL, &id));
	report("timer_create: a NULL sigevent", syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &id));
	syscall(SYS_timer_delete, id);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	timerfd_cases();
	itimer_cases();
	posix_timer_cases();
	printf("done\n");
	return 0;
}
