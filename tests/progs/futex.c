/* futex: WAIT and WAKE between threads, EAGAIN on a value mismatch,
 * timeouts (relative WAIT, absolute WAIT_BITSET on both clocks),
 * WAKE_BITSET, REQUEUE and CMP_REQUEUE, WAKE_OP, shared futexes between
 * processes, robust mutexes whose owner (thread or process) dies, and
 * timed waits interrupted by a handler or by a stop.
 *
 * A wake only counts waiters that are asleep, which depends on timing;
 * so the program retries a wake until it reports the expected number
 * and prints that number, which is then fixed. */
#include "common.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts, _Atomic uint32_t *uaddr2,
		  uint32_t val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

/* Wakes up to n waiters on f (op: FUTEX_WAKE or a variant) until the
 * call reports exactly n; gives up after 20 s. */
static long wake_until(_Atomic uint32_t *f, int op, int n, uint32_t bitset)
{
	long woken = 0, start = now_ms();
	while (woken < n && now_ms() - start < 20000) {
		long r = futex(f, op, n - woken, NULL, NULL, bitset);
		if (r < 0)
			return r;
		woken += r;
		if (woken < n)
			sleep_ms(1);
	}
	return woken;
}

static _Atomic uint32_t word, a, b;

static void *waiter(void *arg)
{
	(void)arg;
	/* Sleeps on `word` while it is 0; spurious returns loop. */
	while (atomic_load(&word) == 0)
		futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static void wait_wake(void)
{
	long r;
	word = 1;
	errno = 0;
	r = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	printf("FUTEX_WAIT with a mismatched value: %ld %s\n", r, errname(errno));
	r = futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	printf("FUTEX_WAKE with no waiters: %ld\n", r);

	word = 0;
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	r = wake_until(&word, FUTEX_WAKE_PRIVATE, 1, 0);
	printf("FUTEX_WAKE woke the sleeping thread: %ld\n", r);
	atomic_store(&word, 1);
	futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	pthread_join(t, NULL);
	printf("the thread saw the new value and exited: ok\n");

	/* Several waiters, woken all at once. */
	word = 0;
	pthread_t ts[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&ts[i], NULL, waiter, NULL);
	/* Wake them one at a time until all 4 were seen asleep... */
	r = wake_until(&word, FUTEX_WAKE_PRIVATE, 4, 0);
	printf("4 sleeping threads woken: %ld\n", r);
	atomic_store(&word, 1);
	futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	for (int i = 0; i < 4; i++)
		pthread_join(ts[i], NULL);
}

static void timeouts(void)
{
	word = 0;
	struct timespec rel = { 0, 30 * 1000000 };
	long start = now_ms();
	errno = 0;
	long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
	printf("FUTEX_WAIT with a 30 ms timeout: %ld %s, waited at least 30 ms: %s\n", r, errname(errno),
	       now_ms() - start >= 29 ? "ok" : "bad");

	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 30 * 1000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	start = now_ms();
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	printf("FUTEX_WAIT_BITSET, absolute CLOCK_MONOTONIC deadline 30 ms ahead: %ld %s, waited: %s\n", r,
	       errname(errno), now_ms() - start >= 29 ? "ok" : "bad");

	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_nsec += 30 * 1000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	start = now_ms();
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	printf("FUTEX_WAIT_BITSET, absolute CLOCK_REALTIME deadline 30 ms ahead: %ld %s, waited: %s\n", r,
	       errname(errno), now_ms() - start >= 29 ? "ok" : "bad");

	struct timespec past = { 1, 0 };
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &past, NULL, FUTEX_BITSET_MATCH_ANY);
	printf("FUTEX_WAIT_BITSET with a deadline in the past: %ld %s\n", r, errname(errno));

	struct timespec badts = { 0, 1000000000 };
	errno = 0;
	r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &badts, NULL, 0);
	printf("FUTEX_WAIT with tv_nsec out of range: %ld %s\n", r, errname(errno));
	errno = 0;
	r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0);
	printf("FUTEX_WAIT_BITSET with bitset 0: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_futex, (char *)&word + 1, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	printf("FUTEX_WAIT on a misaligned address: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_futex, (void *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	printf("FUTEX_WAIT on an unmapped address: %ld %s\n", r, errname(errno));
	errno = 0;
	r = futex(&word, 99, 0, NULL, NULL, 0);
	printf("futex with an unknown op: %ld %s\n", r, errname(errno));
}

/* Waits on `a` with bitset 0x1 while a is 0, then while it is 2. The
 * condition is the futex word itself, so a change made before the thread
 * sleeps makes its FUTEX_WAIT fail with EAGAIN instead of sleeping. */
static void *bitset_waiter(void *arg)
{
	(void)arg;
	for (uint32_t v = 0; v <= 2; v += 2)
		while (atomic_load(&a) == v)
			futex(&a, FUTEX_WAIT_BITSET_PRIVATE, v, NULL, NULL, 0x1);
	return NULL;
}

static void bitsets(void)
{
	a = 0;
	pthread_t t;
	pthread_create(&t, NULL, bitset_waiter, NULL);
	long r = futex(&a, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x2);
	printf("FUTEX_WAKE_BITSET with a disjoint bitset: %ld\n", r);
	r = wake_until(&a, FUTEX_WAKE_BITSET_PRIVATE, 1, 0x3);
	printf("FUTEX_WAKE_BITSET with an overlapping bitset: %ld\n", r);
	atomic_store(&a, 2);
	futex(&a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	r = wake_until(&a, FUTEX_WAKE_PRIVATE, 1, 0);
	printf("plain FUTEX_WAKE wakes a bitset waiter: %ld\n", r);
	atomic_store(&a, 4);
	futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	pthread_join(t, NULL);
	errno = 0;
	r = futex(&a, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0);
	printf("FUTEX_WAKE_BITSET with bitset 0: %ld %s\n", r, errname(errno));
}

/* Sleeps on `a` while it is 0 (a requeue may move the sleeper to `b`). */
static void *a_waiter(void *arg)
{
	(void)arg;
	while (atomic_load(&a) == 0)
		futex(&a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static void requeue(void)
{
	a = 0;
	b = 0;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, a_waiter, NULL);
	errno = 0;
	long r = futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, &b, 1);
	printf("FUTEX_CMP_REQUEUE with a mismatched value: %ld %s\n", r, errname(errno));
	errno = 0;
	r = futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, -1, (void *)1L, &b, a);
	printf("FUTEX_CMP_REQUEUE waking -1: %ld %s\n", r, errname(errno));
	errno = 0;
	r = futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)-1L, &b, a);
	printf("FUTEX_CMP_REQUEUE moving -1: %ld %s\n", r, errname(errno));

	/* Move all 4 sleepers from a to b, none woken. A requeued thread
	 * stays on b until woken, so each is counted once. */
	long moved = 0, start = now_ms();
	while (moved < 4 && now_ms() - start < 20000) {
		r = futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, &b, 0);
		if (r < 0)
			break;
		moved += r;
		if (moved < 4)
			sleep_ms(1);
	}
	printf("FUTEX_CMP_REQUEUE moved the 4 sleepers from a to b: %ld\n", moved);
	r = futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	printf("then waking a wakes: %ld\n", r);
	/* From now on a woken thread leaves. */
	atomic_store(&a, 1);
	r = futex(&b, FUTEX_REQUEUE_PRIVATE, 1, (void *)1L, &a, 0);
	printf("FUTEX_REQUEUE b to a, wake 1, move 1: %ld\n", r);
	long wa = futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	long wb = futex(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	printf("then a wakes %ld and b wakes %ld\n", wa, wb);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void wake_op(void)
{
	a = 0;
	b = 5;
	/* b += 3 (old 5); wake on a, and on b if old b == 5 (no waiters). */
	uint32_t op = FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5);
	long r = futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, op);
	printf("FUTEX_WAKE_OP with no waiters: %ld, b now %u\n", r, (unsigned)b);

	pthread_t t;
	pthread_create(&t, NULL, a_waiter, NULL);
	/* b = 1 (old 8); retry until the sleeper on a was woken. */
	op = FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_GT, 100);
	long woken = 0, start = now_ms();
	while (woken < 1 && now_ms() - start < 20000) {
		r = futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, op);
		if (r < 0)
			break;
		woken += r;
		if (!woken)
			sleep_ms(1);
	}
	printf("FUTEX_WAKE_OP woke the sleeper on a: %ld, b now %u\n", woken, (unsigned)b);
	atomic_store(&a, 1);
	futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	pthread_join(t, NULL);
	op = FUTEX_OP(FUTEX_OP_OR, 0x10, FUTEX_OP_CMP_EQ, 1);
	r = futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, op);
	printf("FUTEX_WAKE_OP OR 0x10: %ld, b now %u\n", r, (unsigned)b);
}

