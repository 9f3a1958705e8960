/* The edges of timers, signals to threads and waits that LTP found:
 * timer_create on CLOCK_TAI and on an alarm clock (EOPNOTSUPP without a
 * real-time clock device), timerfd_create on an alarm clock without
 * CAP_WAKE_ALARM (EPERM), timer_settime without a new value (EINVAL), an
 * absolute first expiry long past counting the intervals missed (the
 * overrun count capped at INT_MAX; a timerfd's read counting them),
 * rt_sigqueueinfo and kill to a thread's id (its process gets it),
 * rt_tgsigqueueinfo to a thread and its errors, RLIMIT_SIGPENDING for
 * tgkill and tkill (EAGAIN), timeouts and timer values of i64::MAX
 * seconds (ppoll, pselect, epoll_pwait2, futex, sigtimedwait, timerfd,
 * timer_settime), waitpid(INT_MIN) (ESRCH),
 * and /proc/sys/kernel/tainted and core_pattern. */
#include "common.h"

#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdint.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/timerfd.h>

#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

static long sys_timer_create(clockid_t clock, struct sigevent *ev, int *id)
{
	return syscall(SYS_timer_create, clock, ev, id);
}

static long sys_timer_settime(int id, int flags, const struct itimerspec *new, struct itimerspec *old)
{
	return syscall(SYS_timer_settime, id, flags, new, old);
}

/* Drops CAP_WAKE_ALARM from the effective set (root natively has it; the
 * sandbox's root may not). */
static void drop_wake_alarm(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return;
	d[CAP_WAKE_ALARM / 32].effective &= ~(1u << (CAP_WAKE_ALARM % 32));
	syscall(SYS_capset, &h, d);
}

static void test_timer_clocks(void)
{
	int id;
	struct sigevent ev = { .sigev_notify = SIGEV_NONE };
	report("timer_create(CLOCK_TAI)", sys_timer_create(CLOCK_TAI, &ev, &id));
	/* With a real-time clock device Linux makes it; without, as in the
	 * sandbox, it says EOPNOTSUPP. */
	long r = sys_timer_create(CLOCK_REALTIME_ALARM, &ev, &id);
	printf("timer_create(CLOCK_REALTIME_ALARM): %s\n", r == 0 || errno == EOPNOTSUPP ? "ok or EOPNOTSUPP" : errname(errno));
	report("timer_create(CLOCK_BOOTTIME_ALARM, a bad sigevent)", sys_timer_create(CLOCK_BOOTTIME_ALARM, (void *)-1, &id));
	report("timer_create(clock 10, a bad sigevent)", sys_timer_create(10, (void *)-1, &id));
	report("timer_create(clock 10)", sys_timer_create(10, &ev, &id));
	drop_wake_alarm();
	report("timerfd_create(CLOCK_REALTIME_ALARM) without CAP_WAKE_ALARM", timerfd_create(CLOCK_REALTIME_ALARM, 0));
	report("timerfd_create(CLOCK_BOOTTIME_ALARM) without CAP_WAKE_ALARM", timerfd_create(CLOCK_BOOTTIME_ALARM, 0));
	report("timerfd_create(CLOCK_TAI)", timerfd_create(CLOCK_TAI, 0));

	if (sys_timer_create(CLOCK_MONOTONIC, &ev, &id) != 0)
		return;
	struct itimerspec old;
	report("timer_settime, no new value", sys_timer_settime(id, 0, NULL, &old));
	struct itimerspec bad = { { 0, 0 }, { 1, -1 } };
	report("timer_settime, a negative tv_nsec", sys_timer_settime(id, 0, &bad, NULL));
	report("timer_settime, a bad new value", sys_timer_settime(id, 0, (void *)-1, NULL));
	report("timer_settime, no new value and a bad timer", sys_timer_settime(-1, 0, NULL, NULL));
	syscall(SYS_timer_delete, id);
}

static volatile int overrun = -2;
static int overrun_timer;

static void on_usr1(int sig)
{
	(void)sig;
	if (overrun != -2)
		return;
	overrun = syscall(SYS_timer_getoverrun, overrun_timer);
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	sys_timer_settime(overrun_timer, 0, &off, NULL);
}

/* An absolute first expiry 3 s past with a 1 ns interval: three billion
 * intervals missed, more than an int holds (CVE-2018-12896's test). */
