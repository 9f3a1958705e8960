/* sysfuzz: a seeded system-call fuzzer that runs as the init of a Husk
 * sandbox (issue 11, item 6). It throws random system calls at the
 * Sentry: every x86_64 number from 0 to 460 plus numbers out of range,
 * with arguments drawn from boundary values (0, -1, page sizes, INT_MIN,
 * huge lengths), pointers to valid buffers and prebuilt structures,
 * unmapped, read-only, kernel and non-canonical pointers, fds it opened
 * and fds it did not. It also executes mutated copies of its own ELF
 * image, for the Sentry's loader.
 *
 * Usage: sysfuzz [-S] [-v] [-k] [-c CALLS_PER_BATCH] [-b FIRST_BATCH]
 *                [-B BATCHES] [-x I,J...] SEED [CALLS [SECONDS]]
 *
 * The calls run in batches, each in a forked child (so that a crash, a
 * stop or a hang ends only that batch): the child opens its fds, builds
 * its buffers and structures from the PRNG seeded with (SEED, batch
 * number), and makes CALLS_PER_BATCH calls. A periodic SIGALRM (re-armed
 * after any call that could disarm it) interrupts calls that sleep; a
 * batch that makes no progress for a while is killed, and its call
 * reported as a hang. After each batch this process (the sandbox's init)
 * kills every other process in the sandbox, reaps them, and removes what
 * the batch left in the filesystem and in SysV IPC. The run ends after
 * CALLS calls (0: no limit) or SECONDS seconds (0: no limit), whichever
 * comes first. Batch b of a seed is the same whatever the other
 * arguments, so `-b b -B 1` replays one batch.
 *
 *   -S  sync with a driver: print "sysfuzz: ready" once warmed up and
 *       "sysfuzz: batches done" after the last batch, and read a line
 *       from stdin after each (the driver samples the Sentry meanwhile).
 *   -v  trace each call to stderr before it is made (and its result after).
 *   -x I,J,...  leave out calls I, J... of each batch (made getpid), for
 *       narrowing a failure down to the calls that cause it.
 *   -k  keep clear of the Husk bugs this fuzzer found that are not fixed
 *       yet (KNOWN_BUG below), so that a run can find new ones.
 *
 * It prints the seed first and counts at the end, and exits 0 when the
 * run finished; 2 for bad usage or outside a Husk sandbox (it refuses to
 * run on a real kernel: as root it would change the host); 3 when a
 * process of the sandbox could not be killed; 4 when a batch changed
 * this process's memory (its canaries: pages it shares copy-on-write
 * with the batches).
 *
 * Build: cc -static -O1 -fno-stack-protector sysfuzz.c (the batch code
 * uses no TLS, since a fuzzed arch_prctl may move %fs). */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

/* ---- Layout --------------------------------------------------------- */

#define PAGE 4096UL
/* The shared status page (parent and batch child). */
#define STATUS_ADDR 0x100000000UL
/* The batch's buffers: pages [0, DATA) hold structures and strings,
 * [DATA, RO) random data, RO is read-only, GUARD is PROT_NONE, and the
 * pages after it are not mapped. */
#define SCRATCH_ADDR 0x200000000UL
#define SCRATCH_PAGES 64
#define DATA_PAGE 4
#define RO_PAGE 60
#define GUARD_PAGE 61
#define MAPPED_PAGES 62
#define SCRATCH_DATA (SCRATCH_ADDR + DATA_PAGE * PAGE)
#define DATA_LEN ((RO_PAGE - DATA_PAGE) * PAGE)
#define RO_ADDR (SCRATCH_ADDR + RO_PAGE * PAGE)
#define GUARD_ADDR (SCRATCH_ADDR + GUARD_PAGE * PAGE)
#define UNMAPPED_ADDR (SCRATCH_ADDR + MAPPED_PAGES * PAGE)
/* Where a batch builds a mutated ELF image. */
#define ELF_ADDR 0x300000000UL

#define NR_MAX 461    /* numbers 0..460 are x86_64's */
#define NR_BUCKETS 512 /* and one bucket for the rest */
#define TRACE_FD 1021  /* stderr, for -v */
/* The parent keeps its real stdout and stdin at fds no batch draws, and
 * makes its fds 0-2 /dev/null: the batches, which inherit them, never
 * write into the real ones, whatever they do to /dev. */
#define OUT_FD 700
#define IN_FD 701
#define NULL_FD 702

/* Seconds without progress before a batch counts as hung and is killed. */
#define HANG_SECONDS 3
/* How long a killed process may take to go. */
#define REAP_SECONDS 20

/* ---- Raw system calls ---------------------------------------------- */

static inline long sc6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* For clone, fork, vfork and clone3: the new task exits at once, in the
 * asm, touching neither memory nor its (maybe garbage) stack. */