/* A futex in a MAP_SHARED page, waited on by a child process. */
static void shared(void)
{
	_Atomic uint32_t *f = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	f[0] = 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		while (atomic_load(&f[0]) == 0)
			futex(&f[0], FUTEX_WAIT, 0, NULL, NULL, 0);
		_exit(atomic_load(&f[0]) == 7 ? 0 : 1);
	}
	long r = wake_until(&f[0], FUTEX_WAKE, 1, 0);
	printf("shared FUTEX_WAKE woke a sleeping child process: %ld\n", r);
	atomic_store(&f[0], 7);
	futex(&f[0], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	int st;
	waitpid(pid, &st, 0);
	printf("the child saw the value: %s\n", status_str(st));
	munmap((void *)f, 4096);
}

/* pthread mutexes built on futexes: a process-shared robust mutex whose
 * owner dies, in a thread and in a child process. The locks time out
 * after 10 s (ETIMEDOUT), so that a kernel that does not handle robust
 * lists fails the check rather than hanging. */
static pthread_mutex_t robust;

static int lock10(pthread_mutex_t *m)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	return pthread_mutex_timedlock(m, &ts);
}

static void *lock_and_exit(void *arg)
{
	pthread_mutex_lock(arg);
	return NULL; /* exits holding it */
}

