/* The rest of process life: umask, prctl (names, no_new_privs,
 * dumpable, pdeathsig), getrusage, times, sched_yield, CPU affinity,
 * priorities, mremap, msync and mincore, and /proc/self/oom_score_adj.
 *
 * Values that depend on the host (CPU count, times, the runner's nice
 * value and umask) are never printed: the program sets what it checks
 * first, or prints only that a value is sane. */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/times.h>

static void umasks(void)
{
	umask(022);
	printf("umask(077) returns 022: %s\n", umask(077) == 022 ? "ok" : "bad");
	printf("umask(0777 | 01000) returns 077: %s\n", umask(0777 | 01000) == 077 ? "ok" : "bad");
	printf("the extra bit is dropped: %04o\n", umask(022));
	/* A child inherits it. */
	umask(027);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(umask(0) == 027 ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	printf("a child inherits the umask: %s\n", status_str(st));
	umask(022);
}

static void *thread_name(void *arg)
{
	char name[32] = "";
	prctl(PR_GET_NAME, name);
	printf("a new thread's name: %s\n", name);
	prctl(PR_SET_NAME, arg);
	prctl(PR_GET_NAME, name);
	printf("the thread renamed itself: %s\n", name);
	return NULL;
}

static void prctls(void)
{
	char name[32] = "";
	prctl(PR_GET_NAME, name);
	printf("initial name (the executable's basename): %s\n", name);
	prctl(PR_SET_NAME, "husk-test");
	memset(name, 0, sizeof name);
	prctl(PR_GET_NAME, name);
	printf("after PR_SET_NAME: %s\n", name);
	prctl(PR_SET_NAME, "a-name-longer-than-fifteen-bytes");
	memset(name, 0, sizeof name);
	prctl(PR_GET_NAME, name);
	printf("a long name is cut to 15 bytes: %s\n", name);
	pthread_t t;
	pthread_create(&t, NULL, thread_name, "worker");
	pthread_join(t, NULL);
	memset(name, 0, sizeof name);
	prctl(PR_GET_NAME, name);
	printf("the main thread's name is its own: %s\n", name);

	printf("PR_GET_NO_NEW_PRIVS: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	errno = 0;
	long r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	printf("PR_SET_NO_NEW_PRIVS: %ld %s, now %d\n", r, errname(errno), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	errno = 0;
	r = prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0);
	printf("PR_SET_NO_NEW_PRIVS 0: %ld %s\n", r, errname(errno));

	printf("PR_GET_DUMPABLE: %d\n", prctl(PR_GET_DUMPABLE));
	prctl(PR_SET_DUMPABLE, 0);
	printf("after PR_SET_DUMPABLE 0: %d\n", prctl(PR_GET_DUMPABLE));
	prctl(PR_SET_DUMPABLE, 1);
	printf("after PR_SET_DUMPABLE 1: %d\n", prctl(PR_GET_DUMPABLE));
	errno = 0;
	r = prctl(PR_SET_DUMPABLE, 2);
	printf("PR_SET_DUMPABLE 2: %ld %s\n", r, errname(errno));

	int sig = -1;
	prctl(PR_GET_PDEATHSIG, &sig);
	printf("PR_GET_PDEATHSIG: %d\n", sig);
	prctl(PR_SET_PDEATHSIG, SIGUSR1);
	prctl(PR_GET_PDEATHSIG, &sig);
	printf("after PR_SET_PDEATHSIG SIGUSR1: %d\n", sig);
	errno = 0;
	r = prctl(PR_SET_PDEATHSIG, 65);
	printf("PR_SET_PDEATHSIG 65: %ld %s\n", r, errname(errno));
	/* Cleared in a forked child. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int s = -1;
		prctl(PR_GET_PDEATHSIG, &s);
		_exit(s == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("a forked child's pdeathsig is 0: %s\n", status_str(st));
	prctl(PR_SET_PDEATHSIG, 0);
	errno = 0;
	r = prctl(0x7fff0000, 0, 0, 0, 0);
	printf("an unknown prctl option: %ld %s\n", r, errname(errno));
}

static void burn_cpu(void)
{
	volatile uint64_t x = 0;
	for (uint64_t i = 0; i < 30000000; i++)
		x += i;
}

static int tv_sane(struct timeval tv)
{
	return tv.tv_sec >= 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000;
}

static void usage(void)
{
	struct rusage ru;
	burn_cpu();
	memset(&ru, 0xff, sizeof ru);
	long r = getrusage(RUSAGE_SELF, &ru);
	printf("getrusage(RUSAGE_SELF): %ld, times sane: %s, some CPU time used: %s, maxrss > 0: %s\n", r,
	       tv_sane(ru.ru_utime) && tv_sane(ru.ru_stime) ? "ok" : "bad",
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec > 0 ? "ok" : "bad",
	       ru.ru_maxrss > 0 ? "ok" : "bad");
	memset(&ru, 0xff, sizeof ru);
	r = getrusage(RUSAGE_THREAD, &ru);
	printf("getrusage(RUSAGE_THREAD): %ld, times sane: %s\n", r,
	       tv_sane(ru.ru_utime) && tv_sane(ru.ru_stime) ? "ok" : "bad");
	memset(&ru, 0xff, sizeof ru);
	r = getrusage(RUSAGE_CHILDREN, &ru);
	printf("getrusage(RUSAGE_CHILDREN): %ld, times sane: %s\n", r,
	       tv_sane(ru.ru_utime) && tv_sane(ru.ru_stime) ? "ok" : "bad");
	errno = 0;
	r = getrusage(42, &ru);
	printf("getrusage(42): %ld %s\n", r, errname(errno));

	/* A reaped child's CPU time moves to RUSAGE_CHILDREN. */
	struct rusage before, after;
	getrusage(RUSAGE_CHILDREN, &before);
	struct tms t0, t1;
	clock_t c0 = times(&t0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		burn_cpu();
		burn_cpu();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	getrusage(RUSAGE_CHILDREN, &after);
	clock_t c1 = times(&t1);
	long us_before = (before.ru_utime.tv_sec + before.ru_stime.tv_sec) * 1000000L + before.ru_utime.tv_usec +
			 before.ru_stime.tv_usec;
	long us_after = (after.ru_utime.tv_sec + after.ru_stime.tv_sec) * 1000000L + after.ru_utime.tv_usec +
			after.ru_stime.tv_usec;
	printf("a reaped child's CPU time counts in RUSAGE_CHILDREN: %s\n", us_after > us_before ? "ok" : "bad");
	printf("times: %s, clock does not go back: %s, children's time does not go back: %s\n",
	       c0 != (clock_t)-1 && c1 != (clock_t)-1 ? "ok" : "bad", c1 >= c0 ? "ok" : "bad",
	       t1.tms_cutime + t1.tms_cstime >= t0.tms_cutime + t0.tms_cstime ? "ok" : "bad");
	r = syscall(SYS_times, NULL);
	printf("times(NULL): %s\n", r != -1 ? "ok" : errname(errno));
}

static void sched(void)
{
	printf("sched_yield: %d\n", sched_yield());
	cpu_set_t set;
	CPU_ZERO(&set);
	long r = sched_getaffinity(0, sizeof set, &set);
	int n = CPU_COUNT(&set);
	printf("sched_getaffinity: %ld, at least one CPU: %s\n", r, n >= 1 ? "ok" : "bad");
	/* The raw syscall returns the size of the kernel's mask in bytes. */
	r = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
	printf("raw sched_getaffinity returns a multiple of 8 bytes: %s\n", r > 0 && r % 8 == 0 ? "ok" : "bad");
	errno = 0;
	r = syscall(SYS_sched_getaffinity, 0, 1, &set);
	printf("sched_getaffinity into 1 byte: %ld %s\n", r, errname(errno));

	/* Pin to the first allowed CPU, read it back, restore. */
	cpu_set_t all = set, one;
	int first = -1;
	for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
		if (CPU_ISSET(i, &all))
			first = i;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	r = sched_setaffinity(0, sizeof one, &one);
	cpu_set_t now;
	CPU_ZERO(&now);
	sched_getaffinity(0, sizeof now, &now);
	printf("sched_setaffinity to one CPU: %ld, reads back: %s\n", r, CPU_EQUAL(&now, &one) ? "ok" : "bad");
	unsigned cpu = 99, node = 99;
	long g = syscall(SYS_getcpu, &cpu, &node, NULL);
	printf("getcpu when pinned: %ld, the pinned CPU: %s, node 0: %s\n", g, (int)cpu == first ? "yes" : "no",
	       node == 0 ? "yes" : "no");
	errno = 0;
	g = syscall(SYS_getcpu, (void *)8, NULL, NULL);
	printf("getcpu into a bad pointer: %ld %s\n", g, errname(errno));
	printf("restore: %d\n", sched_setaffinity(0, sizeof all, &all));
	CPU_ZERO(&one);
	errno = 0;
	r = sched_setaffinity(0, sizeof one, &one);
	printf("sched_setaffinity to no CPU: %ld %s\n", r, errname(errno));

	printf("sched_getscheduler: %d\n", sched_getscheduler(0));
	struct sched_param sp = { 0 };
	printf("sched_getparam: %d, priority %d\n", sched_getparam(0, &sp), sp.sched_priority);
	printf("priority range for SCHED_OTHER: %d..%d\n", sched_get_priority_min(SCHED_OTHER),
	       sched_get_priority_max(SCHED_OTHER));
	/* Policies: recorded and reported; a fork child inherits them unless
	 * SCHED_RESET_ON_FORK. */
	struct sched_param rt = { .sched_priority = 10 };
	report("sched_setscheduler SCHED_FIFO 10", sched_setscheduler(0, SCHED_FIFO, &rt));
	sched_getparam(0, &sp);
	printf("now: policy %d, priority %d\n", sched_getscheduler(0), sp.sched_priority);
	rt.sched_priority = 20;
	report("sched_setparam 20", sched_setparam(0, &rt));
	sched_getparam(0, &sp);
	printf("priority %d\n", sp.sched_priority);
	pid_t c = fork();
	if (c == 0) {
		sched_getparam(0, &sp);
		printf("a fork child: policy %d, priority %d\n", sched_getscheduler(0), sp.sched_priority);
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	rt.sched_priority = 0;
	report("SCHED_FIFO priority 0", sched_setscheduler(0, SCHED_FIFO, &rt));
	report("SCHED_OTHER priority 0", sched_setscheduler(0, SCHED_OTHER, &rt));
	rt.sched_priority = 5;
	report("SCHED_OTHER priority 5", sched_setscheduler(0, SCHED_OTHER, &rt));
	report("policy 77", sched_setscheduler(0, 77, &rt));
	report("policy -1", sched_setscheduler(0, -1, &rt));
	report("a NULL param", sched_setscheduler(0, SCHED_OTHER, NULL));
	report("pid -1", sched_setscheduler(-1, SCHED_OTHER, &rt));
	report("sched_getscheduler(-1)", sched_getscheduler(-1));
	report("sched_getaffinity(-1)", sched_getaffinity(-1, sizeof set, &set));
	rt.sched_priority = 0;
	report("SCHED_BATCH|SCHED_RESET_ON_FORK", sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &rt));
	printf("policy %#x\n", sched_getscheduler(0));
	c = fork();
	if (c == 0) {
		printf("a fork child after SCHED_RESET_ON_FORK: policy %d\n", sched_getscheduler(0));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	struct timespec slice;
	rt.sched_priority = 1;
	sched_setscheduler(0, SCHED_RR, &rt);
	sched_rr_get_interval(0, &slice);
	printf("SCHED_RR slice: %ld ms\n", slice.tv_nsec / 1000000);
	sched_setscheduler(0, SCHED_FIFO, &rt);
	sched_rr_get_interval(0, &slice);
	printf("SCHED_FIFO slice: %ld\n", slice.tv_nsec);
	report("sched_rr_get_interval(-1)", sched_rr_get_interval(-1, &slice));
	rt.sched_priority = 0;
	sched_setscheduler(0, SCHED_OTHER, &rt);

	/* Priorities: root may raise and lower its nice value. */
	r = setpriority(PRIO_PROCESS, 0, 5);
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, 0);
	printf("setpriority 5: %ld, getpriority: %d %s\n", r, prio, errname(errno));
	/* The raw syscall returns 20 - nice. */
	printf("raw getpriority: %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(getpriority(PRIO_PROCESS, 0) == 5 ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	printf("a child inherits nice 5: %s\n", status_str(st));
	r = setpriority(PRIO_PROCESS, 0, 0);
	printf("back to 0: %ld, getpriority: %d\n", r, getpriority(PRIO_PROCESS, 0));
	r = setpriority(PRIO_PROCESS, 0, 100);
	printf("setpriority 100 (clamped to 19): %ld, getpriority: %d\n", r, getpriority(PRIO_PROCESS, 0));
	setpriority(PRIO_PROCESS, 0, 0);
	errno = 0;
	r = setpriority(42, 0, 0);
	printf("setpriority with a bad which: %ld %s\n", r, errname(errno));
	errno = 0;
	r = getpriority(PRIO_PROCESS, 1 << 22);
	printf("getpriority of a missing pid: %ld %s\n", r, errname(errno));
	errno = 0;
	r = getpriority(PRIO_PGRP, -1);
	printf("getpriority of process group -1: %ld %s\n", r, errname(errno));
	errno = 0;
	r = getpriority(PRIO_USER, -1);
	printf("getpriority of user -1: %ld %s\n", r, errname(errno));
	/* Another process's, by pid; and the whole process group's. */
	int gate[2];
	pipe(gate);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char c;
		read(gate[0], &c, 1);
		_exit(0);
	}
	r = setpriority(PRIO_PROCESS, pid, 7);
	printf("setpriority of a child: %ld, its getpriority: %d\n", r, getpriority(PRIO_PROCESS, pid));
	printf("the group's (the highest of its members'): %d\n", getpriority(PRIO_PGRP, 0));
	write(gate[1], "x", 1);
	waitpid(pid, &st, 0);
	close(gate[0]);
	close(gate[1]);
}

#define PAGE 4096UL

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + seed);
}

static int check(const unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i * 7 + seed))
			return 0;
	return 1;
}

