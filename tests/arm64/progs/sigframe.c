/* arm64's signal frame, as a handler sees and edits it (tests/arm64/run.sh
 * runs it natively and under Husk on the arm64 machine): the siginfo and
 * ucontext arguments, the records in uc_mcontext.__reserved (an
 * fpsimd_context first, then the end marker), the frame record x29 points
 * at, an FP/SIMD register and the pc edited in the frame and taken back by
 * rt_sigreturn, a fault's fault_address, the alternate stack, and the
 * mask during and after a handler. */
#include <asm/sigcontext.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static struct fpsimd_context *fpsimd_of(ucontext_t *uc)
{
	struct _aarch64_ctx *h = (struct _aarch64_ctx *)uc->uc_mcontext.__reserved;
	return h->magic == FPSIMD_MAGIC ? (struct fpsimd_context *)h : NULL;
}

/* Built with its frame record, so that the one the kernel put above the
 * frame is the next up the chain. */
__attribute__((optimize("no-omit-frame-pointer"))) static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	struct fpsimd_context *fp = fpsimd_of(uc);
	/* The records end with a zero header within __reserved (the kernel may
	 * put others after the fpsimd_context: an sve_context where the CPU
	 * has SVE, which Husk withholds). */
	int ended = 0;
	for (size_t at = 0; at + sizeof(struct _aarch64_ctx) <= sizeof uc->uc_mcontext.__reserved;) {
		struct _aarch64_ctx *h = (struct _aarch64_ctx *)(uc->uc_mcontext.__reserved + at);
		if (h->magic == 0 && h->size == 0) {
			ended = 1;
			break;
		}
		if (h->size == 0 || h->size % 16)
			break;
		at += h->size;
	}
	uint64_t *own = __builtin_frame_address(0);
	uint64_t *record = (uint64_t *)own[0];
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	printf("usr1: sig %d, si_signo %d, si_code SI_TKILL %d, si_pid is us %d\n", sig, si->si_signo,
	       si->si_code == SI_TKILL, si->si_pid == getpid());
	printf("usr1: fpsimd_context first, size %u: %d\n", fp ? fp->head.size : 0,
	       fp && fp->head.size == sizeof *fp);
	printf("usr1: the records end with the end marker: %d\n", ended);
	printf("usr1: uc_sigmask is the mask before: %d, USR1 blocked now: %d\n",
	       !sigismember(&uc->uc_sigmask, SIGUSR1), sigismember(&now, SIGUSR1));
	printf("usr1: frame and sp 16-byte aligned: %d\n",
	       ((uintptr_t)uc & 15) == 0 && (uc->uc_mcontext.sp & 15) == 0);
	printf("usr1: x29 led to the frame record {x29, x30} of the interrupted code: %d\n",
	       record[0] == uc->uc_mcontext.regs[29] && record[1] == uc->uc_mcontext.regs[30]);
	if (fp) {
		/* d8, callee-saved: 2.5 when the handler returns. */
		double v = 2.5;
		memcpy(&fp->vregs[8], &v, sizeof v);
	}
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	printf("trap: sig %d, at the brk: %d\n", sig, (uint64_t)si->si_addr == uc->uc_mcontext.pc);
	uc->uc_mcontext.pc += 4; /* past the brk */
}

static sigjmp_buf out;
static char *altstack;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	char here;
	printf("segv: sig %d, si_addr 0x10: %d, fault_address as si_addr: %d, SEGV_MAPERR: %d\n", sig,
	       si->si_addr == (void *)0x10, uc->uc_mcontext.fault_address == (uint64_t)si->si_addr,
	       si->si_code == SEGV_MAPERR);
	printf("segv: on the alternate stack: %d\n", &here >= altstack && &here < altstack + SIGSTKSZ * 4);
	siglongjmp(out, 1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = { 0 };
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	double before = 1.5, after;
	__asm__ volatile("fmov d8, %1\n\t"
			 "mov x0, %2\n\t"
			 "bl raise\n\t"
			 "fmov %0, d8"
			 : "=r"(after)
			 : "r"(before), "r"((long)SIGUSR1)
			 : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
			   "x14", "x15", "x16", "x17", "x30", "d8", "memory", "cc");
	printf("d8 after the handler edited it in the frame: %.1f\n", after);
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	printf("USR1 unblocked again: %d\n", !sigismember(&now, SIGUSR1));

	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
	__asm__ volatile("brk #0");
	printf("went on past the brk\n");

	altstack = malloc(SIGSTKSZ * 4);
	stack_t ss = { .ss_sp = altstack, .ss_size = SIGSTKSZ * 4 };
	sigaltstack(&ss, NULL);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(out, 1) == 0)
		*(volatile int *)0x10 = 1;
	printf("back from the fault\n");
	return 0;
}
