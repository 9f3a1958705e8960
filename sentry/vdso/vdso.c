/* Husk's vDSO (x86_64 and arm64): clock_gettime, gettimeofday, time and
 * clock_getres served in the app's own process from the parameter page
 * the Sentry keeps current (`sentry/src/kernel/vdso.rs`), as gVisor's
 * VDSOParamPage: a sequence count, and the cycle counter (the TSC, or
 * arm64's virtual count) with a calibrated scale. On arm64 it also holds
 * the signal trampoline, `__kernel_rt_sigreturn`.
 * What it does not serve, and any moment the page is not ready or is
 * stale, is a real syscall (which Husk's platform takes to the Sentry).
 *
 * Freestanding: no libc, no relocations, no data; only the page below. */

typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;

/* The parameter page; keep in step with `Params` in vdso.rs. */
struct husk_vdso_params {
	u32 seq;		/* odd while the Sentry writes */
	u32 ready;		/* 0: not calibrated (or the TSC is not usable) */
	u64 base_cycles;	/* the TSC at the base times below */
	u64 mono_ns;		/* CLOCK_MONOTONIC at base_cycles, in ns */
	u64 real_ns;		/* CLOCK_REALTIME at base_cycles */
	u64 boot_ns;		/* CLOCK_BOOTTIME at base_cycles */
	u64 mult;		/* ns per cycle, times 2^32 */
	u64 max_cycles;		/* past base_cycles + this the page is stale */
};

extern const volatile struct husk_vdso_params husk_vdso_params __attribute__((visibility("hidden")));

struct timespec {
	s64 tv_sec;
	s64 tv_nsec;
};

struct timeval {
	s64 tv_sec;
	s64 tv_usec;
};

struct timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

#define NSEC_PER_SEC 1000000000UL

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_BOOTTIME 7

#if defined(__x86_64__)

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

/* The TSC, not read before the loads ahead of it (Linux's rdtsc_ordered). */
static inline u64 read_cycles(void)
{
	u32 lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

/* x86 keeps loads in order: the seqlock needs only the compiler's. */
#define read_barrier() __asm__ volatile("" ::: "memory")
#define spin_pause() __asm__ volatile("pause")

#elif defined(__aarch64__)

/* The generic table's numbers (arm64 has no time(2)). */
#define SYS_gettimeofday 169
#define SYS_clock_gettime 113
#define SYS_clock_getres 114
#define SYS_getcpu 168
#define SYS_rt_sigreturn 139

static inline long syscall3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

static inline long syscall2(long nr, long a, long b)
{
	return syscall3(nr, a, b, 0);
}

/* The virtual count, not read before the instructions ahead of it (the
 * isb, as Linux's __arch_get_hw_counter). */
static inline u64 read_cycles(void)
{
	u64 v;
	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
	return v;
}

/* arm64 may reorder loads: the seqlock's reads are fenced (smp_rmb). */
#define read_barrier() __asm__ volatile("dmb ishld" ::: "memory")
#define spin_pause() __asm__ volatile("yield")

/* The signal trampoline the Sentry points a handler's return at when the
 * action has no SA_RESTORER (libc on arm64 sets none). Unwinders know it
 * by its two instructions, as on Linux; the nop before it keeps a caller
 * address of pc - 4 inside it. */
__asm__(".text\n"
	"	.globl __kernel_rt_sigreturn\n"
	"	.type __kernel_rt_sigreturn, %function\n"
	"	nop\n"
	"__kernel_rt_sigreturn:\n"
	"	mov x8, #139\n"
	"	svc #0\n"
	"	.size __kernel_rt_sigreturn, . - __kernel_rt_sigreturn\n");

#else
#error "Husk's vDSO knows x86_64 and arm64"
#endif

/* The time of `clock` in ns from the page; 0 when the page cannot say. */
static inline u64 page_time(int clock)
{
	const volatile struct husk_vdso_params *p = &husk_vdso_params;
	for (;;) {
		u32 seq = p->seq;
		if (seq & 1) {
			spin_pause();
			continue;
		}
		read_barrier();
		u64 base, delta, ns;
		if (!p->ready)
			return 0;
		switch (clock) {
		case CLOCK_REALTIME:
			base = p->real_ns;
			break;
		case CLOCK_BOOTTIME:
			base = p->boot_ns;
			break;
		default:
			base = p->mono_ns;
			break;
		}
		u64 cycles = read_cycles();
		u64 at = p->base_cycles, mult = p->mult, max = p->max_cycles;
		read_barrier();
		if (p->seq != seq)
			continue;
		/* Behind the base (another CPU's TSC) or past the stale mark:
		 * ask the Sentry. */
		if (cycles < at || (delta = cycles - at) > max)
			return 0;
		ns = base + (u64)(((unsigned __int128)delta * mult) >> 32);
		return ns;
	}
}

/* Not the coarse clocks: the Sentry reads the host's, which lag the fine
 * ones by up to a tick, and a fine reading here followed by a coarse one
 * there would go back in time. */
static inline int served(long clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME;
}

int __vdso_clock_gettime(long clock, struct timespec *ts)
{
	u64 ns = served(clock) ? page_time(clock) : 0;
	if (!ns)
		return syscall2(SYS_clock_gettime, clock, (long)ts);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
	if (tv) {
		u64 ns = page_time(CLOCK_REALTIME);
		if (!ns)
			return syscall2(SYS_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		/* UTC, as the Sentry's gettimeofday says. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

#ifdef SYS_time
s64 __vdso_time(s64 *t)
{
	u64 ns = page_time(CLOCK_REALTIME);
	if (!ns)
		return syscall2(SYS_time, (long)t, 0);
	s64 sec = ns / NSEC_PER_SEC;
	if (t)
		*t = sec;
	return sec;
}

#endif

int __vdso_clock_getres(long clock, struct timespec *res)
{
	/* The fine clocks count in ns; the coarse ones, and the rest, as the
	 * Sentry says. */
	if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME)
		return syscall2(SYS_clock_getres, clock, (long)res);
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = 1;
	}
	return 0;
}

/* The Sentry's getcpu answers by the thread's affinity: so does this. */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	return syscall3(SYS_getcpu, (long)cpu, (long)node, (long)unused);
}

#if defined(__x86_64__)
int clock_gettime(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, struct timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
s64 time(s64 *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
#else
/* The names arm64's vDSO exports (no time or getcpu there). */
int __kernel_clock_gettime(long, struct timespec *) __attribute__((alias("__vdso_clock_gettime")));
int __kernel_gettimeofday(struct timeval *, struct timezone *) __attribute__((alias("__vdso_gettimeofday")));
int __kernel_clock_getres(long, struct timespec *) __attribute__((alias("__vdso_clock_getres")));
#endif
