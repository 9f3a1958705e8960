/* futex_waitv(2): the argument checks in Linux's order, the expected
 * values (EAGAIN), absolute timeouts on both clocks, which index a wake
 * returns (the same word twice: the first for a single wake, the last when
 * both are woken), a requeued wait, a shared futex across fork, and a
 * signal (EINTR). */
#include "common.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>

/* The futex2 flags (linux/futex.h defines struct futex_waitv). */
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128

static long waitv(struct futex_waitv *w, unsigned n, unsigned flags, struct timespec *to, int clock)
{
	return syscall(SYS_futex_waitv, w, n, flags, to, clock);
}

static long wake(uint32_t *addr, int n, int private)
{
	return syscall(SYS_futex, addr, FUTEX_WAKE | (private ? FUTEX_PRIVATE_FLAG : 0), n, NULL, NULL, 0);
}

static void result(const char *label, long r)
{
	if (r < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %ld\n", label, r);
}

static uint32_t words[10];
static struct futex_waitv wv[130];

static void fill(int n, uint32_t flags)
{
	for (int i = 0; i < n; i++) {
		wv[i].uaddr = (uintptr_t)&words[i % 10];
		wv[i].val = 0;
		wv[i].flags = flags;
		wv[i].__reserved = 0;
	}
}

/* Wakes `n` waiters of `addr` once some wait there (retrying), and says
 * how many it woke. */
struct waker_arg {
	uint32_t *addr;
	int n;
	long woke;
};

static void *waker(void *p)
{
	struct waker_arg *a = p;
	for (int i = 0; i < 5000 && (a->woke = wake(a->addr, a->n, 1)) == 0; i++)
		usleep(1000);
	return NULL;
}

static void wait_woken_by(const char *label, int n, uint32_t *addr, int count)
{
	struct waker_arg a = { addr, count, 0 };
	pthread_t th;
	pthread_create(&th, NULL, waker, &a);
	struct timespec to = abs_time_in(10000, CLOCK_MONOTONIC);
	long r = waitv(wv, n, 0, &to, CLOCK_MONOTONIC);
	pthread_join(th, NULL);
	printf("%s: returns %ld, the wake woke %ld\n", label, r < 0 ? -errno : r, a.woke);
}

static long requeue_woke;

static void *requeuer(void *p)
{
	uint32_t *b = p;
	/* Once the wait is queued on words[3], move it to b, then wake b. */
	for (int i = 0; i < 5000; i++) {
		long moved = syscall(SYS_futex, &words[3], FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG, 0, 1, b, 0);
		if (moved == 1)
			break;
		usleep(1000);
	}
	requeue_woke = wake(b, 1, 1);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct timespec to = abs_time_in(1000, CLOCK_MONOTONIC);
	uint32_t f = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;

	fill(1, f);
	result("flags 1", waitv(wv, 1, 1, &to, CLOCK_MONOTONIC));
	result("0 futexes", waitv(wv, 0, 0, &to, CLOCK_MONOTONIC));
	fill(129, f);
	result("129 futexes", waitv(wv, 129, 0, &to, CLOCK_MONOTONIC));
	result("NULL waiters", waitv(NULL, 1, 0, &to, CLOCK_MONOTONIC));
	result("CLOCK_TAI", waitv(wv, 1, 0, &to, CLOCK_TAI));
	result("a timeout at a bad address", waitv(wv, 1, 0, (void *)8, CLOCK_MONOTONIC));
	struct timespec bad = { 0, 1000000000L };
	result("a timeout of 1e9 ns", waitv(wv, 1, 0, &bad, CLOCK_MONOTONIC));
	wv[0].flags = FUTEX2_PRIVATE;
	result("an entry without a size", waitv(wv, 1, 0, &to, CLOCK_MONOTONIC));
	result("... and a bad timeout (checked first)", waitv(wv, 1, 0, (void *)8, CLOCK_MONOTONIC));
	wv[0].flags = f | 0x40;
	result("an entry with an unknown flag", waitv(wv, 1, 0, &to, CLOCK_MONOTONIC));
	wv[0].flags = f;
	wv[0].__reserved = 1;
	result("an entry's reserved field set", waitv(wv, 1, 0, &to, CLOCK_MONOTONIC));
	wv[0].__reserved = 0;
	wv[0].val = 1UL << 32;
	result("a value past 32 bits", waitv(wv, 1, 0, &to, CLOCK_MONOTONIC));
	wv[0].val = 0;
	wv[1].uaddr = (uintptr_t)&words[1] + 1;
	result("the second entry unaligned", waitv(wv, 2, 0, &to, CLOCK_MONOTONIC));
	wv[1].uaddr = 0;
	result("the second entry NULL", waitv(wv, 2, 0, &to, CLOCK_MONOTONIC));
	result("entries at a bad address", waitv((void *)8, 1, 0, &to, CLOCK_MONOTONIC));
	fill(3, f);
	wv[2].val = 5;
	result("the third word not as expected", waitv(wv, 3, 0, &to, CLOCK_MONOTONIC));
	result("... with CLOCK_TAI but no timeout", waitv(wv, 3, 0, NULL, CLOCK_TAI));

	fill(4, f);
	struct timespec past = { 1, 0 };
	result("an absolute timeout in the past, CLOCK_MONOTONIC", waitv(wv, 4, 0, &past, CLOCK_MONOTONIC));
	result("an absolute timeout in the past, CLOCK_REALTIME", waitv(wv, 4, 0, &past, CLOCK_REALTIME));
	struct timespec soon = abs_time_in(50, CLOCK_REALTIME);
	result("a 50 ms CLOCK_REALTIME timeout", waitv(wv, 4, 0, &soon, CLOCK_REALTIME));

	fill(10, f);
	wait_woken_by("10 futexes, the sixth woken", 10, &words[5], 1);
	fill(10, f);
	wv[9].uaddr = (uintptr_t)&words[0];
	wait_woken_by("the first word also last, one woken", 10, &words[0], 1);
	wait_woken_by("the first word also last, all woken", 10, &words[0], INT_MAX);

	fill(5, f);
	uint32_t target = 0;
	pthread_t th;
	pthread_create(&th, NULL, requeuer, &target);
	struct timespec ten = abs_time_in(10000, CLOCK_MONOTONIC);
	result("the fourth requeued and woken", waitv(wv, 5, 0, &ten, CLOCK_MONOTONIC));
	pthread_join(th, NULL);
	printf("woken on the requeue target: %ld\n", requeue_woke);

	/* A shared futex: a fork child waits, the parent wakes. */
	uint32_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct futex_waitv sw[2] = { { 0, (uintptr_t)&shared[0], FUTEX2_SIZE_U32, 0 },
					     { 0, (uintptr_t)&shared[1], FUTEX2_SIZE_U32, 0 } };
		struct timespec t10 = abs_time_in(10000, CLOCK_MONOTONIC);
		result("a fork child on shared words, the second woken", waitv(sw, 2, 0, &t10, CLOCK_MONOTONIC));
		_exit(0);
	}
	long woke = 0;
	for (int i = 0; i < 5000 && (woke = wake(&shared[1], 1, 0)) == 0; i++)
		usleep(1000);
	int st;
	waitpid(pid, &st, 0);
	printf("the parent's shared wake woke %ld\n", woke);

	/* A signal with a handler ends the wait. */
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	fill(2, f);
	struct timespec t5 = abs_time_in(5000, CLOCK_MONOTONIC);
	result("a SIGALRM handler runs", waitv(wv, 2, 0, &t5, CLOCK_MONOTONIC));
	return 0;
}
