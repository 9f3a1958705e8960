/* CPU-time clocks and timers: ITIMER_VIRTUAL and ITIMER_PROF (SIGVTALRM
 * and SIGPROF after CPU time is burnt, getitimer counting down with it,
 * intervals, nothing while asleep, not inherited by fork, the errors);
 * CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID (advancing while
 * burning and not while asleep, their resolution), another thread's
 * clock through pthread_getcpuclockid, a child's through
 * clock_getcpuclockid (also as a zombie, and ESRCH once reaped),
 * clock_nanosleep on the process clock; POSIX timers on the CPU clocks
 * (process, thread, another thread's; relative, absolute, interval; not
 * firing while asleep).
 *
 * Only orders and generous thresholds are checked: the machine may be a
 * loaded 2-core VM. Every burn is bounded by 5 s of wall time, so a timer
 * that never fires prints "bad" instead of hanging. Each check prints
 * "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <pthread.h>
#include <sys/time.h>

#define MS 1000000L

static volatile unsigned long sink;

/* A little user-mode work (no syscalls, so ITIMER_VIRTUAL counts it). */
static void spin(void)
{
	for (int i = 0; i < 20000; i++)
		sink += i;
}

/* A CPU clock in nanoseconds, through the syscall (the vDSO has none). */
static long long cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, c, &ts) == -1)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Burns CPU until *count reaches n or 5 s of wall time pass. */
static int burn_until(volatile int *count, int n)
{
	long t0 = now_ms();
	while (*count < n && now_ms() - t0 < 5000)
		spin();
	return *count >= n;
}

/* Burns CPU until clock c has advanced ms milliseconds, or 5 s pass. */
static int burn_cpu(clockid_t c, long ms)
{
	long long start = cpu_ns(c);
	long t0 = now_ms();
	while (cpu_ns(c) - start < ms * MS && now_ms() - t0 < 5000)
		spin();
	return cpu_ns(c) - start >= ms * MS;
}

static volatile int vtalrms, profs;
static void on_vtalrm(int sig)
{
	(void)sig;
	vtalrms++;
}
static void on_prof(int sig)
{
	(void)sig;
	profs++;
}

static struct itimerval itv(long value_ms, long interval_ms)
{
	struct itimerval v = { { interval_ms / 1000, (interval_ms % 1000) * 1000 },
			       { value_ms / 1000, (value_ms % 1000) * 1000 } };
	return v;
}