static inline long sc6_fork(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov $60, %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "ud2\n\t"
			 "1:\n\t"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sc0(n) sc6((n), 0, 0, 0, 0, 0, 0)
#define sc1(n, a) sc6((n), (long)(a), 0, 0, 0, 0, 0)
#define sc2(n, a, b) sc6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sc3(n, a, b, c) sc6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sc4(n, a, b, c, d) sc6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* ---- PRNG: splitmix64 ---------------------------------------------- */

static uint64_t rng;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	rng += 0x9e3779b97f4a7c15ULL;
	return mix64(rng);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(unsigned n) /* 1 in n */
{
	return below(n) == 0;
}

#define PICK(arr) ((arr)[below(sizeof(arr) / sizeof((arr)[0]))])

/* ---- Shared status ------------------------------------------------- */

struct status {
	volatile uint64_t calls;   /* calls started in this batch */
	volatile uint64_t nr;      /* the current call */
	volatile uint64_t args[6];
	volatile uint64_t in_elf;  /* in an ELF exec test */
	volatile uint64_t elf_runs, elf_exec_failed, elf_ran, elf_killed;
	volatile uint32_t count[NR_BUCKETS];
	volatile uint32_t ok[NR_BUCKETS];
	volatile uint32_t nosys[NR_BUCKETS];
};

static struct status *st = (struct status *)STATUS_ADDR;

/* ---- Batch state ---------------------------------------------------- */

#define NFDS 48
static int fds[NFDS];
static int nfds;
static long fsbase;
static long last_child;
static uint64_t last_map, last_map_len;
/* The program break's range (the heap, which fork shares copy-on-write). */
static uint64_t brk_lo, brk_hi;
static int tracing;
static int avoid_known;
/* Calls (by index in the batch) to leave out, for narrowing a failure down. */
static uint64_t skip[64];
static int nskip;

/* The largest mapping or heap growth: past it, one read from /dev/zero
 * could fill the sandbox's memory limit, and end the run. */
#define BIG_MAP (256UL << 20)

/* Structures in the scratch pages: addresses of each, for 'p'. */
#define MAX_SLOTS 96
static uint64_t slots[MAX_SLOTS];
static int nslots;
static uint64_t iov_addr, msg_addr, mmsg_addr, sa_addr[8], ts_addr[10], sigset_addr[4];
static int nsa, nts;
static uint64_t path_addr[64], xname_addr[8];
static int npaths, nxnames;

static const char *const paths[] = {
	"/tmp/fz-a", "/tmp/fz-b", "/tmp/fz-dir", "/tmp/fz-dir/x", "/tmp/fz-link", "/tmp/fz-fifo",
	"/tmp/fz-sock", "/tmp", "/", ".", "..", "", "fz-rel", "/tmp/../tmp/./fz-a", "//tmp//fz-b/",
	"/tmp/fz-a/", "/tmp/fz-loop", "/proc/self/status", "/proc/self/maps", "/proc/self/mem",
	"/proc/self/fd/3", "/proc/self/fd", "/proc/self/exe", "/proc/self/cwd/tmp", "/proc/1/status",
	"/proc/self/task", "/proc/sys/kernel/hostname", "/proc/self/mountinfo", "/proc/self/stat",
	"/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/ptmx", "/dev/pts/0", "/dev/tty",
	"/dev/shm/fz", "/dev/mqueue/fz", "/fz-mq", "/sys/kernel", "/sys/fs/cgroup/memory.max",
	"/etc/passwd", "/progs", "/progs/sysfuzz", "/tmp/fz-elf", "/tmp/fz-dir/../../tmp",
	"/proc/self/fdinfo/3", "/proc/self/ns/net", "/proc/self/root/tmp/fz-b",
};

static const char *const xnames[] = {
	"user.fz", "user.", "security.selinux", "trusted.fz", "system.posix_acl_access", "",
	"user.fz2", "security.capability",
};

/* ---- Signals -------------------------------------------------------- */

struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

#define K_SA_RESTORER 0x04000000UL

extern void fz_restorer(void);
__asm__(".text\n"
	".globl fz_restorer\n"
	"fz_restorer:\n\t"
	"mov $15, %rax\n\t"
	"syscall\n\t"
	"ud2\n");

/* The SIGALRM handler interrupts sleeping calls. A fuzzed sigaction may
 * give it another signal: a fault signal then gets its default action,
 * so that the fault ends the batch rather than looping. */
static void on_signal(int sig)
{
	if (sig != SIGALRM) {
		struct ksigaction dfl = { 0 };
		sc4(SYS_rt_sigaction, sig, &dfl, 0, 8);
	}
}

static void install_alarm(void)
{
	struct ksigaction sa = { (uint64_t)on_signal, K_SA_RESTORER, (uint64_t)fz_restorer, 0 };
	sc4(SYS_rt_sigaction, SIGALRM, &sa, 0, 8);
	uint64_t m = 1ULL << (SIGALRM - 1);
	sc4(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, 0, 8);
}

static void arm_timer(void)
{
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	sc3(SYS_setitimer, ITIMER_REAL, &it, 0);
}

/* ---- Argument generation ------------------------------------------- */

static const uint64_t boundary[] = {
	0, 1, 2, 3, 4, 7, 8, 16, 63, 64, 255, 256, 4095, 4096, 4097, 8192, 65535, 65536,
	1UL << 20, 0x7fffffff, 0x80000000, 0xffffffff, 1UL << 32, (1UL << 32) + 1, 1UL << 40,
	1UL << 47, (1UL << 47) - 4096, 1UL << 62, 0x7fffffffffffffff, 0x8000000000000000,
	(uint64_t)-1, (uint64_t)-2, (uint64_t)-4095, (uint64_t)-4096, (uint64_t)INT_MIN,
	(uint64_t)(uint32_t)INT_MIN,
};

static const uint64_t bad_ptrs[] = {
	0, 1, 0xfff, 0x1000, 0x10000, (uint64_t)-1, (uint64_t)-4096, 0xffffffff81000000,
	0xffff888000000000, 0x0000800000000000, 0x00007ffffffff000, 0x00007fffffffffff,
	0x8000000000000000, GUARD_ADDR, GUARD_ADDR + 100, UNMAPPED_ADDR, UNMAPPED_ADDR + PAGE * 5,
	RO_ADDR, RO_ADDR + 1000, GUARD_ADDR - 1, GUARD_ADDR - 8, RO_ADDR - 16,
};

static uint64_t gen_len(void)
{
	switch (below(4)) {
	case 0: return below(65);
	case 1: return below(8193);
	default: return PICK(boundary);
	}
}

static uint64_t gen_int(void)
{
	switch (below(4)) {
	case 0:
	case 1: return below(21);
	case 2: return PICK(boundary);
	default: return (uint64_t)(int64_t)(int32_t)rnd();
	}
}

static uint64_t gen_flags(void)
{
	switch (below(10)) {
	case 0:
	case 1:
	case 2: return 0;
	case 3:
	case 4: return 1UL << below(32);
	case 5:
	case 6: return (1UL << below(32)) | (1UL << below(32));
	case 7: return rnd() & rnd() & rnd() & 0xffffffff;
	case 8: return chance(2) ? (uint64_t)-1 : 0xffffffff;
	default: return rnd();
	}
}

static uint64_t gen_fd(void)
{
	static const uint64_t odd_fds[] = {
		(uint64_t)-1, (uint64_t)-100, 1000000, 0x7fffffff, 1023, 1024, 20000, (uint64_t)INT_MIN,
		(1UL << 32) | 3, 0x80000000, 0, 1, 2,
	};
	if (nfds && below(100) < 82)
		return (uint64_t)(int64_t)fds[below(nfds)];
	return chance(3) ? below(64) : PICK(odd_fds);
}

static uint64_t gen_ptr(void)
{
	unsigned r = below(100);
	if (r < 40 && nslots)
		return slots[below(nslots)];
	if (r < 70) {
		uint64_t off = below(DATA_LEN);
		if (below(10) < 7)
			off &= ~7UL;
		if (chance(4))
			off &= ~(PAGE - 1);
		return SCRATCH_DATA + off;
	}
	if (r < 75)
		return RO_ADDR + (below(PAGE) & ~7UL);
	if (r < 80)
		return RO_ADDR - below(64);
	if (r < 84 && last_map)
		return last_map + (chance(2) ? 0 : below(last_map_len));
	return PICK(bad_ptrs);
}

static uint64_t gen_addr(void) /* for memory-management calls */
{
	static const uint64_t odd[] = {
		0, 0x1000, 0x10000, 1UL << 32, 1UL << 46, 0x7ffffffff000, 0x800000000000,
		0xffffffff81000000, (uint64_t)-4096, SCRATCH_ADDR + 1, SCRATCH_ADDR + 100 * PAGE,
		UNMAPPED_ADDR, GUARD_ADDR, RO_ADDR, 0x400000000UL,
	};
	unsigned r = below(100);
	if (r < 55)
		return SCRATCH_DATA + below(RO_PAGE - DATA_PAGE) * PAGE;
	if (r < 70 && last_map)
		return last_map + (chance(2) ? 0 : below(last_map_len) & ~(PAGE - 1));
	return PICK(odd);
}

static uint64_t gen_path(void)
{
	unsigned r = below(100);
	if (r < 80 && npaths)
		return path_addr[below(npaths)];
	return gen_ptr();
}

static uint64_t gen_pid(void)
{
	long me = sc0(SYS_getpid);
	const uint64_t pids[] = {
		0, (uint64_t)-1, 1, (uint64_t)me, (uint64_t)sc0(SYS_gettid), (uint64_t)last_child, 2,
		1000000, (uint64_t)INT_MIN, 0x7fffffff, (uint64_t)-me, (uint64_t)-1000000, 4194304,
	};
	return chance(6) ? below(100) : PICK(pids);
}

static uint64_t gen_sig(void)
{
	static const uint64_t sigs[] = {
		0, SIGKILL, SIGSTOP, SIGCONT, SIGCHLD, SIGUSR1, SIGALRM, SIGSEGV, SIGTERM, 32, 33, 34,
		64, 65, (uint64_t)-1, 1000, (uint64_t)INT_MIN, 0x7fffffff,
	};
	return chance(2) ? below(66) : PICK(sigs);
}

static uint64_t gen_uid(void)
{
	static const uint64_t ids[] = {
		0, 1, 1000, 65534, 65535, 0xffffffff, 0xfffffffe, 0x80000000, (uint64_t)-1,
	};
	return chance(5) ? rnd() : PICK(ids);
}

static uint64_t gen_mode(void)
{
	static const uint64_t modes[] = {
		0644, 0755, 0, 07777, 0777, S_IFREG | 0644, S_IFIFO | 0600, S_IFSOCK | 0600,
		S_IFCHR | 0600, S_IFBLK | 0600, S_IFDIR | 0755, S_IFLNK | 0777, 0xffff, (uint64_t)-1,
		04755, 01777,
	};
	return chance(4) ? below(0x10000) : PICK(modes);
}

static uint64_t gen_clock(void)
{
	static const uint64_t clocks[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, (uint64_t)-1, (uint64_t)-2,
					   (uint64_t)-6, 0x7fffffff, (uint64_t)((~1000UL << 3) | 2) };
	return PICK(clocks);
}

static uint64_t gen_cmd(int nr)
{
	static const uint64_t ioctls[] = {
		0x5401, 0x5402, 0x5403, 0x5404, 0x5405, 0x5406, 0x5409, 0x540a, 0x540b, 0x540e,
		0x540f, 0x5410, 0x5412, 0x5413, 0x5414, 0x5422, 0x541b, 0x5421, 0x5450, 0x5451,
		0x5452, 0x5429, 0x80045430, 0x40045431, 0x5441, 0x80045432, 0x8912, 0x8913, 0x8933,
		0x8927, 0x80086601, 0x40086602, 0x40049409, 0xc0189436, 0x2, 0, (uint64_t)-1,
		0xdeadbeef, 0x4008700d, 0x541c, 0x5423, 0x80047476,
	};
	static const uint64_t fcntls[] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 36, 37, 38, 1024, 1025, 1026, 1030,
		1031, 1032, 1033, 1034, 1035, 1036, 1037, 1038, (uint64_t)-1, 1000,
	};
	static const uint64_t arch[] = { 0x1001, 0x1002, 0x1003, 0x1004, 0x1011, 0x1012, 0x1021,
					 0x1022, 0x1023, 0x2001, 0x2002, 0x2003, 0x4001, 0x4002,
					 0x4003, 0x4004, 0, (uint64_t)-1 };
	switch (nr) {
	case SYS_ioctl: return chance(8) ? rnd() & 0xffffffff : PICK(ioctls);
	case SYS_fcntl: return PICK(fcntls);
	case SYS_arch_prctl: return PICK(arch);
	case SYS_prctl:
		return chance(8) ? (chance(2) ? 0x59616d61 : 0x53564d41) : below(80);
	case SYS_futex: {
		uint64_t op = below(14);
		if (chance(2))
			op |= 128; /* FUTEX_PRIVATE_FLAG */
		if (chance(4))
			op |= 256; /* FUTEX_CLOCK_REALTIME */
		return chance(10) ? rnd() & 0xffffffff : op;
	}
	default: return gen_int();
	}
}

static uint64_t gen_kind(char k, int nr)
{
	switch (k) {
	case 'f': return gen_fd();
	case 'd': return chance(3) ? (uint64_t)AT_FDCWD : gen_fd();
	case 's': return gen_path();
	case 'X': return below(10) < 8 && nxnames ? xname_addr[below(nxnames)] : gen_ptr();
	case 'p': return gen_ptr();
	case 'I': return below(10) < 7 ? iov_addr + 16 * below(8) : gen_ptr();
	case 'M':
		if (below(10) < 7)
			return (nr == SYS_recvmmsg || nr == SYS_sendmmsg) ? mmsg_addr : msg_addr + 64 * below(3);
		return gen_ptr();
	case 'A': return below(10) < 7 && nsa ? sa_addr[below(nsa)] : gen_ptr();
	case 't':
		if (chance(5))
			return 0;
		return below(10) < 7 && nts ? ts_addr[below(nts)] : gen_ptr();
	case 'l': return gen_len();
	case 'z': return below(10) < 8 ? 8 : gen_len();
	case 'F': return gen_flags();
	case 'r': return chance(6) ? gen_flags() : below(8) | (chance(8) ? PROT_GROWSDOWN : 0);
	case 'm': return gen_mode();
	case 'i': return gen_int();
	case 'c': return gen_cmd(nr);
	case 'P': return gen_pid();
	case 'S': return gen_sig();
	case 'u': return gen_uid();
	case 'a': return gen_addr();
	case 'C': return gen_clock();
	case 'D': {
		static const uint64_t doms[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, 40, 38, 0,
						 (uint64_t)-1, 45, 46 };
		return chance(4) ? below(46) : PICK(doms);
	}
	case 'Y': {
		static const uint64_t types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_RDM, 10, 0 };
		uint64_t t = chance(6) ? rnd() & 0xffffffff : PICK(types);
		if (chance(3))
			t |= SOCK_NONBLOCK;
		if (chance(3))
			t |= SOCK_CLOEXEC;
		return t;
	}
	case '0': return chance(8) ? gen_flags() : 0;
	default:
		switch (below(8)) {
		case 0: return rnd();
		case 1: return gen_ptr();
		case 2: return gen_fd();
		case 3: return gen_len();
		case 4: return gen_flags();
		default: return PICK(boundary);
		}
	}
}

