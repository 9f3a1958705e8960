/* FPU state is inherited, as Linux's fork and clone copy it: a forked
 * child and a new thread start with their parent's MXCSR (rounding mode,
 * flush-to-zero, denormals-are-zero) and x87 control word (precision and
 * rounding), and a child forked with a raw syscall finds the vector
 * registers as they were at the fork. Code built with -ffast-math sets
 * FTZ and DAZ once at startup and relies on every thread having them.
 *
 * Prints the values it set, never values the host chose. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

/* Round up, flush-to-zero, denormals-are-zero, every exception masked. */
#define WANT_MXCSR (0x1f80u | (2u << 13) | (1u << 15) | (1u << 6))
/* Every exception masked, single precision, round toward zero. */
#define WANT_FCW 0x0c7fu
/* MXCSR's sticky exception flags, which any arithmetic may set. */
#define MXCSR_FLAGS 0x3fu

static uint32_t get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v & ~MXCSR_FLAGS;
}

static void set_mxcsr(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static uint16_t get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void set_fcw(uint16_t v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

/* A new thread signalled at once, likely before it first runs: the
 * handler's frame holds the inherited state, and sigreturn gives it back. */
static volatile int handled;
static volatile uint32_t frame_mxcsr;

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	frame_mxcsr = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr & ~MXCSR_FLAGS : 0;
	handled = 1;
}

static uint32_t signalled_mxcsr;

static void *signalled_main(void *arg)
{
	(void)arg;
	while (!handled)
		;
	signalled_mxcsr = get_mxcsr();
	return NULL;
}

/* What a new thread saw. */
static uint32_t thread_mxcsr;
static uint16_t thread_fcw;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_mxcsr = get_mxcsr();
	thread_fcw = get_fcw();
	return NULL;
}

static void wait_child(pid_t pid, const char *who)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("%s: %s\n", who, status_str(st));
}

int main(void)
{
	set_mxcsr(WANT_MXCSR);
	set_fcw(WANT_FCW);
	printf("set mxcsr %#x and fcw %#x\n", WANT_MXCSR, WANT_FCW);
	fflush(stdout);

	pid_t pid = fork();
	if (pid == 0) {
		CHECK("fork child: mxcsr inherited", get_mxcsr() == WANT_MXCSR);
		CHECK("fork child: fcw inherited", get_fcw() == WANT_FCW);
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid, "fork child");

	pthread_t th;
	if (pthread_create(&th, NULL, thread_main, NULL) != 0) {
		printf("pthread_create failed\n");
		return 1;
	}
	pthread_join(th, NULL);
	CHECK("thread: mxcsr inherited", thread_mxcsr == WANT_MXCSR);
	CHECK("thread: fcw inherited", thread_fcw == WANT_FCW);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&th, NULL, signalled_main, NULL) != 0) {
		printf("pthread_create failed\n");
		return 1;
	}
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	CHECK("signalled thread: mxcsr in the handler's frame", frame_mxcsr == WANT_MXCSR);
	CHECK("signalled thread: mxcsr after the handler", signalled_mxcsr == WANT_MXCSR);
	fflush(stdout);

	/* A raw fork between loading xmm15 and reading it back, so that no
	 * library code runs in between. */
	const uint64_t want = 0x1234567890abcdefull;
	uint64_t seen;
	long ret;
	__asm__ volatile("movq %[val], %%xmm15\n\t"
			 "syscall\n\t"
			 "movq %%xmm15, %[seen]\n\t"
			 : "=a"(ret), [seen] "=r"(seen)
			 : "a"((long)SYS_fork), [val] "r"(want)
			 : "rcx", "r11", "xmm15", "memory");
	if (ret == 0) {
		CHECK("raw fork child: xmm15 as at the fork", seen == want);
		CHECK("raw fork child: mxcsr inherited", get_mxcsr() == WANT_MXCSR);
		fflush(stdout);
		_exit(0);
	}
	if (ret < 0) {
		printf("raw fork failed: %s\n", errname((int)-ret));
		return 1;
	}
	wait_child((pid_t)ret, "raw fork child");
	CHECK("parent: xmm15 kept", seen == want);
	fflush(stdout);

	/* The same for a whole ymm register (its upper half is AVX state). */
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx")) {
		const uint64_t ywant[4] = {1, 0x2222222222222222ull, 0x3333333333333333ull, 0x4444444444444444ull};
		uint64_t yseen[4];
		__asm__ volatile("vmovdqu %[val], %%ymm14\n\t"
				 "syscall\n\t"
				 "vmovdqu %%ymm14, %[seen]\n\t"
				 : "=a"(ret), [seen] "=m"(yseen)
				 : "a"((long)SYS_fork), [val] "m"(ywant)
				 : "rcx", "r11", "xmm14", "memory");
		int same = memcmp(yseen, ywant, sizeof ywant) == 0;
		if (ret == 0) {
			CHECK("raw fork child: ymm14 as at the fork", same);
			fflush(stdout);
			_exit(0);
		}
		if (ret < 0) {
			printf("raw fork failed: %s\n", errname((int)-ret));
			return 1;
		}
		wait_child((pid_t)ret, "raw fork child");
		CHECK("parent: ymm14 kept", same);
	} else {
		printf("no AVX\n");
	}
	CHECK("parent: mxcsr kept", get_mxcsr() == WANT_MXCSR);
	CHECK("parent: fcw kept", get_fcw() == WANT_FCW);
	printf("done\n");
	return 0;
}