static long usec(struct timeval tv)
{
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

static void disarm(int which)
{
	struct itimerval off = itv(0, 0);
	setitimer(which, &off, NULL);
}

static void itimers(void)
{
	handle(SIGVTALRM, on_vtalrm, 0);
	handle(SIGPROF, on_prof, 0);

	struct itimerval cur;
	getitimer(ITIMER_VIRTUAL, &cur);
	CHECK("getitimer(ITIMER_VIRTUAL) at start: disarmed", usec(cur.it_value) == 0 && usec(cur.it_interval) == 0);
	struct itimerval v = itv(20, 0);
	long long cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	report("setitimer(ITIMER_VIRTUAL, 20 ms)", setitimer(ITIMER_VIRTUAL, &v, NULL));
	/* Linux adds a tick (TICK_NSEC: 4 ms at HZ=250) to the value. */
	getitimer(ITIMER_VIRTUAL, &cur);
	CHECK("getitimer: 0 < value <= 20 ms + a tick (10 ms at most), no interval",
	      usec(cur.it_value) > 0 && usec(cur.it_value) <= 30000 && usec(cur.it_interval) == 0);
	CHECK("SIGVTALRM while burning CPU", burn_until(&vtalrms, 1));
	CHECK("after at least 10 ms of CPU", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0 >= 10 * MS);
	getitimer(ITIMER_VIRTUAL, &cur);
	CHECK("then disarmed", usec(cur.it_value) == 0);
	printf("SIGVTALRMs: %d\n", vtalrms);

	v = itv(20, 0);
	cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	report("setitimer(ITIMER_PROF, 20 ms)", setitimer(ITIMER_PROF, &v, NULL));
	CHECK("SIGPROF while burning CPU", burn_until(&profs, 1));
	CHECK("after at least 10 ms of CPU", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0 >= 10 * MS);
	printf("SIGPROFs: %d\n", profs);

	/* The value counts down with the CPU time used. */
	v = itv(1000, 0);
	setitimer(ITIMER_VIRTUAL, &v, NULL);
	struct itimerval first, later;
	getitimer(ITIMER_VIRTUAL, &first);
	burn_cpu(CLOCK_PROCESS_CPUTIME_ID, 40);
	getitimer(ITIMER_VIRTUAL, &later);
	CHECK("getitimer(ITIMER_VIRTUAL): decreases while burning",
	      usec(later.it_value) < usec(first.it_value) && usec(first.it_value) <= 1010000 &&
		      usec(later.it_value) > 0);
	disarm(ITIMER_VIRTUAL);

	/* Not while asleep. */
	vtalrms = profs = 0;
	v = itv(10, 0);
	setitimer(ITIMER_VIRTUAL, &v, NULL);
	setitimer(ITIMER_PROF, &v, NULL);
	sleep_ms(300);
	printf("asleep 300 ms with 10 ms ITIMER_VIRTUAL and ITIMER_PROF: %d SIGVTALRM, %d SIGPROF\n", vtalrms, profs);
	getitimer(ITIMER_VIRTUAL, &cur);
	CHECK("ITIMER_VIRTUAL still has more than 5 ms", usec(cur.it_value) > 5000);
	CHECK("and fires once burning", burn_until(&vtalrms, 1) && burn_until(&profs, 1));

	/* Intervals re-arm. */
	profs = 0;
	v = itv(10, 10);
	setitimer(ITIMER_PROF, &v, NULL);
	CHECK("ITIMER_PROF every 10 ms: 3 signals while burning", burn_until(&profs, 3));
	struct itimerval off = itv(0, 0), old;
	setitimer(ITIMER_PROF, &off, &old);
	printf("the old value's interval: %ld us\n", usec(old.it_interval));
	vtalrms = 0;
	v = itv(5, 5);
	setitimer(ITIMER_VIRTUAL, &v, NULL);
	CHECK("ITIMER_VIRTUAL every 5 ms: 3 signals while burning", burn_until(&vtalrms, 3));
	disarm(ITIMER_VIRTUAL);

	/* A fork child starts with neither timer. */
	v = itv(5000, 0);
	setitimer(ITIMER_VIRTUAL, &v, NULL);
	setitimer(ITIMER_PROF, &v, NULL);
	pid_t pid = fork_flushed();
	if (pid == 0) {
		struct itimerval a, b;
		getitimer(ITIMER_VIRTUAL, &a);
		getitimer(ITIMER_PROF, &b);
		_exit(usec(a.it_value) == 0 && usec(b.it_value) == 0 ? 0 : 1);
	}
	printf("a fork child's ITIMER_VIRTUAL and ITIMER_PROF are off: %s\n", status_str(wait_child(pid)));
	getitimer(ITIMER_PROF, &cur);
	CHECK("the parent's are still set", usec(cur.it_value) > 4000000);
	disarm(ITIMER_VIRTUAL);
	disarm(ITIMER_PROF);

	report("setitimer: which 3", setitimer(3, &off, NULL));
	report("getitimer: which 3", getitimer(3, &cur));
	struct itimerval bad = itv(0, 0);
	bad.it_value.tv_usec = 1000000;
	report("setitimer(ITIMER_VIRTUAL): tv_usec of a second", setitimer(ITIMER_VIRTUAL, &bad, NULL));
	bad = itv(0, 0);
	bad.it_interval.tv_usec = -1;
	report("setitimer(ITIMER_PROF): interval tv_usec -1", setitimer(ITIMER_PROF, &bad, NULL));
}

static volatile int burner_stop, burner_done;
static int burner_fd = -1;

/* Burns 50 ms of its own CPU time, says so (on burner_fd too, if set),
 * then idles until told. */
static void *burner(void *arg)
{
	(void)arg;
	burn_cpu(CLOCK_THREAD_CPUTIME_ID, 50);
	burner_done = 1;
	if (burner_fd >= 0)
		write(burner_fd, "x", 1);
	while (!burner_stop)
		sleep_ms(1);
	return NULL;
}

/* Burns until told to stop (at most 5 s), then wakes the main thread. */
static pthread_t main_thread;
static void *burn_then_wake(void *arg)
{
	(void)arg;
	long t0 = now_ms();
	while (!burner_stop && now_ms() - t0 < 5000)
		spin();
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

/* A fork child's work: 50 ms of its CPU time. */
static void burn_50ms(void *arg)
{
	(void)arg;
	burn_cpu(CLOCK_PROCESS_CPUTIME_ID, 50);
}

static void clocks(void)
{
	struct timespec res = { 9, 9 };
	syscall(SYS_clock_getres, CLOCK_PROCESS_CPUTIME_ID, &res);
	printf("clock_getres(CLOCK_PROCESS_CPUTIME_ID): %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
	syscall(SYS_clock_getres, CLOCK_THREAD_CPUTIME_ID, &res);
	printf("clock_getres(CLOCK_THREAD_CPUTIME_ID): %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);

	CHECK("CLOCK_PROCESS_CPUTIME_ID advances 50 ms while burning", burn_cpu(CLOCK_PROCESS_CPUTIME_ID, 50));
	CHECK("CLOCK_THREAD_CPUTIME_ID advances 50 ms while burning", burn_cpu(CLOCK_THREAD_CPUTIME_ID, 50));
	/* The thread's clock first: the process's, read later, is ahead. */
	long long t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	sleep_ms(200);
	long long t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), p1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	CHECK("asleep 200 ms: both advance less than 20 ms", p1 - p0 < 20 * MS && t1 - t0 < 20 * MS);
	CHECK("the process clock is ahead of the thread's", p1 >= t1);

	/* Another thread's clock. Main waits in a read, using no CPU. */
	int done[2];
	pipe(done);
	burner_fd = done[1];
	pthread_t th;
	pthread_create(&th, NULL, burner, NULL);
	clockid_t tc;
	report("pthread_getcpuclockid", pthread_getcpuclockid(th, &tc) == 0 ? 0 : -1);
	char byte;
	read(done[0], &byte, 1);
	long long other = cpu_ns(tc), mine = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	CHECK("the thread's clock, read from main: at least 50 ms", burner_done && other >= 50 * MS);
	CHECK("main's own thread clock did not count it", mine - t1 < 20 * MS);
	CHECK("the process clock counts both", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) >= other + t1);
	burner_stop = 1;
	pthread_join(th, NULL);
	burner_fd = -1;
	close(done[0]);
	close(done[1]);

	/* clock_nanosleep on the process clock: wakes when a burning thread
	 * has used the time (the burner wakes main by a signal after 5 s if
	 * not). On the thread's own clock: EINVAL. */
	handle(SIGUSR1, on_signal, 0);
	burner_stop = 0;
	main_thread = pthread_self();
	pthread_create(&th, NULL, burn_then_wake, NULL);
	long long c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec d = { 0, 30 * MS };
	long r = syscall(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, 0, &d, NULL);
	report("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 30 ms), a thread burning", r);
	CHECK("the process used at least 30 ms meanwhile", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0 >= 30 * MS);
	burner_stop = 1;
	pthread_join(th, NULL);
	report("clock_nanosleep(CLOCK_THREAD_CPUTIME_ID)", syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &d, NULL));

	/* A child's clock, alive, as a zombie, and reaped. */
	clockid_t own;
	report("clock_getcpuclockid(0)", clock_getcpuclockid(0, &own) == 0 ? 0 : -1);
	CHECK("and it reads", cpu_ns(own) > 0);
	int release;
	pid_t pid = fork_held(burn_50ms, NULL, &release);
	clockid_t cc;
	int e = clock_getcpuclockid(pid, &cc);
	printf("clock_getcpuclockid(a child): %s\n", errname(e));
	long long child = cpu_ns(cc);
	CHECK("the child's clock: at least 50 ms", child >= 50 * MS);
	close(release);
	siginfo_t si;
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	CHECK("as a zombie: still reads, at least as much", cpu_ns(cc) >= child);
	wait_child(pid);
	struct timespec ts;
	report("reaped: clock_gettime of its clock", syscall(SYS_clock_gettime, cc, &ts));
	printf("clock_getcpuclockid(the reaped child): %s\n", errname(clock_getcpuclockid(pid, &cc)));

	/* A fork child's process clock starts from zero. */
	pid = fork();
	if (pid == 0)
		_exit(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) < 40 * MS ? 0 : 1);
	printf("a fork child's CPU clock starts near 0: %s\n", status_str(wait_child(pid)));
}