/* Argument kinds of each call: f fd, d dirfd, s path, X xattr name, p
 * pointer, I iovec array, M msghdr, A sockaddr, t timespec, l length, z
 * sigset size, F flags, r prot, m mode, i int, c command, P pid, S
 * signal, u uid, a address, C clock, D domain, Y socket type, 0 mostly
 * zero, x anything. */
static const char *const sig[NR_MAX] = {
	[0] = "fpl", [1] = "fpl", [2] = "sFm", [3] = "f", [4] = "sp", [5] = "fp", [6] = "sp",
	[7] = "pli", [8] = "fxi", [9] = "alrFfx", [10] = "alr", [11] = "al", [12] = "a",
	[13] = "Sppz", [14] = "ippz", [15] = "", [16] = "fcp", [17] = "fplx", [18] = "fplx",
	[19] = "fIl", [20] = "fIl", [21] = "si", [22] = "p", [23] = "lpppt", [24] = "",
	[25] = "allFa", [26] = "alF", [27] = "alp", [28] = "ali", [29] = "xlF", [30] = "iaF",
	[31] = "iip", [32] = "f", [33] = "ff", [34] = "", [35] = "tp", [36] = "ip", [37] = "i",
	[38] = "ipp", [39] = "", [40] = "ffpl", [41] = "DYi", [42] = "fAl", [43] = "fAp",
	[44] = "fplFAl", [45] = "fplFAp", [46] = "fMF", [47] = "fMF", [48] = "fi", [49] = "fAl",
	[50] = "fi", [51] = "fAp", [52] = "fAp", [53] = "DYip", [54] = "fiipl", [55] = "fiipp",
	[56] = "Faapp", [57] = "", [58] = "", [59] = "spp", [61] = "PpFp", [62] = "PS", [63] = "p",
	[64] = "xiF", [65] = "ipl", [66] = "iiix", [67] = "a", [68] = "xF", [69] = "iplF",
	[70] = "iplxF", [71] = "iip", [72] = "fcx", [73] = "fi", [74] = "f", [75] = "f",
	[76] = "sx", [77] = "fx", [78] = "fpl", [79] = "pl", [80] = "s", [81] = "f", [82] = "ss",
	[83] = "sm", [84] = "s", [85] = "sm", [86] = "ss", [87] = "s", [88] = "ss", [89] = "spl",
	[90] = "sm", [91] = "fm", [92] = "suu", [93] = "fuu", [94] = "suu", [95] = "m",
	[96] = "pp", [97] = "ip", [98] = "ip", [99] = "p", [100] = "p", [101] = "iPpx",
	[102] = "", [103] = "ipl", [104] = "", [105] = "u", [106] = "u", [107] = "", [108] = "",
	[109] = "PP", [110] = "", [111] = "", [112] = "", [113] = "uu", [114] = "uu",
	[115] = "lp", [116] = "lp", [117] = "uuu", [118] = "ppp", [119] = "uuu", [120] = "ppp",
	[121] = "P", [122] = "u", [123] = "u", [124] = "P", [125] = "pp", [126] = "pp",
	[127] = "pz", [128] = "pptz", [129] = "PSp", [130] = "pz", [131] = "pp", [132] = "sp",
	[133] = "smx", [134] = "s", [135] = "x", [136] = "xp", [137] = "sp", [138] = "fp",
	[139] = "ixx", [140] = "iP", [141] = "iPi", [142] = "Pp", [143] = "Pp", [144] = "Pip",
	[145] = "P", [146] = "i", [147] = "i", [148] = "Pp", [149] = "al", [150] = "al",
	[151] = "F", [152] = "", [153] = "", [154] = "ipl", [155] = "ss", [156] = "p",
	[157] = "cxxxx", [158] = "cp", [159] = "p", [160] = "ip", [161] = "s", [162] = "",
	[163] = "s", [164] = "pp", [165] = "sssFp", [166] = "sF", [167] = "sF", [168] = "s",
	[169] = "xxxp", [170] = "pl", [171] = "pl", [172] = "i", [173] = "xxi", [175] = "plp",
	[176] = "sF", [179] = "xspp", [186] = "", [187] = "fxl", [188] = "sXplF",
	[189] = "sXplF", [190] = "fXplF", [191] = "sXpl", [192] = "sXpl", [193] = "fXpl",
	[194] = "spl", [195] = "spl", [196] = "fpl", [197] = "sX", [198] = "sX", [199] = "fX",
	[200] = "PS", [201] = "p", [202] = "pcxtpx", [203] = "Plp", [204] = "Plp", [205] = "p",
	[206] = "lp", [207] = "x", [208] = "xllpt", [209] = "xlp", [210] = "xpp", [211] = "p",
	[212] = "xpl", [213] = "l", [216] = "alrxF", [217] = "fpl", [218] = "p", [219] = "",
	[220] = "iplt", [221] = "fxli", [222] = "Cpp", [223] = "iFpp", [224] = "ip", [225] = "i",
	[226] = "i", [227] = "Cp", [228] = "Cp", [229] = "Cp", [230] = "CFtp", [232] = "fpli",
	[233] = "fifp", [234] = "PPS", [235] = "sp", [237] = "aliplF", [238] = "ipl",
	[239] = "pplaF", [240] = "sFmp", [241] = "s", [242] = "fplit", [243] = "fplpt",
	[244] = "fp", [245] = "fpp", [246] = "xlpF", [247] = "iPpFp", [248] = "ssplx",
	[249] = "sssx", [250] = "ixxxx", [251] = "iPx", [252] = "iP", [253] = "", [254] = "fsF",
	[255] = "fi", [256] = "Plpp", [257] = "dsFm", [258] = "dsm", [259] = "dsmx",
	[260] = "dsuuF", [261] = "dsp", [262] = "dspF", [263] = "dsF", [264] = "dsds",
	[265] = "dsdsF", [266] = "sds", [267] = "dspl", [268] = "dsm", [269] = "dsi",
	[270] = "lppptp", [271] = "pltpz", [272] = "F", [273] = "pl", [274] = "Ppp",
	[275] = "fpfplF", [276] = "fflF", [277] = "fxlF", [278] = "fIlF", [279] = "PlpppF",
	[280] = "dspF", [281] = "fplipz", [282] = "fpz", [283] = "CF", [284] = "x",
	[285] = "fixl", [286] = "fFpp", [287] = "fp", [288] = "fApF", [289] = "fpzF",
	[290] = "xF", [291] = "F", [292] = "ffF", [293] = "pF", [294] = "F", [295] = "fIlxx",
	[296] = "fIlxx", [297] = "PPSp", [298] = "pPifF", [299] = "fMlFt", [300] = "FF",
	[301] = "fFxds", [302] = "Pipp", [303] = "dsppF", [304] = "fpF", [305] = "Cp",
	[306] = "f", [307] = "fMlF", [308] = "fF", [309] = "ppp", [310] = "PIlIlF",
	[311] = "PIlIlF", [312] = "PPiff", [313] = "fsF", [314] = "PpF", [315] = "PplF",
	[316] = "dsdsF", [317] = "iFp", [318] = "plF", [319] = "sF", [320] = "fflsF",
	[321] = "ipl", [322] = "dsppF", [323] = "F", [324] = "iFi", [325] = "alF",
	[326] = "fpfplF", [327] = "fIlxxF", [328] = "fIlxxF", [329] = "alri", [330] = "FF",
	[331] = "i", [332] = "dsFFp", [333] = "xllptp", [334] = "plFx", [424] = "fSpF",
	[425] = "lp", [426] = "fllFpz", [427] = "fipl", [428] = "dsF", [429] = "dsdsF",
	[430] = "sF", [431] = "fispi", [432] = "fFF", [433] = "dsF", [434] = "PF", [435] = "pl",
	[436] = "ffF", [437] = "dspl", [438] = "ffF", [439] = "dsiF", [440] = "fIliF",
	[441] = "fpltpz", [442] = "dsFpl", [443] = "fiup", [444] = "plF", [445] = "fipF",
	[446] = "fF", [447] = "F", [448] = "fF", [449] = "plFtC", [450] = "alxF",
	[451] = "fppF", [452] = "dsmF", [453] = "alF", [454] = "pxlF", [455] = "pxxFtC",
	[456] = "pFll", [457] = "pplF", [458] = "pplF", [459] = "ippF", [460] = "iplF",
};

static uint64_t pick_nr(void)
{
	if (below(100) < 92) {
		for (;;) {
			uint64_t nr = below(NR_MAX);
			if (nr == SYS_exit || nr == SYS_exit_group)
				continue;
			/* rt_sigreturn with a garbage frame jumps anywhere: rarely. */
			if (nr == SYS_rt_sigreturn && !chance(8))
				continue;
			return nr;
		}
	}
	static const uint64_t odd[] = {
		461, 462, 500, 511, 512, 547, 548, 1000, 4096, 0x7fffffff, 0x80000000, 0xffffffff,
		(uint64_t)-1, (uint64_t)-2, 1UL << 32, 1UL << 63,
	};
	switch (below(4)) {
	case 0: return 461 + below(600);
	case 1: return 0x40000000 | below(548); /* the x32 bit */
	case 2: return (1UL << 32) | below(NR_MAX);
	default: return PICK(odd);
	}
}

