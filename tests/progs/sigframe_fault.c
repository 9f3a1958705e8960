/* What LTP's signal06 found: a handler frame that cannot be written (the
 * alternate stack made read-only) is not the end of the process: as
 * Linux's force_sigsegv, a SIGSEGV (si_code SI_KERNEL) comes instead, to
 * its handler if it has one, and the interrupted code goes on with its
 * registers (the FPU's too) as they were. A SIGSEGV whose own frame
 * cannot be written kills. */
#include "common.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static char altstack[4096 * 4] __attribute__((aligned(4096)));
static volatile int hups, segvs, segv_code;

static void on_hup(int sig)
{
	(void)sig;
	hups++;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	segvs++;
	segv_code = si->si_code;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	stack_t st = { .ss_sp = altstack, .ss_size = sizeof altstack };
	struct sigaction segv = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	struct sigaction hup = { .sa_handler = on_hup, .sa_flags = SA_ONSTACK };
	sigaction(SIGSEGV, &segv, NULL);
	sigaction(SIGHUP, &hup, NULL);
	sigaltstack(&st, NULL);

	raise(SIGHUP);
	printf("SIGHUP on a writable alternate stack: %d handled, %d SIGSEGV\n", hups, segvs);

	mprotect(altstack, sizeof altstack, PROT_READ);
	volatile double d = 123.456;
	raise(SIGHUP);
	printf("SIGHUP on a read-only alternate stack: %d handled, %d SIGSEGV, si_code %s\n", hups, segvs,
	       segv_code == SI_KERNEL ? "SI_KERNEL" : "other");
	printf("a double kept: %s\n", d == 123.456 ? "yes" : "no");
	sigset_t set;
	sigprocmask(SIG_BLOCK, NULL, &set);
	printf("SIGHUP blocked after: %s\n", sigismember(&set, SIGHUP) ? "yes" : "no");

	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction onstack = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK };
		sigaction(SIGSEGV, &onstack, NULL);
		raise(SIGSEGV);
		printf("child: still here\n");
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	printf("SIGSEGV whose frame fails: %s\n",
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? "killed by SIGSEGV" : "something else");
	struct sigaction now;
	sigaction(SIGSEGV, NULL, &now);
	printf("the parent's SIGSEGV handler kept: %s\n", now.sa_sigaction == on_segv ? "yes" : "no");
	printf("done\n");
	return 0;
}