static timer_t make_timer(clockid_t c, int value)
{
	struct sigevent sev = sigev_signal(SIGRTMIN + 2, value);
	timer_t id = 0;
	if (syscall(SYS_timer_create, c, &sev, &id) == -1)
		printf("timer_create: %s\n", errname(errno));
	return id;
}

static void arm(timer_t id, int flags, long long value_ns, long long interval_ns)
{
	struct itimerspec s = { { interval_ns / 1000000000, interval_ns % 1000000000 },
				{ value_ns / 1000000000, value_ns % 1000000000 } };
	syscall(SYS_timer_settime, id, flags, &s, NULL);
}

static long long left_ns(timer_t id)
{
	struct itimerspec cur;
	syscall(SYS_timer_gettime, id, &cur);
	return cur.it_value.tv_sec * 1000000000LL + cur.it_value.tv_nsec;
}

static void posix_timers(void)
{
	handle_info(SIGRTMIN + 2, on_info);

	timer_t t = make_timer(CLOCK_PROCESS_CPUTIME_ID, 5);
	long long cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	arm(t, 0, 30 * MS, 0);
	long long left = left_ns(t);
	CHECK("CLOCK_PROCESS_CPUTIME_ID timer: gettime 0 < left <= 30 ms", left > 0 && left <= 30 * MS);
	CHECK("it fires while burning", burn_until(&info_count, 1));
	CHECK("after at least 25 ms of CPU", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0 >= 25 * MS);
	CHECK("siginfo: SI_TIMER, the value", info_code == SI_TIMER && info_value == 5);
	CHECK("then disarmed", left_ns(t) == 0);

	info_count = 0;
	arm(t, 0, 50 * MS, 0);
	sleep_ms(200);
	printf("asleep 200 ms with a 50 ms process CPU timer: %d signal(s)\n", info_count);
	CHECK("it has more than 30 ms left", left_ns(t) > 30 * MS);
	CHECK("and fires once burning", burn_until(&info_count, 1));

	/* An absolute time on the process clock. */
	info_count = 0;
	arm(t, TIMER_ABSTIME, cpu_ns(CLOCK_PROCESS_CPUTIME_ID) + 20 * MS, 0);
	CHECK("TIMER_ABSTIME 20 ms of CPU ahead: fires", burn_until(&info_count, 1));
	info_count = 0;
	arm(t, TIMER_ABSTIME, 1, 0);
	CHECK("TIMER_ABSTIME in the past: fires at once", burn_until(&info_count, 1));

	info_count = 0;
	arm(t, 0, 10 * MS, 10 * MS);
	CHECK("interval 10 ms: 3 signals while burning", burn_until(&info_count, 3));
	arm(t, 0, 0, 0);
	report("timer_delete", syscall(SYS_timer_delete, t));

	info_count = 0;
	t = make_timer(CLOCK_THREAD_CPUTIME_ID, 6);
	arm(t, 0, 30 * MS, 0);
	CHECK("CLOCK_THREAD_CPUTIME_ID timer: fires while burning", burn_until(&info_count, 1) && info_value == 6);
	syscall(SYS_timer_delete, t);

	/* A timer on another thread's clock fires when that thread burns. */
	burner_stop = burner_done = 0;
	pthread_t th;
	pthread_create(&th, NULL, burner, NULL);
	clockid_t tc;
	pthread_getcpuclockid(th, &tc);
	info_count = 0;
	t = make_timer(tc, 7);
	arm(t, 0, 20 * MS, 0);
	long w0 = now_ms();
	while (info_count == 0 && now_ms() - w0 < 10000)
		sleep_ms(1);
	CHECK("a timer on another thread's clock: fires while it burns", info_count == 1 && info_value == 7);
	burner_stop = 1;
	pthread_join(th, NULL);
	syscall(SYS_timer_delete, t);

	report("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID), tv_nsec 1e9",
	       syscall(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, 0, &(struct timespec){ 0, 1000000000 }, NULL));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	itimers();
	clocks();
	posix_timers();
	printf("done\n");
	return 0;
}