/* ---- Scratch: structures, strings, data ---------------------------- */

static void add_slot(uint64_t a)
{
	if (nslots < MAX_SLOTS)
		slots[nslots++] = a;
}

static int pool_fd(void)
{
	return nfds ? fds[below(nfds)] : -1;
}

static void fill_random(void *p, size_t len)
{
	uint8_t *b = p;
	size_t i = 0;
	while (i < len) {
		uint64_t r = rnd();
		unsigned style = below(4);
		size_t n = 8 + below(248);
		for (size_t j = 0; j < n && i < len; j++, i++) {
			switch (style) {
			case 0: b[i] = 0; break;
			case 1: b[i] = (uint8_t)(r >> (8 * (j % 8))); break;
			case 2: b[i] = (j % 8 == 0) ? (uint8_t)below(16) : 0; break;
			default: b[i] = (uint8_t)rnd(); break;
			}
		}
	}
	/* Some words are pointers into the data pages. */
	uint64_t *w = p;
	for (size_t k = 0; k < len / 64; k++)
		w[below(len / 8)] = SCRATCH_DATA + (below(DATA_LEN) & ~7UL);
}

/* Builds the structures (pages 0-1) and strings (pages 2-3). */
static void build_structs(void)
{
	uint8_t *s = (uint8_t *)SCRATCH_ADDR;
	memset(s, 0, DATA_PAGE * PAGE);
	nslots = nsa = nts = npaths = nxnames = 0;

	/* iovecs: 32 of them, most into the data pages. */
	struct iovec *iov = (struct iovec *)s;
	iov_addr = (uint64_t)iov;
	for (int i = 0; i < 32; i++) {
		if (chance(8)) {
			iov[i].iov_base = (void *)PICK(bad_ptrs);
			iov[i].iov_len = gen_len();
		} else {
			iov[i].iov_base = (void *)(SCRATCH_DATA + below(DATA_LEN - 8192));
			iov[i].iov_len = chance(10) ? PICK(boundary) : below(4097);
		}
	}
	add_slot(iov_addr);

	/* Socket addresses, 128 bytes apart. */
	uint8_t *sa = s + 1024;
	struct sockaddr_un *un = (struct sockaddr_un *)sa;
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, "/tmp/fz-sock");
	struct sockaddr_un *abs = (struct sockaddr_un *)(sa + 128);
	abs->sun_family = AF_UNIX;
	memcpy(abs->sun_path, "\0fz-abstract", 12);
	struct sockaddr_in *in = (struct sockaddr_in *)(sa + 256);
	in->sin_family = AF_INET;
	in->sin_port = htons(20000 + below(4));
	in->sin_addr.s_addr = htonl(chance(4) ? 0 : 0x7f000001);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(sa + 384);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(20000 + below(4));
	in6->sin6_addr.s6_addr[15] = 1;
	struct sockaddr_un *unnamed = (struct sockaddr_un *)(sa + 512);
	unnamed->sun_family = AF_UNIX;
	fill_random(sa + 640, 128);
	*(uint16_t *)(sa + 640) = (uint16_t)below(46);
	for (int i = 0; i < 6; i++)
		sa_addr[nsa++] = (uint64_t)(sa + 128 * i);

	/* Timespecs (also read as timevals, itimerspecs, itimervals). */
	int64_t *ts = (int64_t *)(s + 1792);
	static const int64_t tv[][2] = {
		{ 0, 0 }, { 0, 1000 }, { 0, 5000000 }, { 0, 999999999 }, { 0, 1000000000 },
		{ -1, 0 }, { 1L << 40, 0 }, { 0, -1 }, { 0, 2000000 }, { 0, 100 },
	};
	for (int i = 0; i < 10; i++) {
		ts[2 * i] = tv[i][0];
		ts[2 * i + 1] = tv[i][1];
		if (i < 9)
			ts_addr[nts++] = (uint64_t)&ts[2 * i];
	}

	/* Sigsets: empty, full, random, SIGUSR1. */
	uint64_t *ss = (uint64_t *)(s + 2048);
	ss[0] = 0;
	ss[1] = (uint64_t)-1;
	ss[2] = rnd();
	ss[3] = 1UL << (SIGUSR1 - 1);
	for (int i = 0; i < 4; i++) {
		ss[i] &= ~(1UL << (SIGALRM - 1));
		sigset_addr[i] = (uint64_t)&ss[i];
		add_slot(sigset_addr[i]);
	}

	/* Sigactions: ignore, default, our handler, garbage. */
	struct ksigaction *ka = (struct ksigaction *)(s + 2112);
	ka[0] = (struct ksigaction){ (uint64_t)SIG_IGN, K_SA_RESTORER, (uint64_t)fz_restorer, 0 };
	ka[1] = (struct ksigaction){ (uint64_t)SIG_DFL, rnd() & 0xffffffff, 0, rnd() };
	ka[2] = (struct ksigaction){ (uint64_t)on_signal, K_SA_RESTORER | (chance(2) ? SA_RESTART : 0),
				     (uint64_t)fz_restorer, rnd() };
	ka[3] = (struct ksigaction){ chance(4) ? rnd() : (uint64_t)SIG_IGN, rnd(), rnd(), rnd() };
	for (int i = 0; i < 4; i++)
		add_slot((uint64_t)&ka[i]);

	/* pollfds and epoll_events over pool fds. */
	struct pollfd *pfd = (struct pollfd *)(s + 2304);
	for (int i = 0; i < 16; i++) {
		pfd[i].fd = pool_fd();
		pfd[i].events = (short)(chance(3) ? rnd() : POLLIN | POLLOUT);
	}
	add_slot((uint64_t)pfd);
	struct epoll_event *ev = (struct epoll_event *)(s + 2432);
	for (int i = 0; i < 4; i++) {
		ev[i].events = (uint32_t)(chance(3) ? rnd() : EPOLLIN | EPOLLOUT | (chance(2) ? EPOLLET : 0));
		ev[i].data.u64 = rnd();
	}
	add_slot((uint64_t)ev);

	/* rlimits, itimervals, sigevents. */
	uint64_t *rl = (uint64_t *)(s + 2496);
	rl[0] = chance(2) ? 1024 : gen_len();
	rl[1] = chance(2) ? rl[0] : (uint64_t)-1;
	add_slot((uint64_t)rl);
	int *sev = (int *)(s + 2512); /* sigev_value, signo, notify, tid */
	sev[2] = (int)gen_sig();
	sev[3] = (int)below(5);
	sev[4] = (int)sc0(SYS_gettid);
	add_slot((uint64_t)sev);

	/* clone_args. */
	uint64_t *ca = (uint64_t *)(s + 2560);
	ca[0] = gen_flags() & ~(uint64_t)CLONE_VFORK; /* flags */
	ca[1] = chance(2) ? (uint64_t)(s + 2700) : 0;  /* pidfd */
	ca[2] = chance(2) ? (uint64_t)(s + 2708) : 0;  /* child_tid */
	ca[3] = chance(2) ? (uint64_t)(s + 2716) : 0;  /* parent_tid */
	ca[4] = chance(2) ? SIGCHLD : gen_sig();        /* exit_signal */
	ca[5] = chance(2) ? SCRATCH_DATA : 0;           /* stack */
	ca[6] = chance(2) ? 8192 : gen_len();           /* stack_size */
	ca[7] = 0;                                      /* tls */
	add_slot((uint64_t)ca);

	/* open_how: flags, mode, resolve. */
	uint64_t *how = (uint64_t *)(s + 2752);
	how[0] = chance(2) ? (uint64_t)(O_RDWR | O_CREAT) : gen_flags();
	how[1] = chance(2) ? 0644 : gen_mode();
	how[2] = chance(2) ? 0 : 1UL << below(6);
	add_slot((uint64_t)how);

	/* sembufs, a msgbuf, a futex word. */
	uint16_t *sb = (uint16_t *)(s + 2784);
	for (int i = 0; i < 4; i++) {
		sb[3 * i] = (uint16_t)below(4);
		sb[3 * i + 1] = (uint16_t)(below(5) - 2);
		sb[3 * i + 2] = (uint16_t)(chance(2) ? IPC_NOWAIT : 0);
	}
	add_slot((uint64_t)sb);
	uint64_t *msgbuf = (uint64_t *)(s + 2816);
	msgbuf[0] = 1 + below(3);
	add_slot((uint64_t)msgbuf);
	add_slot((uint64_t)(s + 2880)); /* a zero futex word */

	/* argv and envp arrays. */
	uint64_t *argv = (uint64_t *)(s + 2944);
	argv[0] = (uint64_t)(s + 3968);
	argv[1] = 0;
	add_slot((uint64_t)argv);
	strcpy((char *)(s + 3968), "fz");

	/* msghdrs with an SCM_RIGHTS control message, and mmsghdrs. */
	uint8_t *cmsg = s + 3072;
	struct cmsghdr *c = (struct cmsghdr *)cmsg;
	c->cmsg_len = CMSG_LEN(3 * sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = chance(4) ? SCM_CREDENTIALS : SCM_RIGHTS;
	int *cfd = (int *)CMSG_DATA(c);
	for (int i = 0; i < 3; i++)
		cfd[i] = chance(6) ? (int)gen_fd() : pool_fd();
	struct msghdr *m = (struct msghdr *)(s + 3200);
	msg_addr = (uint64_t)m;
	for (int i = 0; i < 3; i++) {
		m[i].msg_name = chance(2) ? NULL : (void *)sa_addr[below(nsa)];
		m[i].msg_namelen = m[i].msg_name ? (chance(4) ? (socklen_t)gen_len() : 110) : 0;
		m[i].msg_iov = (struct iovec *)(iov_addr + 16 * below(8));
		m[i].msg_iovlen = chance(8) ? gen_len() : below(5);
		m[i].msg_control = i == 2 || chance(3) ? (void *)cmsg : NULL;
		m[i].msg_controllen = m[i].msg_control ? (chance(5) ? gen_len() : CMSG_SPACE(3 * sizeof(int))) : 0;
		m[i].msg_flags = 0;
	}
	struct mmsghdr *mm = (struct mmsghdr *)(s + 3392);
	mmsg_addr = (uint64_t)mm;
	for (int i = 0; i < 4; i++) {
		mm[i].msg_hdr = m[i % 3];
		mm[i].msg_len = 0;
	}

	/* Paths (page 2), xattr names, and a long path (page 3). */
	char *pp = (char *)(s + 2 * PAGE);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && npaths < 60; i++) {
		strcpy(pp, paths[i]);
		path_addr[npaths++] = (uint64_t)pp;
		pp += strlen(paths[i]) + 1;
	}
	for (size_t i = 0; i < sizeof(xnames) / sizeof(xnames[0]); i++) {
		strcpy(pp, xnames[i]);
		xname_addr[nxnames++] = (uint64_t)pp;
		pp += strlen(xnames[i]) + 1;
	}
	/* A 300-byte name and a 4500-byte path (from page 3 into page 4,
	 * the first data page, whose first bytes are set here). */
	char *longname = pp;
	memset(longname, 'n', 300);
	longname[300] = 0;
	path_addr[npaths++] = (uint64_t)longname;
	char *longpath = (char *)(s + 3 * PAGE);
	memset(longpath, 'a', 4500);
	for (int i = 100; i < 4500; i += 100)
		longpath[i] = '/';
	longpath[4500] = 0;
	path_addr[npaths++] = (uint64_t)longpath;
	path_addr[npaths++] = GUARD_ADDR - 8; /* runs into the guard page */
}

