/* Tracees across a checkpoint. The program traces children of its own
 * (PTRACE_TRACEME): A it leaves in a syscall-enter-stop at getppid, B in a
 * signal-delivery-stop for SIGUSR2, and C, D, E and F in event stops: C's
 * fork (PTRACE_EVENT_FORK), D's exit (PTRACE_EVENT_EXIT), E's exec
 * (PTRACE_EVENT_EXEC) and F's seccomp filter's SECCOMP_RET_TRACE of
 * getppid (PTRACE_EVENT_SECCOMP). It says "ready" and waits for SIGUSR1 (a
 * checkpoint and a restore come in between). Then it finds A still at
 * getppid's entry, lets the call run to its exit stop and makes its result
 * 4242, and detaches; it finds B's stop still SIGUSR2's and detaches it
 * with that signal, which B's handler then gets; C's fork returns the
 * traced grandchild's pid; D exits with its status; E runs its new
 * program; F's getppid runs once its filters have run again. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
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

static void c_body(void)
{
	pid_t grandchild = fork();
	if (grandchild == 0)
		_exit(0);
	/* Its exit status says what the fork gave (its tracer prints it). */
	_exit(grandchild > 0 ? 7 : 8);
}

static void d_body(void)
{
	_exit(5);
}

static void e_body(void)
{
	execl("/progs/ckpt_ptrace", "ckpt_ptrace", "exec'd", (char *)NULL);
	_exit(9);
}

static void f_body(void)
{
	/* getppid goes to the tracer first (SECCOMP_RET_TRACE). */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
		_exit(3);
	/* Its exit status says whether getppid gave its parent. */
	_exit(syscall(SYS_getppid) > 0 ? 6 : 8);
}

/* Resumes `pid` with `options` until its next stop; whether that is the
 * event stop `event`. */
static int to_event(pid_t pid, int options, int event)
{
	int st;
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, options) != 0 || ptrace(PTRACE_CONT, pid, 0, 0) != 0 ||
	    waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFSTOPPED(st) && st >> 8 == (SIGTRAP | event << 8) ? 0 : -1;
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

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		printf("E: %s\n", argv[1]);
		return 0;
	}
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
	pid_t c = traced_child(c_body), d = traced_child(d_body), e = traced_child(e_body), f = traced_child(f_body);
	if (c < 0 || to_event(c, PTRACE_O_TRACEFORK, PTRACE_EVENT_FORK) != 0 || d < 0 ||
	    to_event(d, PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT) != 0 || e < 0 ||
	    to_event(e, PTRACE_O_TRACEEXEC, PTRACE_EVENT_EXEC) != 0 || f < 0 ||
	    to_event(f, PTRACE_O_TRACESECCOMP, PTRACE_EVENT_SECCOMP) != 0) {
		printf("C, D, E or F did not stop at its event\n");
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

	/* C: the fork returns; its child, traced too, stops at its SIGSTOP
	 * and is let go on; each runs to its exit, any signal stop on the
	 * way (C's SIGCHLD) passed on. */
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
	pid_t grandchild = (pid_t)msg;
	ptrace(PTRACE_CONT, c, 0, 0);
	for (int i = 0; i < 2; i++) {
		pid_t who = i == 0 ? grandchild : c;
		while (waitpid(who, &st, __WALL) == who && WIFSTOPPED(st))
			ptrace(PTRACE_CONT, who, 0, WSTOPSIG(st) == SIGSTOP ? 0 : WSTOPSIG(st));
		printf("%s exited %d\n", i == 0 ? "C's child" : "C", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}

	ptrace(PTRACE_GETEVENTMSG, d, 0, &msg);
	printf("D's exit event: status %lu\n", msg >> 8);
	ptrace(PTRACE_CONT, d, 0, 0);
	waitpid(d, &st, 0);
	printf("D exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	ptrace(PTRACE_DETACH, e, 0, 0);
	waitpid(e, &st, 0);
	printf("E exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	if (ptrace(PTRACE_GETREGS, f, 0, &r) != 0) {
		perror("PTRACE_GETREGS");
		return 2;
	}
	printf("F at its traced getppid: %s\n", (long)r.orig_rax == SYS_getppid ? "yes" : "no");
	ptrace(PTRACE_DETACH, f, 0, 0);
	waitpid(f, &st, 0);
	printf("F exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