static void memory(void)
{
	/* mremap: grow in place or moving, shrink, move to a fixed place. */
	unsigned char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill(m, 2 * PAGE, 1);
	unsigned char *g = mremap(m, 2 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
	printf("mremap grow to 64 pages: %s, data kept: %s, new pages zero: %s\n", g == MAP_FAILED ? errname(errno) : "ok",
	       g != MAP_FAILED && check(g, 2 * PAGE, 1) ? "ok" : "bad",
	       g != MAP_FAILED && g[63 * PAGE] == 0 && g[2 * PAGE] == 0 ? "ok" : "bad");
	g[63 * PAGE] = 9;
	unsigned char *s = mremap(g, 64 * PAGE, 4 * PAGE, 0);
	printf("mremap shrink in place: %s, data kept: %s\n", s == g ? "ok" : "bad", check(s, 2 * PAGE, 1) ? "ok" : "bad");
	/* A fixed destination: reserve it first, then move there. */
	unsigned char *dst = mmap(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *f = mremap(s, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 2 * PAGE);
	printf("mremap MREMAP_FIXED: %s, data kept: %s\n", f == dst + 2 * PAGE ? "ok" : "bad",
	       f == dst + 2 * PAGE && check(f, 2 * PAGE, 1) ? "ok" : "bad");
	unsigned char vec[8];
	errno = 0;
	long r = mincore(s, PAGE, vec);
	printf("the old place is unmapped (mincore): %ld %s\n", r, errname(errno));
	errno = 0;
	unsigned char *bad = mremap(f + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	printf("mremap an unaligned address: %s\n", bad == MAP_FAILED ? errname(errno) : "bad");
	errno = 0;
	bad = mremap(f, 4 * PAGE, 8 * PAGE, 0);
	printf("mremap grow without MAYMOVE into a mapping: %s\n", bad == MAP_FAILED ? errname(errno) : "moved?");
	errno = 0;
	bad = mremap(f, 4 * PAGE, 4 * PAGE, MREMAP_FIXED, dst + 8 * PAGE);
	printf("mremap MREMAP_FIXED without MAYMOVE: %s\n", bad == MAP_FAILED ? errname(errno) : "bad");
	munmap(dst, 8 * PAGE);

	/* msync. */
	m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("msync MS_SYNC: %d\n", msync(m, 4 * PAGE, MS_SYNC));
	printf("msync MS_ASYNC: %d\n", msync(m, PAGE, MS_ASYNC));
	printf("msync MS_INVALIDATE: %d\n", msync(m, PAGE, MS_INVALIDATE));
	errno = 0;
	r = msync(m, PAGE, MS_SYNC | MS_ASYNC);
	printf("msync MS_SYNC | MS_ASYNC: %ld %s\n", r, errname(errno));
	errno = 0;
	r = msync(m + 1, PAGE, MS_SYNC);
	printf("msync unaligned: %ld %s\n", r, errname(errno));
	unsigned char *gone = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, 2 * PAGE);
	errno = 0;
	r = msync(gone, PAGE, MS_SYNC);
	printf("msync unmapped: %ld %s\n", r, errname(errno));

	/* mincore: touched pages are resident, untouched anonymous ones
	 * are not (transparent huge pages are turned off for the range). */
	munmap(m, 4 * PAGE);
	m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(m, 8 * PAGE, MADV_NOHUGEPAGE);
	m[0] = 1;
	m[2 * PAGE] = 1;
	m[7 * PAGE + 100] = 1;
	memset(vec, 0xee, sizeof vec);
	r = mincore(m, 8 * PAGE, vec);
	printf("mincore: %ld, residency", r);
	for (int i = 0; i < 8; i++)
		printf(" %d", vec[i] & 1);
	printf("\n");
	madvise(m, 8 * PAGE, MADV_DONTNEED);
	r = mincore(m, 8 * PAGE, vec);
	printf("after MADV_DONTNEED: %ld, residency", r);
	for (int i = 0; i < 8; i++)
		printf(" %d", vec[i] & 1);
	printf("\n");
	errno = 0;
	r = mincore(m + 1, PAGE, vec);
	printf("mincore unaligned: %ld %s\n", r, errname(errno));
	munmap(m, 8 * PAGE);
	errno = 0;
	r = mincore(m, PAGE, vec);
	printf("mincore unmapped: %ld %s\n", r, errname(errno));
}

/* /proc/self/oom_score_adj: raised, read back, lowered back to where it
 * was, inherited by a child; out of range is EINVAL. (Below where it was
 * needs CAP_SYS_RESOURCE, which the runner may or may not have: not here.) */
static int oom_write(const char *value)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	long r = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	errno = e;
	return r < 0 ? -1 : 0;
}

static void oom_score(void)
{
	report("oom_score_adj write 500", oom_write("500\n"));
	char buf[16] = {0};
	int fd = open("/proc/self/oom_score_adj", O_RDONLY);
	read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("oom_score_adj reads %s", buf);
	report("oom_score_adj write 1001", oom_write("1001"));
	report("oom_score_adj write x", oom_write("x"));
	report("oom_score_adj write 300", oom_write("300"));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char child[16] = {0};
		int cfd = open("/proc/self/oom_score_adj", O_RDONLY);
		read(cfd, child, sizeof child - 1);
		_exit(strcmp(child, "300\n") == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("a child's oom_score_adj: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "inherited" : "other");
	report("oom_score_adj back to 0", oom_write("0"));
}

/* arch_prctl's CPUID faulting agrees with /proc/cpuinfo's cpuid_fault:
 * offered (ARCH_SET_CPUID works) only where the flag is shown, ENODEV
 * where it is not, and ARCH_GET_CPUID says cpuid runs. */
static void cpuid_faulting(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int shown = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "flags", 5) == 0) {
			shown = strstr(line, " cpuid_fault ") || strstr(line, " cpuid_fault\n");
			break;
		}
	if (f)
		fclose(f);
	long r = syscall(SYS_arch_prctl, 0x1012 /* ARCH_SET_CPUID */, 1);
	int agrees = shown ? r == 0 : (r == -1 && errno == ENODEV);
	printf("ARCH_SET_CPUID agrees with /proc/cpuinfo: %s\n", agrees ? "yes" : "no");
	printf("ARCH_GET_CPUID: %ld\n", syscall(SYS_arch_prctl, 0x1011 /* ARCH_GET_CPUID */, 0));
}

/* get_robust_list: the head glibc registered for this thread, another
 * thread's, none for a missing tid, and EPERM for another user's. */
static void robust_lists(void)
{
	void *head = NULL;
	size_t len = 0;
	long r = syscall(SYS_get_robust_list, 0, &head, &len);
	printf("get_robust_list(0): %ld, len %zu, a head: %s\n", r, len, head ? "yes" : "no");
	errno = 0;
	r = syscall(SYS_get_robust_list, 1 << 22, &head, &len);
	printf("get_robust_list of a missing tid: %ld %s\n", r, errname(errno));
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		errno = 0;
		long rr = syscall(SYS_get_robust_list, parent, &head, &len);
		printf("get_robust_list of root's process as uid 65534: %ld %s\n", rr, errname(errno));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

/* mlock and friends, as far as they do not depend on the caller's
 * capabilities; MAP_SHARED_VALIDATE's unknown flags; a shared mapping of
 * /dev/zero opened read-only never becomes writable. */
static void memory_locks(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report("mlock of a page", mlock(p, 4096));
	report("munlock of it", munlock(p, 4096));
	munmap(p + 4096, 4096);
	report("mlock over an unmapped page", mlock(p, 8192));
	report("munlock over an unmapped page", munlock(p, 8192));
	report("mlock2 with an unknown flag", syscall(SYS_mlock2, p, 4096, 2));
	report("mlockall(0)", mlockall(0));
	report("mlockall(MCL_ONFAULT)", mlockall(4));
	report("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE));
	report("munlockall", munlockall());
	void *v = mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0);
	printf("MAP_SHARED_VALIDATE of anonymous memory: %s\n", v == MAP_FAILED ? errname(errno) : "ok");
	int mfd = memfd_create("validate", 0);
	ftruncate(mfd, 4096);
	v = mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, mfd, 0);
	printf("MAP_SHARED_VALIDATE of a file with an unknown flag: %s\n", v == MAP_FAILED ? errname(errno) : "ok");
	v = mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE, mfd, 0);
	printf("MAP_SHARED_VALIDATE of a file: %s\n", v == MAP_FAILED ? errname(errno) : "ok");
	close(mfd);
	int zero = open("/dev/zero", O_RDONLY);
	if (zero >= 0) {
		void *z = mmap(NULL, 4096, PROT_READ, MAP_SHARED, zero, 0);
		report("mprotect(PROT_WRITE) of /dev/zero mapped shared read-only", mprotect(z, 4096, PROT_WRITE));
		void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, zero, 0);
		printf("a writable shared mapping of it: %s\n", w == MAP_FAILED ? errname(errno) : "ok");
		close(zero);
	}
	munmap(p, 4096);
}