static void robust_mutexes(void)
{
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &at);
	pthread_t t;
	pthread_create(&t, NULL, lock_and_exit, &robust);
	pthread_join(t, NULL);
	int r = lock10(&robust);
	printf("robust mutex after its owner thread exited: %s\n", errname(r));
	printf("pthread_mutex_consistent: %s\n", errname(pthread_mutex_consistent(&robust)));
	pthread_mutex_unlock(&robust);
	printf("lock again: %s\n", errname(lock10(&robust)));
	pthread_mutex_unlock(&robust);

	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &at);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(m);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	r = lock10(m);
	printf("process-shared robust mutex after its owner process exited: %s\n", errname(r));
	pthread_mutex_consistent(m);
	pthread_mutex_unlock(m);

	/* The owner is killed while a waiter sleeps on the mutex. */
	int p[2];
	if (pipe(p))
		abort();
	pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(m);
		if (write(p[1], "l", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	if (read(p[0], &c, 1) != 1)
		abort();
	pid_t killer = fork();
	if (killer == 0) {
		sleep_ms(50);
		kill(pid, SIGKILL);
		_exit(0);
	}
	r = lock10(m);
	printf("a waiter when the owner process is killed: %s\n", errname(r));
	waitpid(pid, &st, 0);
	waitpid(killer, NULL, 0);
	printf("owner: %s\n", status_str(st));
	pthread_mutex_consistent(m);
	pthread_mutex_unlock(m);
	munmap(m, 4096);
	close(p[0]);
	close(p[1]);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A child's FUTEX_WAIT with a 2 s timeout, while the parent signals it:
 * `poke` runs in the parent once the child is waiting. */
static void timed_wait_child(const char *what, void (*poke)(pid_t))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		_Atomic uint32_t never = 0;
		struct timespec ts = { 2, 0 };
		long start = now_ms();
		errno = 0;
		long r = futex(&never, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		long took = now_ms() - start;
		printf("%s: %ld %s, within 2.6 s: %s\n", what, r, errname(errno), took < 2600 ? "ok" : "bad");
		_exit(0);
	}
	poke(pid);
	int st;
	waitpid(pid, &st, 0);
}

static void poke_usr1(pid_t pid)
{
	sleep_ms(100);
	kill(pid, SIGUSR1);
}

/* Linux restarts a timed wait through a restart block: a handler (even
 * with SA_RESTART) makes it EINTR; a stop and continue does not extend
 * its deadline. */
static void timed_wait_signals(void)
{
	timed_wait_child("FUTEX_WAIT with a timeout, an SA_RESTART handler ran", poke_usr1);
	timed_wait_child("FUTEX_WAIT with a 2 s timeout, stopped from 200 to 1200 ms", stop_then_continue);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	wait_wake();
	timeouts();
	bitsets();
	requeue();
	wake_op();
	shared();
	robust_mutexes();
	timed_wait_signals();
	printf("done\n");
	return 0;
}