static void test_overrun_cap(void)
{
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
	signal(SIGUSR1, on_usr1);
	if (sys_timer_create(CLOCK_REALTIME, &ev, &overrun_timer) != 0)
		return;
	struct itimerspec s = { { 0, 1 }, { 0, 0 } };
	clock_gettime(CLOCK_REALTIME, &s.it_value);
	s.it_value.tv_sec -= 3;
	report("timer_settime, absolute 3 s ago, a 1 ns interval", sys_timer_settime(overrun_timer, TIMER_ABSTIME, &s, NULL));
	while (overrun == -2)
		;
	printf("its overrun count: %s\n", overrun == INT_MAX ? "INT_MAX" : overrun < 0 ? "negative" : "less");
	syscall(SYS_timer_delete, overrun_timer);
}

/* A timerfd whose absolute first expiry was 100 ms ago, every 10 ms: its
 * first read counts the intervals missed. */
static void test_timerfd_missed(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec s = { { 0, 10000000 }, { 0, 0 } };
	clock_gettime(CLOCK_MONOTONIC, &s.it_value);
	if (s.it_value.tv_sec < 1)
		return;
	s.it_value.tv_nsec -= 100000000;
	if (s.it_value.tv_nsec < 0) {
		s.it_value.tv_nsec += 1000000000;
		s.it_value.tv_sec -= 1;
	}
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &s, NULL);
	uint64_t n = 0;
	if (read(fd, &n, 8) != 8)
		n = 0;
	CHECK("timerfd, absolute 100 ms ago, 10 ms interval: its first read counts 11 or more", n >= 11 && n < 100);
	close(fd);
}

static volatile pid_t got_tid;
static volatile int got_value;
static volatile int thread_ready, thread_done;
static pid_t worker_tid;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	got_tid = syscall(SYS_gettid);
	got_value = si->si_value.sival_int;
}

static void *worker(void *arg)
{
	(void)arg;
	worker_tid = syscall(SYS_gettid);
	thread_ready = 1;
	while (!thread_done)
		usleep(1000);
	return NULL;
}

static siginfo_t queued(int code, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_code = code;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return si;
}

static void wait_value(int value)
{
	for (int i = 0; i < 2000 && got_value != value; i++)
		usleep(1000);
}

static void test_thread_signals(void)
{
	struct sigaction sa = { .sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO };
	sigaction(SIGUSR2, &sa, NULL);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!thread_ready)
		usleep(1000);

	/* To a thread's id: the process gets it, as kill(2) to that id. */
	siginfo_t si = queued(SI_QUEUE, 7);
	report("rt_sigqueueinfo to a thread's id", syscall(SYS_rt_sigqueueinfo, worker_tid, SIGUSR2, &si));
	wait_value(7);
	CHECK("its value delivered", got_value == 7);
	report("kill to a thread's id, signal 0", kill(worker_tid, 0));

	si = queued(SI_QUEUE, 8);
	report("rt_tgsigqueueinfo to the thread",
	       syscall(SYS_rt_tgsigqueueinfo, getpid(), worker_tid, SIGUSR2, &si));
	wait_value(8);
	CHECK("the thread got it, with its value", got_value == 8 && got_tid == worker_tid);
	si = queued(SI_QUEUE, 9);
	report("rt_tgsigqueueinfo to itself", syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGUSR2, &si));
	CHECK("the caller got it at once", got_value == 9 && got_tid == syscall(SYS_gettid));
	si = queued(SI_USER, 10);
	report("rt_tgsigqueueinfo, SI_USER to another thread",
	       syscall(SYS_rt_tgsigqueueinfo, getpid(), worker_tid, SIGUSR2, &si));
	si = queued(SI_QUEUE, 10);
	report("rt_tgsigqueueinfo, tgid 0", syscall(SYS_rt_tgsigqueueinfo, 0, worker_tid, SIGUSR2, &si));
	report("rt_tgsigqueueinfo, tid -1", syscall(SYS_rt_tgsigqueueinfo, getpid(), -1, SIGUSR2, &si));
	report("rt_tgsigqueueinfo, another process's tgid",
	       syscall(SYS_rt_tgsigqueueinfo, getpid() == 1 ? 2 : 1, worker_tid, SIGUSR2, &si));
	report("rt_tgsigqueueinfo, signal 65", syscall(SYS_rt_tgsigqueueinfo, getpid(), worker_tid, 65, &si));
	report("rt_tgsigqueueinfo, a bad siginfo",
	       syscall(SYS_rt_tgsigqueueinfo, getpid(), worker_tid, SIGUSR2, (void *)-1));
	thread_done = 1;
	pthread_join(th, NULL);
}

/* RLIMIT_SIGPENDING 0: a real-time signal by tgkill, tkill or sigqueue
 * is EAGAIN; kill's (SI_USER) is still queued. */