/* RLIMIT_FSIZE: writes stop at the limit, past it EFBIG (with SIGXFSZ,
 * ignored here), truncates past it too; pipes are not limited; and the
 * signal's default action ends the process. */
static void file_size_limit(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {10, 10};
		setrlimit(RLIMIT_FSIZE, &rl);
		int fd = memfd_create("fsize", 0);
		printf("RLIMIT_FSIZE 10: a 20-byte write: %zd\n", write(fd, "0123456789abcdefghij", 20));
		errno = 0;
		ssize_t again = write(fd, "x", 1);
		printf("and another: %zd %s\n", again, errname(errno));
		printf("pwrite of 8 at 5: %zd\n", pwrite(fd, "ABCDEFGH", 8, 5));
		report("ftruncate to 20", ftruncate(fd, 20));
		report("ftruncate to 5", ftruncate(fd, 5));
		int p[2];
		pipe(p);
		printf("a pipe takes 20: %zd\n", write(p[1], "0123456789abcdefghij", 20));
		fflush(stdout);
		signal(SIGXFSZ, SIG_DFL);
		lseek(fd, 10, SEEK_SET);
		write(fd, "x", 1);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("past the limit with SIGXFSZ's default action: %s\n", status_str(st));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	umasks();
	file_size_limit();
	memory_locks();
	robust_lists();
	oom_score();
	cpuid_faulting();
	prctls();
	usage();
	sched();
	memory();
	printf("done\n");
	return 0;
}