/* ---- Batch setup ---------------------------------------------------- */

/* Adds an fd to the pool; a failed open adds its -errno result too, so
 * that a batch draws the same numbers whatever failed. */
static void add_fd(int fd)
{
	if (nfds < NFDS)
		fds[nfds++] = fd;
	else
		fds[below(NFDS)] = fd;
}

static void setup_fds(void)
{
	int p[2], sv[2];
	nfds = 0;
	add_fd(0);
	add_fd(1);
	add_fd(2);
	int f = open("/tmp/fz-a", O_RDWR | O_CREAT | O_NONBLOCK, 0644);
	if (f >= 0) {
		char buf[4096];
		memset(buf, 'x', sizeof buf);
		for (int i = 0; i < 16; i++)
			if (write(f, buf, sizeof buf) < 0)
				break;
	}
	add_fd(f);
	add_fd(open("/tmp/fz-b", O_RDONLY | O_CREAT | O_NONBLOCK, 0600));
	add_fd(open("/tmp", O_RDONLY | O_DIRECTORY));
	add_fd(open("/", O_RDONLY | O_DIRECTORY));
	add_fd(open("/progs/sysfuzz", O_RDONLY | O_NONBLOCK));
	add_fd(open("/progs", O_PATH));
	if (pipe2(p, chance(2) ? O_NONBLOCK : 0) == 0) {
		add_fd(p[0]);
		add_fd(p[1]);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		add_fd(sv[0]);
		add_fd(sv[1]);
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0) {
		add_fd(sv[0]);
		add_fd(sv[1]);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0)
		add_fd(sv[0]);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	strcpy(un.sun_path, "/tmp/fz-sock");
	if (l >= 0 && bind(l, (struct sockaddr *)&un, sizeof un) == 0)
		listen(l, 4);
	add_fd(l);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(20000 + below(4)),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	if (t >= 0 && bind(t, (struct sockaddr *)&in, sizeof in) == 0)
		listen(t, 4);
	add_fd(t);
	add_fd(socket(AF_INET, SOCK_DGRAM, 0));
	add_fd(socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0));
	add_fd(eventfd(below(3), chance(2) ? EFD_NONBLOCK : 0));
	int ep = epoll_create1(0);
	add_fd(ep);
	add_fd(timerfd_create(CLOCK_MONOTONIC, 0));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	add_fd(signalfd(-1, &set, 0));
	int in_fd = inotify_init1(0);
	if (in_fd >= 0)
		inotify_add_watch(in_fd, "/tmp", IN_ALL_EVENTS);
	add_fd(in_fd);
	add_fd((int)sc2(SYS_memfd_create, "fz", chance(2) ? MFD_ALLOW_SEALING : 0));
	add_fd((int)sc2(SYS_pidfd_open, sc0(SYS_getpid), 0));
	add_fd(open("/dev/null", O_RDWR | O_NONBLOCK));
	add_fd(open("/dev/zero", O_RDWR | O_NONBLOCK));
	add_fd(open("/dev/urandom", O_RDONLY | O_NONBLOCK));
	add_fd(open("/proc/self/status", O_RDONLY | O_NONBLOCK));
	add_fd(open("/proc/self/mem", O_RDWR));
	int ptm = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (ptm >= 0) {
		int unlock = 0;
		ioctl(ptm, 0x40045431 /* TIOCSPTLCK */, &unlock);
		add_fd((int)ioctl(ptm, 0x5441 /* TIOCGPTPEER */, O_RDWR | O_NOCTTY));
	}
	add_fd(ptm);
	add_fd(mkfifo("/tmp/fz-fifo", 0644) == 0 ? open("/tmp/fz-fifo", O_RDWR | O_NONBLOCK) : -1);
	for (int i = 0; i < 3 && ep >= 0; i++) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)i };
		int fd = pool_fd();
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	}
	if (chance(2))
		symlink("/tmp/fz-loop", "/tmp/fz-loop");
	if (chance(2))
		symlink("/tmp/fz-a", "/tmp/fz-link");
	mkdir("/tmp/fz-dir", 0755);
}

/* ---- The mutated-ELF test ------------------------------------------ */

static uint8_t *elf_tmpl;
static size_t elf_len;

static uint64_t field_value(uint64_t orig, uint64_t size)
{
	switch (below(8)) {
	case 0: return orig + 1;
	case 1: return orig - 1;
	case 2: return orig ^ (1UL << below(64));
	case 3: return orig + PAGE;
	case 4: return size;
	case 5: return size + 1 + below(PAGE);
	case 6: return rnd();
	default: return PICK(boundary);
	}
}

static void put(uint8_t *b, size_t off, unsigned width, uint64_t v)
{
	memcpy(b + off, &v, width);
}

static uint64_t get(const uint8_t *b, size_t off, unsigned width)
{
	uint64_t v = 0;
	memcpy(&v, b + off, width);
	return v;
}

/* Mutates the image in place; returns its new length. */
static size_t mutate_elf(uint8_t *b, size_t len, int with_interp)
{
	static const struct { uint16_t off; uint8_t width; } ehdr_fields[] = {
		{ 4, 1 }, { 5, 1 }, { 6, 1 }, { 7, 1 }, { 16, 2 }, { 18, 2 }, { 20, 4 }, { 24, 8 },
		{ 32, 8 }, { 40, 8 }, { 48, 4 }, { 52, 2 }, { 54, 2 }, { 56, 2 }, { 58, 2 }, { 60, 2 },
		{ 62, 2 },
	};
	static const struct { uint8_t off; uint8_t width; } phdr_fields[] = {
		{ 0, 4 }, { 4, 4 }, { 8, 8 }, { 16, 8 }, { 24, 8 }, { 32, 8 }, { 40, 8 }, { 48, 8 },
	};
	static const uint64_t ptypes[] = { PT_LOAD, PT_INTERP, PT_PHDR, PT_DYNAMIC, PT_NOTE, PT_TLS,
					   PT_GNU_STACK, PT_GNU_RELRO, 0, 0x70000000, 0xffffffff };
	uint64_t phoff = get(b, 32, 8);
	uint64_t phnum = get(b, 56, 2);
	if (chance(4))
		put(b, 16, 2, get(b, 16, 2) == ET_EXEC ? ET_DYN : ET_EXEC);
	if (with_interp && phoff + phnum * 56 <= len && phnum > 0) {
		/* A PT_INTERP naming /tmp/fz-elf-i, its string at offset 0x200. */
		uint64_t i = below(phnum);
		const char *name = "/tmp/fz-elf-i";
		size_t n = strlen(name) + 1;
		if (0x200 + n <= len) {
			memcpy(b + 0x200, name, n);
			uint8_t *ph = b + phoff + 56 * i;
			put(ph, 0, 4, PT_INTERP);
			put(ph, 8, 8, 0x200);
			put(ph, 32, 8, chance(8) ? field_value(n, len) : n);
		}
	}
	int k = 1 + (int)below(4);
	for (int m = 0; m < k; m++) {
		unsigned what = below(10);
		if (what < 3) {
			unsigned f = below(sizeof(ehdr_fields) / sizeof(ehdr_fields[0]));
			size_t off = ehdr_fields[f].off;
			unsigned w = ehdr_fields[f].width;
			put(b, off, w, field_value(get(b, off, w), len));
		} else if (what < 8 && phnum > 0 && phoff + phnum * 56 <= len) {
			uint8_t *ph = b + phoff + 56 * below(phnum);
			unsigned f = below(sizeof(phdr_fields) / sizeof(phdr_fields[0]));
			size_t off = phdr_fields[f].off;
			unsigned w = phdr_fields[f].width;
			uint64_t v = off == 0 && chance(2) ? PICK(ptypes) : field_value(get(ph, off, w), len);
			put(ph, off, w, v);
		} else if (what < 9) {
			for (int j = 0; j < 8; j++)
				b[below(len < 4096 ? len : 4096)] ^= (uint8_t)(1 << below(8));
		} else {
			static const size_t cuts[] = { 0, 1, 63, 64, 65, 120, 4096, 8192 };
			size_t cut = chance(2) ? PICK(cuts) : below(len);
			if (cut < len)
				len = cut;
		}
	}
	return len;
}

