/* Tracees across a checkpoint. The program traces two children of its
 * own (PTRACE_TRACEME): A it leaves in a syscall-enter-stop at getppid,
 * B in a signal-delivery-stop for SIGUSR2. It says "ready" and waits for
 * SIGUSR1 (a checkpoint and a restore come in between). Then it finds A
 * still at getppid's entry, lets the call run to its exit stop and makes
 * its result 4242, and detaches; it finds B's stop still SIGUSR2's and
 * detaches it with that signal, which B's handler then gets. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static pid_t traced_child(void (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		body();
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		return -1;
	return pid;
}

static void a_body(void)
{
	long got = syscall(SYS_getppid);
	printf("A: getppid said %ld\n", got);
}

static void b_body(void)
{
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	printf("B: the handler ran: %s\n", got_usr2 ? "yes" : "no");
}

/* Runs `pid` from stop to stop until the entry of syscall `nr`. */
static int to_entry_of(pid_t pid, long nr)
{
	int entry = 1;
	for (int i = 0; i < 1000; i++) {
		int st;
		if (ptrace(PTRACE_SYSCALL, pid, 0, 0) != 0 || waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
			return -1;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			continue;
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		if (entry && (long)r.orig_rax == nr)
			return 0;
		entry = !entry;
	}
	return -1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	pid_t a = traced_child(a_body);
	if (a < 0 || ptrace(PTRACE_SETOPTIONS, a, 0, PTRACE_O_TRACESYSGOOD) != 0 || to_entry_of(a, SYS_getppid) != 0) {
		printf("A did not stop at getppid\n");
		return 2;
	}
	pid_t b = traced_child(b_body);
	int st;
	if (b < 0 || ptrace(PTRACE_CONT, b, 0, 0) != 0 || waitpid(b, &st, 0) != b || !WIFSTOPPED(st) ||
	    WSTOPSIG(st) != SIGUSR2) {
		printf("B did not stop for SIGUSR2\n");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, a, 0, &r) != 0) {
		perror("PTRACE_GETREGS");
		return 2;
	}
	printf("A still at getppid's entry: %s\n", (long)r.orig_rax == SYS_getppid ? "yes" : "no");
	if (ptrace(PTRACE_SYSCALL, a, 0, 0) != 0 || waitpid(a, &st, 0) != a || !WIFSTOPPED(st)) {
		printf("A did not stop at getppid's exit\n");
		return 2;
	}
	ptrace(PTRACE_GETREGS, a, 0, &r);
	printf("A's getppid gave its parent: %s\n", (pid_t)r.rax == getpid() ? "yes" : "no");
	r.rax = 4242;
	ptrace(PTRACE_SETREGS, a, 0, &r);
	ptrace(PTRACE_DETACH, a, 0, 0);
	waitpid(a, &st, 0);
	printf("A exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	siginfo_t si;
	memset(&si, 0, sizeof si);
	ptrace(PTRACE_GETSIGINFO, b, 0, &si);
	printf("B's stop: %s\n", si.si_signo == SIGUSR2 ? "SIGUSR2" : "another");
	ptrace(PTRACE_DETACH, b, 0, SIGUSR2);
	waitpid(b, &st, 0);
	printf("B exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