static void test_sigpending_limit(void)
{
	sigset_t rt, old;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, &old);
	struct rlimit saved, zero = { 0, 0 };
	getrlimit(RLIMIT_SIGPENDING, &saved);
	zero.rlim_max = saved.rlim_max;
	setrlimit(RLIMIT_SIGPENDING, &zero);
	pid_t me = syscall(SYS_gettid);
	report("RLIMIT_SIGPENDING 0: tgkill(SIGRTMIN)", syscall(SYS_tgkill, getpid(), me, SIGRTMIN));
	report("RLIMIT_SIGPENDING 0: tkill(SIGRTMIN)", syscall(SYS_tkill, me, SIGRTMIN));
	report("RLIMIT_SIGPENDING 0: tgkill(SIGUSR1)", syscall(SYS_tgkill, getpid(), me, SIGUSR1));
	siginfo_t si = queued(SI_QUEUE, 1);
	report("RLIMIT_SIGPENDING 0: rt_sigqueueinfo(SIGRTMIN)", syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si));
	report("RLIMIT_SIGPENDING 0: kill(SIGRTMIN)", kill(getpid(), SIGRTMIN));
	setrlimit(RLIMIT_SIGPENDING, &saved);
	struct timespec zero_ts = { 0, 0 };
	int n = 0;
	while (sigtimedwait(&rt, NULL, &zero_ts) == SIGRTMIN)
		n++;
	printf("SIGRTMIN queued: %d\n", n);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Timeouts and timer values of i64::MAX seconds: Linux cuts them to its
 * longest time; they must not overflow the kernel's deadline. */
static void test_huge_times(void)
{
	struct timespec forever = { INT64_MAX, 0 };
	int p[2];
	if (pipe(p) != 0)
		return;
	if (write(p[1], "x", 1) != 1)
		return;
	struct pollfd pf = { p[0], POLLIN, 0 };
	printf("ppoll, a ready pipe, i64::MAX s: %d\n", ppoll(&pf, 1, &forever, NULL));
	fd_set rf;
	FD_ZERO(&rf);
	FD_SET(p[0], &rf);
	printf("pselect, the same: %d\n", pselect(p[0] + 1, &rf, NULL, NULL, &forever, NULL));
	int e = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(e, EPOLL_CTL_ADD, p[0], &ev);
	printf("epoll_pwait2, the same: %ld\n", syscall(SYS_epoll_pwait2, e, &ev, 1, &forever, NULL, 8));
	int word = 1;
	report("futex wait, another value, i64::MAX s", syscall(SYS_futex, &word, FUTEX_WAIT, 0, &forever, NULL, 0));
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, NULL);
	raise(SIGUSR2);
	printf("sigtimedwait, SIGUSR2 pending, i64::MAX s: %s\n",
	       sigtimedwait(&usr2, NULL, &forever) == SIGUSR2 ? "SIGUSR2" : errname(errno));
	sigprocmask(SIG_UNBLOCK, &usr2, NULL);
	struct itimerspec far = { { INT64_MAX, 999999999 }, { INT64_MAX, 0 } };
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	report("timerfd_settime, i64::MAX s", timerfd_settime(fd, 0, &far, NULL));
	report("timerfd_settime, absolute i64::MAX s", timerfd_settime(fd, TFD_TIMER_ABSTIME, &far, NULL));
	struct itimerspec got;
	timerfd_gettime(fd, &got);
	CHECK("timerfd_gettime: armed, more than 290 years left", got.it_value.tv_sec > 290L * 365 * 24 * 3600);
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	int id;
	sys_timer_create(CLOCK_MONOTONIC, &none, &id);
	report("timer_settime, i64::MAX s", sys_timer_settime(id, 0, &far, NULL));
	syscall(SYS_timer_delete, id);
	close(fd);
	close(e);
	close(p[0]);
	close(p[1]);
}

static void test_waits(void)
{
	report("waitpid(INT_MIN)", waitpid(INT_MIN, NULL, 0));
	report("waitpid(INT_MIN), bad options", waitpid(INT_MIN, NULL, -1));
	report("waitpid(-1), no children", waitpid(-1, NULL, 0));
}

static void test_sysctls(void)
{
	const char *names[] = { "/proc/sys/kernel/tainted", "/proc/sys/kernel/core_pattern" };
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(names[i], "r");
		char c;
		printf("%s: %s\n", names[i], f && fscanf(f, "%c", &c) == 1 ? "readable" : "missing");
		if (f)
			fclose(f);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_timer_clocks();
	test_overrun_cap();
	test_timerfd_missed();
	test_thread_signals();
	test_sigpending_limit();
	test_huge_times();
	test_waits();
	test_sysctls();
	return 0;
}