static int write_file(const char *path, const uint8_t *b, size_t len)
{
	sc1(SYS_unlink, path);
	int fd = (int)sc4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		long n = sc3(SYS_write, fd, b + done, len - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	sc1(SYS_close, fd);
	return done == len ? 0 : -1;
}

static void elf_op(void)
{
	if (!elf_tmpl || elf_len < 64)
		return;
	uint8_t *b = (uint8_t *)ELF_ADDR;
	long m = sc6(SYS_mmap, ELF_ADDR, (long)((elf_len + PAGE - 1) & ~(PAGE - 1)), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (m != (long)ELF_ADDR)
		return;
	st->in_elf = 1;
	int interp = chance(3);
	memcpy(b, elf_tmpl, elf_len);
	size_t len = mutate_elf(b, elf_len, interp);
	int ok = write_file("/tmp/fz-elf", b, len) == 0;
	if (ok && interp) {
		memcpy(b, elf_tmpl, elf_len);
		size_t ilen = chance(2) ? elf_len : mutate_elf(b, elf_len, chance(4));
		ok = write_file("/tmp/fz-elf-i", b, ilen) == 0;
	}
	sc2(SYS_munmap, ELF_ADDR, (long)((elf_len + PAGE - 1) & ~(PAGE - 1)));
	if (!ok) {
		st->in_elf = 0;
		return;
	}
	st->elf_runs++;
	static char *const argv[] = { "fz-elf", "--elf-child", NULL };
	static char *const envp[] = { NULL };
	long pid = sc0(SYS_fork);
	if (pid == 0) {
		long e = sc3(SYS_execve, "/tmp/fz-elf", argv, envp);
		sc1(SYS_exit_group, 100 + (-e & 0x7f) % 100);
	}
	if (tracing) {
		char buf[96];
		int n = snprintf(buf, sizeof buf, "sysfuzz: elf test: pid %ld, %zu bytes%s\n", pid, len,
				 interp ? ", with an interpreter" : "");
		if (n > 0)
			sc3(SYS_write, TRACE_FD, buf, n);
	}
	if (pid > 0) {
		int status = 0;
		long r = 0;
		for (int i = 0; i < 100; i++) {
			r = sc4(SYS_wait4, pid, &status, WNOHANG, 0);
			if (r != 0 && r != -EINTR)
				break;
			struct timespec ts = { 0, 2000000 };
			sc2(SYS_nanosleep, &ts, 0);
		}
		if (r == 0 || r == -EINTR) {
			sc2(SYS_kill, pid, SIGKILL);
			while (sc4(SYS_wait4, pid, &status, 0, 0) == -EINTR)
				;
			st->elf_killed++;
		} else if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) >= 100) {
			st->elf_exec_failed++;
		} else {
			st->elf_ran++;
		}
	}
	st->in_elf = 0;
}

/* ---- One call ------------------------------------------------------- */

static int is_fd_result(uint64_t nr)
{
	switch (nr) {
	case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat: case SYS_dup: case SYS_dup2:
	case SYS_dup3: case SYS_socket: case SYS_accept: case SYS_accept4: case SYS_epoll_create:
	case SYS_epoll_create1: case SYS_eventfd: case SYS_eventfd2: case SYS_timerfd_create:
	case SYS_signalfd: case SYS_signalfd4: case SYS_inotify_init: case SYS_inotify_init1:
	case SYS_memfd_create: case SYS_pidfd_open: case SYS_pidfd_getfd: case SYS_fcntl:
	case SYS_mq_open: case SYS_io_uring_setup: case SYS_open_tree: case SYS_fsopen:
	case SYS_fsmount: case SYS_fspick: case SYS_userfaultfd: case SYS_fanotify_init:
	case SYS_perf_event_open: case SYS_memfd_secret:
		return 1;
	default:
		return 0;
	}
}

/* Keeps a SIGALRM-blocking mask out of the calls that sleep with one. */
static void unblock_alarm_in(uint64_t p)
{
	/* SIGALRM is bit 13: in the mask's second byte. (The read-only page
	 * holds letters, in which that bit is clear.) */
	if (p >= SCRATCH_ADDR && p + 2 <= RO_ADDR)
		*(uint8_t *)(p + 1) &= (uint8_t) ~(1U << (SIGALRM - 9));
}

/* Counts, re-arms what the call may have disarmed, and learns new fds
 * and mappings. */
static void after_call(uint64_t nr, uint64_t *a, long ret)
{
	uint64_t bucket = nr < NR_BUCKETS - 1 ? nr : NR_BUCKETS - 1;
	st->count[bucket]++;
	if (ret >= 0 || (ret < -4095))
		st->ok[bucket]++;
	else if (ret == -ENOSYS)
		st->nosys[bucket]++;
	switch (nr) {
	case SYS_arch_prctl:
		sc2(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, fsbase);
		break;
	case SYS_rt_sigaction: case SYS_rt_sigprocmask: case SYS_rt_sigreturn: case SYS_signalfd:
	case SYS_signalfd4: case SYS_rt_sigsuspend: case SYS_sigaltstack:
		install_alarm();
		break;
	case SYS_setitimer: case SYS_alarm:
		arm_timer();
		break;
	case SYS_clone: case SYS_fork: case SYS_vfork: case SYS_clone3:
		if (ret > 0)
			last_child = ret;
		break;
	case SYS_brk:
		if (ret > 0 && (uint64_t)ret > brk_hi)
			brk_hi = (uint64_t)ret;
		break;
	case SYS_mmap: case SYS_mremap: case SYS_shmat:
		if (ret > 0 && (uint64_t)ret < (1UL << 47)) {
			uint64_t len = nr == SYS_mmap ? a[1] : nr == SYS_mremap ? a[2] : PAGE;
			/* Big mappings stay out of the pointer pool, lest a read fill gigabytes. */
			if (len <= (16UL << 20)) {
				last_map = (uint64_t)ret;
				last_map_len = len ? len : 1;
			}
		}
		break;
	case SYS_munmap:
		if (last_map && a[0] <= last_map + last_map_len && a[0] + a[1] > last_map)
			last_map = 0;
		break;
	}
	if (ret >= 0 && ret < 1024 && is_fd_result(nr) && !(nr == SYS_fcntl && a[1] != F_DUPFD &&
								 a[1] != F_DUPFD_CLOEXEC))
		add_fd((int)ret);
}

/* The Husk bugs found by this fuzzer and not fixed yet: with -k the
 * calls that reach them are changed into nearby ones that do not, so that
 * a run can go on to find others. Each gets an entry here,
 * KNOWN_BUG(name): what it does and where, and a case below; remove both
 * once it is fixed. None is open now: the ones found so far are fixed, and
 * kept fixed by tests/progs/fuzz_finds.c. */
static void avoid_known_bugs(uint64_t *nrp, uint64_t *a)
{
	(void)nrp;
	(void)a;
}

static void trace_call(uint64_t i, uint64_t nr, const uint64_t *a)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "sysfuzz: call %lu: %lu(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)\n",
			 (unsigned long)i, (unsigned long)nr, (unsigned long)a[0], (unsigned long)a[1],
			 (unsigned long)a[2], (unsigned long)a[3], (unsigned long)a[4], (unsigned long)a[5]);
	if (n > 0)
		sc3(SYS_write, TRACE_FD, buf, n);
}

static void one_call(uint64_t i)
{
	uint64_t nr = pick_nr();
	uint64_t a[6];
	const char *k = nr < NR_MAX ? sig[nr] : NULL;
	int chaos = !k || chance(5);
	for (int j = 0; j < 6; j++) {
		if (chaos)
			a[j] = gen_kind("fdspIlFiPax"[below(11)], (int)nr);
		else if (k[0] && (size_t)j < strlen(k))
			a[j] = gen_kind(k[j], (int)nr);
		else
			a[j] = chance(2) ? 0 : gen_kind('x', (int)nr);
	}
	if (avoid_known)
		avoid_known_bugs(&nr, a);
	/* Sanitise what would only waste the batch or the host's memory. */
	switch (nr) {
	case SYS_rt_sigsuspend: unblock_alarm_in(a[0]); break;
	case SYS_ppoll: unblock_alarm_in(a[3]); break;
	case SYS_epoll_pwait: case SYS_epoll_pwait2: unblock_alarm_in(a[4]); break;
	case SYS_pselect6: case SYS_io_pgetevents:
		if (a[5] >= SCRATCH_ADDR && a[5] + 8 <= RO_ADDR)
			unblock_alarm_in(*(uint64_t *)a[5]);
		break;
	case SYS_sendfile: case SYS_tee:
		if (a[nr == SYS_tee ? 2 : 3] > (64UL << 20))
			a[nr == SYS_tee ? 2 : 3] %= 64UL << 20;
		break;
	case SYS_splice: case SYS_copy_file_range:
		if (a[4] > (64UL << 20))
			a[4] %= 64UL << 20;
		break;
	case SYS_fallocate:
		if (a[3] > (64UL << 20))
			a[3] %= 64UL << 20;
		break;
	case SYS_clone:
		a[0] &= ~(uint64_t)CLONE_VFORK | (chance(4) ? CLONE_VFORK : 0);
		break;
	case SYS_mmap:
		if (a[1] > BIG_MAP && a[1] <= (64UL << 30))
			a[1] = BIG_MAP;
		break;
	case SYS_brk:
		if (a[0] > brk_lo + BIG_MAP && a[0] < (1UL << 47))
			a[0] = brk_lo + BIG_MAP;
		break;
	case SYS_mremap:
		if (a[2] > BIG_MAP && a[2] <= (64UL << 30))
			a[2] = BIG_MAP;
		break;
	}
	st->nr = nr;
	for (int j = 0; j < 6; j++)
		st->args[j] = a[j];
	st->calls = i + 1;
	if (tracing)
		trace_call(i, nr, a);
	for (int j = 0; j < nskip; j++)
		if (skip[j] == i)
			nr = SYS_getpid;
	long ret;
	if (nr == SYS_clone || nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone3)
		ret = sc6_fork((long)nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], (long)a[5]);
	else
		ret = sc6((long)nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], (long)a[5]);
	if (tracing) {
		char buf[64];
		int n = snprintf(buf, sizeof buf, "sysfuzz: call %lu returned %ld\n", (unsigned long)i, ret);
		if (n > 0)
			sc3(SYS_write, TRACE_FD, buf, n);
	}
	after_call(nr, a, ret);
}

