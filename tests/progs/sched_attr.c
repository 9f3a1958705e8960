/* sched_setattr and sched_getattr, as root: SCHED_DEADLINE's parameters
 * (kept and read back, checked as Linux's __checkparam_dl checks them, and
 * fork refused from such a thread), a real-time priority, a nice value,
 * SCHED_FLAG_RESET_ON_FORK and the KEEP flags, and the argument errors:
 * sizes (E2BIG with the kernel's size written back), flags, NULL, pids. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#define SCHED_DL 6
#define RESET_ON_FORK 0x01
#define KEEP_POLICY 0x08
#define KEEP_PARAMS 0x10

static long setattr(pid_t pid, struct attr *a, unsigned flags)
{
	return syscall(SYS_sched_setattr, pid, a, flags);
}

static long getattr(pid_t pid, struct attr *a, unsigned size, unsigned flags)
{
	return syscall(SYS_sched_getattr, pid, a, size, flags);
}

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

static void show(const char *what)
{
	struct attr a;
	memset(&a, 0xff, sizeof(a));
	long r = getattr(0, &a, sizeof(a), 0);
	/* Only a deadline thread's runtime is compared: Linux 6.12 and later
	 * report a fair thread's slice there. */
	if (a.policy != SCHED_DL)
		a.runtime = a.deadline = a.period = 0;
	printf("%s: %s, size %u, policy %u, flags %#llx, nice %d, priority %u, dl %llu/%llu/%llu\n", what, err(r),
	       a.size, a.policy, (unsigned long long)a.flags, a.nice, a.priority, (unsigned long long)a.runtime,
	       (unsigned long long)a.deadline, (unsigned long long)a.period);
}

static long dl(uint64_t runtime, uint64_t deadline, uint64_t period)
{
	struct attr a = { .size = 48, .policy = SCHED_DL, .runtime = runtime, .deadline = deadline, .period = period };
	return setattr(0, &a, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	show("at first");
	printf("deadline 10/30/30 ms: %s\n", err(dl(10000000, 30000000, 30000000)));
	show("deadline");
	printf("sched_getscheduler: %d\n", sched_getscheduler(0));
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	printf("fork from a deadline thread: %s\n", c < 0 ? strerror(errno) : "forked");
	if (c > 0)
		waitpid(c, NULL, 0);
	printf("runtime past the deadline: %s\n", err(dl(20000000, 10000000, 30000000)));
	printf("deadline 0: %s\n", err(dl(10000000, 0, 30000000)));
	printf("runtime under 1024 ns: %s\n", err(dl(1000, 30000000, 30000000)));
	printf("period under 100 us: %s\n", err(dl(10000, 50000, 50000)));
	printf("period past the deadline's: %s\n", err(dl(10000000, 30000000, 20000000)));
	printf("period 0 (the deadline): %s\n", err(dl(10000000, 30000000, 0)));
	show("then");

	struct attr k = { .size = 48, .flags = KEEP_POLICY | KEEP_PARAMS };
	printf("keep policy and parameters: %s\n", err(setattr(0, &k, 0)));
	show("kept");

	struct attr fifo = { .size = 48, .policy = SCHED_FIFO, .priority = 50 };
	printf("FIFO 50: %s\n", err(setattr(0, &fifo, 0)));
	show("fifo");
	fifo.priority = 0;
	printf("FIFO 0: %s\n", err(setattr(0, &fifo, 0)));
	struct attr other = { .size = 48, .policy = SCHED_OTHER, .priority = 1 };
	printf("OTHER with a priority: %s\n", err(setattr(0, &other, 0)));
	other.priority = 0;
	other.nice = 5;
	other.flags = RESET_ON_FORK;
	printf("OTHER nice 5, reset on fork: %s\n", err(setattr(0, &other, 0)));
	show("other");
	printf("getpriority: %d, sched_getscheduler %#x\n", getpriority(PRIO_PROCESS, 0), sched_getscheduler(0));
	other.nice = 0;
	other.flags = 0;
	setattr(0, &other, 0);

	struct attr small = { .size = 20, .policy = SCHED_OTHER };
	long r = setattr(0, &small, 0);
	printf("size 20: %s, size now %u\n", err(r), small.size);
	struct attr big[2];
	memset(big, 0, sizeof(big));
	big[0].size = sizeof(big);
	((char *)big)[sizeof(big) - 1] = 1;
	r = setattr(0, big, 0);
	printf("a larger struct with a non-zero tail: %s, size now %u\n", err(r), big[0].size);
	big[0].size = sizeof(big);
	((char *)big)[sizeof(big) - 1] = 0;
	printf("a larger struct, zero tail: %s\n", err(setattr(0, big, 0)));
	printf("flags 1000: %s\n", err(setattr(0, &other, 1000)));
	printf("NULL: %s\n", err(setattr(0, NULL, 0)));
	printf("pid -1: %s\n", err(setattr(-1, &other, 0)));
	printf("pid 4000000: %s\n", err(setattr(4000000, &other, 0)));
	struct attr out;
	printf("getattr size 40: %s\n", err(getattr(0, &out, 40, 0)));
	r = getattr(0, &out, 48, 0);
	printf("getattr size 48: %s, size %u\n", err(r), out.size);
	printf("getattr flags 1: %s\n", err(getattr(0, &out, 48, 1)));
	printf("getattr NULL: %s\n", err(getattr(0, NULL, 48, 0)));
	printf("getattr pid 4000000: %s\n", err(getattr(4000000, &out, 48, 0)));
	return 0;
}