static void run_batch(uint64_t seed, uint64_t batch, uint64_t calls)
{
	rng = mix64(seed ^ mix64(batch + 1));
	for (int fd = 0; fd < 3; fd++)
		dup2(NULL_FD, fd);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != TRACE_FD || !tracing)
			close(fd);
	void *s = mmap((void *)SCRATCH_ADDR, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != (void *)SCRATCH_ADDR)
		_exit(4);
	munmap((void *)UNMAPPED_ADDR, (SCRATCH_PAGES - MAPPED_PAGES) * PAGE);
	fill_random((void *)SCRATCH_DATA, DATA_LEN);
	uint8_t *ro = (uint8_t *)RO_ADDR;
	for (size_t j = 0; j < PAGE; j++)
		ro[j] = (uint8_t)('A' + below(26));
	mprotect(ro, PAGE, PROT_READ);
	mprotect((void *)GUARD_ADDR, PAGE, PROT_NONE);
	/* The alarm first: an open in the setup could block (a FIFO where a
	 * file was). */
	install_alarm();
	arm_timer();
	setup_fds();
	if (tracing) {
		for (int j = 0; j < nfds; j++) {
			char path[32], target[128], line[200];
			snprintf(path, sizeof path, "/proc/self/fd/%d", fds[j]);
			ssize_t n = readlink(path, target, sizeof target - 1);
			target[n > 0 ? n : 0] = 0;
			int len = snprintf(line, sizeof line, "sysfuzz: fd %d: %s\n", fds[j], target);
			if (len > 0)
				sc3(SYS_write, TRACE_FD, line, len);
		}
	}
	build_structs();
	sc2(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fsbase);
	brk_hi = (uint64_t)sc1(SYS_brk, 0);
	brk_lo = brk_hi > (64UL << 20) ? brk_hi - (64UL << 20) : 0;
	for (uint64_t i = 0; i < calls; i++) {
		if (i % 64 == 63) {
			fill_random((void *)(SCRATCH_DATA + below(RO_PAGE - DATA_PAGE - 8) * PAGE), 8 * PAGE);
			build_structs();
		}
		if (chance(300))
			elf_op();
		one_call(i);
	}
	sc1(SYS_exit_group, 0);
}

/* ---- The parent: batches, watchdog, cleanup ------------------------ */

/* The real stdout and stdin (the driver's pipes), at OUT_FD and IN_FD. */
static FILE *out, *in;

static struct {
	uint64_t calls, batches, exited, signaled[66], stopped, hung, fork_failed, reaped;
	uint64_t count[NR_BUCKETS], ok[NR_BUCKETS], nosys[NR_BUCKETS];
	uint64_t elf_runs, elf_exec_failed, elf_ran, elf_killed;
} tot;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* The directories the cleanup looks at, and what they held at the start. */
static const char *const clean_dirs[] = { "/", "/tmp", "/progs", "/dev", "/dev/shm", "/dev/mqueue" };
#define NCLEAN (sizeof(clean_dirs) / sizeof(clean_dirs[0]))
static struct {
	char names[64][256];
	/* The type and device number of each, to notice a name replaced. */
	mode_t type[64];
	dev_t rdev[64];
	int n;
} initial[NCLEAN];

static void snapshot(void)
{
	for (size_t i = 0; i < NCLEAN; i++) {
		DIR *d = opendir(clean_dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) && initial[i].n < 64) {
			int k = initial[i].n++;
			struct stat sb = { 0 };
			fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW);
			snprintf(initial[i].names[k], 256, "%s", e->d_name);
			initial[i].type[k] = sb.st_mode & S_IFMT;
			initial[i].rdev[k] = sb.st_rdev;
		}
		closedir(d);
	}
}

static void remove_tree(int dir, const char *name, int depth)
{
	if (unlinkat(dir, name, 0) == 0 || errno == ENOENT)
		return;
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd >= 0 && depth < 32) {
		DIR *d = fdopendir(fd);
		if (d) {
			struct dirent *e;
			while ((e = readdir(d)))
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					remove_tree(dirfd(d), e->d_name, depth + 1);
			closedir(d);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	unlinkat(dir, name, AT_REMOVEDIR);
}

/* Removes what a batch made: new names in the directories above, and
 * every SysV IPC object. */
static void cleanup(void)
{
	for (size_t i = 0; i < NCLEAN; i++) {
		int dfd = open(clean_dirs[i], O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			continue;
		DIR *d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			continue;
		}
		char gone[64][256];
		int ngone = 0;
		struct dirent *e;
		while ((e = readdir(d)) && ngone < 64) {
			int known = 0;
			struct stat sb = { 0 };
			fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW);
			for (int j = 0; j < initial[i].n && !known; j++)
				known = !strcmp(initial[i].names[j], e->d_name) &&
					initial[i].type[j] == (sb.st_mode & S_IFMT) && initial[i].rdev[j] == sb.st_rdev;
			if (!known)
				snprintf(gone[ngone++], 256, "%s", e->d_name);
		}
		for (int j = 0; j < ngone; j++)
			remove_tree(dirfd(d), gone[j], 0);
		closedir(d);
	}
	chmod("/tmp", 01777);
	chmod("/", 0755);
	struct shmid_ds sds;
	int max = shmctl(0, SHM_INFO, &sds);
	for (int i = 0; i <= max && i < 4096; i++) {
		int id = shmctl(i, SHM_STAT, &sds);
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	}
	struct seminfo si;
	max = semctl(0, 0, SEM_INFO, &si);
	for (int i = 0; i <= max && i < 4096; i++) {
		struct semid_ds ds;
		int id = semctl(i, 0, SEM_STAT, &ds);
		if (id >= 0)
			semctl(id, 0, IPC_RMID);
	}
	struct msqid_ds mds;
	max = msgctl(0, MSG_INFO, &mds);
	for (int i = 0; i <= max && i < 4096; i++) {
		int id = msgctl(i, MSG_STAT, &mds);
		if (id >= 0)
			msgctl(id, IPC_RMID, NULL);
	}
}

/* Canaries: memory of this process, in its data, its heap and a
 * mapping, that the batches share copy-on-write and must never change. */
#define CANARY_LEN (64 * 1024)
static uint8_t canary_data[CANARY_LEN];
static uint8_t *canary_heap, *canary_map;

static uint8_t canary_byte(size_t i, int which)
{
	return (uint8_t)(mix64(i / 8 + (uint64_t)which * 0x100000) >> (8 * (i % 8)));
}

static void canary_fill(void)
{
	canary_heap = malloc(CANARY_LEN);
	canary_map = mmap(NULL, CANARY_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (canary_map == MAP_FAILED)
		canary_map = NULL;
	for (size_t i = 0; i < CANARY_LEN; i++) {
		canary_data[i] = canary_byte(i, 0);
		if (canary_heap)
			canary_heap[i] = canary_byte(i, 1);
		if (canary_map)
			canary_map[i] = canary_byte(i, 2);
	}
}

/* The offset of the first changed byte in a canary, or -1. */
static long canary_changed(const uint8_t *c, int which)
{
	for (size_t i = 0; c && i < CANARY_LEN; i++)
		if (c[i] != canary_byte(i, which))
			return (long)i;
	return -1;
}

static int canaries_ok(uint64_t batch)
{
	const uint8_t *c[3] = { canary_data, canary_heap, canary_map };
	const char *what[3] = { "data", "heap", "mapping" };
	int ok = 1;
	for (int w = 0; w < 3; w++) {
		long at = canary_changed(c[w], w);
		if (at >= 0) {
			fprintf(out, "sysfuzz: the memory of init changed during batch %lu: its %s canary at %p (+%ld)\n",
			       (unsigned long)batch, what[w], (void *)(c[w] + at), at);
			ok = 0;
		}
	}
	return ok;
}

/* Kills every process of the sandbox but this one, and reaps them all. */
static int kill_all_and_reap(void)
{
	double deadline = now() + REAP_SECONDS;
	for (;;) {
		kill(-1, SIGKILL);
		int status;
		pid_t p = waitpid(-1, &status, __WALL | WNOHANG);
		if (p > 0) {
			tot.reaped++;
			continue;
		}
		if (p < 0 && errno == ECHILD)
			return 0;
		if (now() > deadline)
			return -1;
		nap_ms(2);
	}
}

/* Lists the sandbox's processes and threads (/proc/PID/task/TID/stat). */
static void show_processes(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[600], line[512];
		snprintf(path, sizeof path, "/proc/%s/task", e->d_name);
		DIR *t = opendir(path);
		struct dirent *te;
		while (t && (te = readdir(t))) {
			if (te->d_name[0] < '0' || te->d_name[0] > '9')
				continue;
			snprintf(path, sizeof path, "/proc/%s/task/%s/stat", e->d_name, te->d_name);
			FILE *f = fopen(path, "r");
			if (f && fgets(line, sizeof line, f)) {
				line[strcspn(line, "\n")] = 0;
				line[120] = 0;
				fprintf(out, "sysfuzz:   process %s thread %s: %s\n", e->d_name, te->d_name, line);
			}
			if (f)
				fclose(f);
		}
		if (t)
			closedir(t);
	}
	if (d)
		closedir(d);
	fflush(out);
}

/* Adds the batch's counts. A batch may have written over the status page
 * (it is in its address space): `calls` cannot pass what it was asked. */
static void add_counts(uint64_t asked)
{
	tot.calls += st->calls < asked ? st->calls : asked;
	uint64_t sum = 0;
	for (int i = 0; i < NR_BUCKETS; i++)
		sum += (uint64_t)st->count[i] + st->ok[i] + st->nosys[i];
	for (int i = 0; i < NR_BUCKETS && sum <= 3 * asked; i++) {
		tot.count[i] += st->count[i];
		tot.ok[i] += st->ok[i];
		tot.nosys[i] += st->nosys[i];
	}
	if (st->elf_runs <= asked && st->elf_exec_failed + st->elf_ran + st->elf_killed <= st->elf_runs) {
		tot.elf_runs += st->elf_runs;
		tot.elf_exec_failed += st->elf_exec_failed;
		tot.elf_ran += st->elf_ran;
		tot.elf_killed += st->elf_killed;
	}
}

static void run_one(uint64_t seed, uint64_t batch, uint64_t calls)
{
	memset((void *)st, 0, sizeof *st);
	fflush(out);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0)
		run_batch(seed, batch, calls);
	if (pid < 0) {
		tot.fork_failed++;
		return;
	}
	if (tracing)
		dprintf(TRACE_FD, "sysfuzz: batch %ld runs in pid %d\n", (long)batch, pid);
	uint64_t seen = 0;
	double progress = now();
	int killed = 0;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);
		if (r == pid && WIFSTOPPED(status)) {
			tot.stopped++;
			kill(pid, SIGKILL);
			continue;
		}
		if (r == pid) {
			if (tracing)
				dprintf(TRACE_FD, "sysfuzz: batch %ld ended: %s %d after %lu calls\n", (long)batch,
					WIFEXITED(status) ? "exit" : "signal",
					WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
					(unsigned long)st->calls);
			if (WIFEXITED(status))
				tot.exited++;
			else if (WIFSIGNALED(status) && !killed)
				tot.signaled[WTERMSIG(status) < 65 ? WTERMSIG(status) : 65]++;
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		uint64_t c = st->calls + st->elf_runs;
		if (c != seen) {
			seen = c;
			progress = now();
		} else if (!killed && now() - progress > HANG_SECONDS && !st->in_elf) {
			tot.hung++;
			if (tot.hung <= 20)
				fprintf(out, "sysfuzz: hang: batch %lu call %lu: %lu(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)\n",
				       (unsigned long)batch, (unsigned long)st->calls - 1, (unsigned long)st->nr,
				       (unsigned long)st->args[0], (unsigned long)st->args[1],
				       (unsigned long)st->args[2], (unsigned long)st->args[3],
				       (unsigned long)st->args[4], (unsigned long)st->args[5]);
			kill(pid, SIGKILL);
			killed = 1;
		}
		nap_ms(2);
	}
	tot.batches++;
	add_counts(calls);
	if (kill_all_and_reap() != 0) {
		fprintf(out, "sysfuzz: processes left after batch %lu could not be killed in %d s\n",
		       (unsigned long)batch, REAP_SECONDS);
		show_processes();
		fflush(out);
		_exit(3);
	}
	cleanup();
	if (!canaries_ok(batch)) {
		fflush(out);
		_exit(4);
	}
}

static void sync_point(const char *what)
{
	fprintf(out, "sysfuzz: %s\n", what);
	fflush(out);
	char line[64];
	if (!fgets(line, sizeof line, in))
		clearerr(in);
}

static void load_template(const char *argv0)
{
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0)
		fd = open(argv0, O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 64 || sb.st_size > (64 << 20)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	elf_tmpl = malloc((size_t)sb.st_size);
	size_t done = 0;
	while (elf_tmpl && done < (size_t)sb.st_size) {
		ssize_t n = read(fd, elf_tmpl + done, (size_t)sb.st_size - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	elf_len = done;
}

static void usage(void)
{
	fprintf(stderr, "usage: sysfuzz [-S] [-v] [-k] [-c CALLS_PER_BATCH] [-b FIRST_BATCH] [-B BATCHES] [-x I,J...] "
			"SEED [CALLS [SECONDS]]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--elf-child"))
		return 0; /* a mutated copy of this program that still runs */
	int sync = 0, opt;
	uint64_t per_batch = 200, first = 0, nbatches = 0;
	while ((opt = getopt(argc, argv, "Svkc:b:B:x:")) != -1) {
		switch (opt) {
		case 'k': avoid_known = 1; break;
		case 'x':
			for (char *t = strtok(optarg, ","); t && nskip < 64; t = strtok(NULL, ","))
				skip[nskip++] = strtoull(t, NULL, 0);
			break;
		case 'S': sync = 1; break;
		case 'v': tracing = 1; break;
		case 'c': per_batch = strtoull(optarg, NULL, 0); break;
		case 'b': first = strtoull(optarg, NULL, 0); break;
		case 'B': nbatches = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (optind >= argc || argc - optind > 3)
		usage();
	uint64_t seed = strtoull(argv[optind], NULL, 0);
	uint64_t total = optind + 1 < argc ? strtoull(argv[optind + 1], NULL, 0) : 10000;
	double seconds = optind + 2 < argc ? strtod(argv[optind + 2], NULL) : 0;

	/* Never on a real kernel: as root, these calls would change the host. */
	struct utsname u;
	if (uname(&u) != 0 || !strstr(u.release, "husk")) {
		fprintf(stderr, "sysfuzz: refusing to run outside a Husk sandbox (uname -r: %s)\n", u.release);
		return 2;
	}
	if (getpid() != 1) {
		fprintf(stderr, "sysfuzz: must run as the sandbox's init (pid 1), not pid %d\n", getpid());
		return 2;
	}
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(1, OUT_FD) < 0 || dup2(0, IN_FD) < 0 || dup2(null, NULL_FD) < 0) {
		perror("sysfuzz: setting up its fds");
		return 2;
	}
	close(null);
	if (tracing)
		dup2(2, TRACE_FD);
	for (int fd = 0; fd < 3; fd++)
		dup2(NULL_FD, fd);
	out = fdopen(OUT_FD, "w");
	in = fdopen(IN_FD, "r");
	if (!out || !in)
		return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	fprintf(out, "sysfuzz: seed %lu\n", (unsigned long)seed);
	fprintf(out, "sysfuzz: %lu calls, %g s at most, %lu calls per batch, from batch %lu\n",
	       (unsigned long)total, seconds, (unsigned long)per_batch, (unsigned long)first);
	if (mmap((void *)STATUS_ADDR, (sizeof(struct status) + PAGE - 1) & ~(PAGE - 1), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != (void *)STATUS_ADDR) {
		fprintf(out, "sysfuzz: mmap of the status page failed\n");
		return 2;
	}
	load_template(argv[0]);
	canary_fill();
	mkdir("/tmp", 01777);
	snapshot();
	/* A batch of no calls first, so that what the Sentry caches lazily
	 * is there before the driver's first look. */
	run_one(seed, (uint64_t)-1, 0);
	tot = (typeof(tot)){ 0 };
	if (sync)
		sync_point("ready");

	double start = now();
	for (uint64_t b = first; nbatches == 0 || b < first + nbatches; b++) {
		if (total && tot.calls >= total)
			break;
		if (seconds > 0 && now() - start >= seconds)
			break;
		uint64_t n = per_batch;
		if (total && total - tot.calls < n)
			n = total - tot.calls;
		run_one(seed, b, n);
	}
	double took = now() - start;
	if (sync)
		sync_point("batches done");

	uint64_t ok = 0, nosys = 0, distinct = 0, ever_ok = 0, only_nosys = 0;
	for (int i = 0; i < NR_BUCKETS; i++) {
		ok += tot.ok[i];
		nosys += tot.nosys[i];
		if (tot.count[i] && i < NR_MAX) {
			distinct++;
			ever_ok += tot.ok[i] > 0;
			only_nosys += tot.nosys[i] == tot.count[i];
		}
	}
	fprintf(out, "sysfuzz: summary: seed %lu, %lu calls in %lu batches, %.1f s (%.0f calls/s)\n",
	       (unsigned long)seed, (unsigned long)tot.calls, (unsigned long)tot.batches, took,
	       took > 0 ? (double)tot.calls / took : 0.0);
	fprintf(out, "sysfuzz: results: ok %lu, ENOSYS %lu, other errors %lu\n", (unsigned long)ok,
	       (unsigned long)nosys, (unsigned long)(tot.calls > ok + nosys ? tot.calls - ok - nosys : 0));
	fprintf(out, "sysfuzz: syscalls 0-460: %lu called, %lu succeeded at least once, %lu only ENOSYS\n",
	       (unsigned long)distinct, (unsigned long)ever_ok, (unsigned long)only_nosys);
	fprintf(out, "sysfuzz: batches: %lu finished, %lu stopped, %lu hung (killed), %lu fork failures; killed by",
	       (unsigned long)tot.exited, (unsigned long)tot.stopped, (unsigned long)tot.hung,
	       (unsigned long)tot.fork_failed);
	int any = 0;
	for (int s = 1; s <= 65; s++) {
		if (tot.signaled[s]) {
			fprintf(out, " %s:%lu", s < 65 && sigabbrev_np(s) ? sigabbrev_np(s) : "?",
			       (unsigned long)tot.signaled[s]);
			any = 1;
		}
	}
	fprintf(out, "%s\n", any ? "" : " none");
	fprintf(out, "sysfuzz: elf: %lu runs, %lu refused by exec, %lu ran, %lu killed; %lu processes reaped\n",
	       (unsigned long)tot.elf_runs, (unsigned long)tot.elf_exec_failed, (unsigned long)tot.elf_ran,
	       (unsigned long)tot.elf_killed, (unsigned long)tot.reaped);
	fprintf(out, "sysfuzz: finished\n");
	return 0;
}
