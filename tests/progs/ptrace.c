/* ptrace(2) between the app's own processes, as strace and gdb use it:
 * stops reported to wait, the tracee's memory, registers and FPU state,
 * syscall stops (and changing a syscall), exec's SIGTRAP and events, fork
 * following, PTRACE_SEIZE and PTRACE_INTERRUPT, and the errors of bad
 * requests. Every tracee is a child of this program. */
#include "common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#ifndef NT_PRSTATUS
#define NT_PRSTATUS 1
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static volatile long cell = 0x1122334455667788L;

/* Waits for `pid` and prints its status under `label`. */
static int wait_show(const char *label, pid_t pid)
{
	int st = 0;
	pid_t got = waitpid(pid, &st, __WALL);
	if (got != pid) {
		printf("%s: wait %s\n", label, errname(errno));
		return -1;
	}
	int event = (st >> 16) & 0xff;
	if (WIFSTOPPED(st) && event)
		printf("%s: stopped by SIG%s event %d\n", label, sigabbrev_np(WSTOPSIG(st) & 0x7f), event);
	else if (WIFSTOPPED(st) && (WSTOPSIG(st) & 0x80))
		printf("%s: syscall stop%s\n", label, "");
	else
		printf("%s: %s\n", label, status_str(st));
	return st;
}

/* A child that asks to be traced and sends itself `sig`. */
static pid_t traced_child(int sig)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		kill(getpid(), sig);
		_exit(cell == 42 ? 7 : 0);
	}
	return pid;
}

static void signals_and_memory(void)
{
	pid_t pid = traced_child(SIGUSR1);
	wait_show("usr1", pid);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	report("getsiginfo", ptrace(PTRACE_GETSIGINFO, pid, 0, &si));
	CHECK("siginfo signo", si.si_signo == SIGUSR1 && si.si_code == SI_USER && si.si_pid == pid);
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, pid, &cell, 0);
	CHECK("peekdata", errno == 0 && v == 0x1122334455667788L);
	report("pokedata", ptrace(PTRACE_POKEDATA, pid, &cell, (void *)42));
	errno = 0;
	ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0);
	printf("peekdata at 8: %s\n", errname(errno));
	report("pokedata at 8", ptrace(PTRACE_POKEDATA, pid, (void *)8, 0));
	errno = 0;
	ptrace(PTRACE_PEEKUSER, pid, (void *)1024, 0);
	printf("peekuser past the end: %s\n", errname(errno));
	errno = 0;
	ptrace(PTRACE_PEEKUSER, pid, (void *)912, 0); /* the kernel's error_code */
	printf("peekuser past the debug registers: %s\n", errname(errno));
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		int tracer;
		char st;
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			CHECK("TracerPid is ours", tracer == getpid());
		if (sscanf(line, "State: %c", &st) == 1)
			CHECK("state is tracing stop", st == 't');
	}
	if (f)
		fclose(f);
	errno = 0;
	ptrace(PTRACE_PEEKUSER, pid, (void *)3, 0);
	printf("peekuser unaligned: %s\n", errname(errno));
	report("getregs to NULL", ptrace(PTRACE_GETREGS, pid, 0, 0));
	struct user_regs_struct r;
	report("getregs", ptrace(PTRACE_GETREGS, pid, 0, &r));
	errno = 0;
	long rip = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rip), 0);
	long orig = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, orig_rax), 0);
	CHECK("peekuser matches getregs", errno == 0 && (unsigned long)rip == r.rip && orig == (long)r.orig_rax);
	CHECK("stopped in kill", r.orig_rax == SYS_kill);
	struct iovec iov = {&r, sizeof r};
	report("getregset prstatus", ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov));
	CHECK("prstatus length", iov.iov_len == sizeof r);
	iov.iov_len = 3;
	report("getregset odd length", ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov));
	report("getregset unknown note", ptrace(PTRACE_GETREGSET, pid, (void *)0x999, &iov));
	/* Debug registers: kept and read back; kernel addresses refused. */
	size_t dr0 = offsetof(struct user, u_debugreg[0]);
	report("poke dr0", ptrace(PTRACE_POKEUSER, pid, (void *)dr0, (void *)&cell));
	report("poke dr0 kernel", ptrace(PTRACE_POKEUSER, pid, (void *)dr0, (void *)0xffff800000000000UL));
	CHECK("peek dr0", ptrace(PTRACE_PEEKUSER, pid, (void *)dr0, 0) == (long)&cell);
	report("poke dr4", ptrace(PTRACE_POKEUSER, pid, (void *)(dr0 + 4 * 8), 0));
	report("setoptions bad", ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)0x8000));
	report("cont bad signal", ptrace(PTRACE_CONT, pid, 0, (void *)100));
	report("cont", ptrace(PTRACE_CONT, pid, 0, 0));
	report("cont while running", ptrace(PTRACE_CONT, pid, 0, 0));
	wait_show("after poke", pid);

	/* The tracer turns the signal into another one. */
	pid = traced_child(SIGUSR2);
	wait_show("usr2", pid);
	report("cont with SIGTERM", ptrace(PTRACE_CONT, pid, 0, (void *)SIGTERM));
	wait_show("after SIGTERM", pid);

	/* Ignored signals still stop a tracee; PTRACE_KILL ends it. */
	pid = fork();
	if (pid == 0) {
		signal(SIGWINCH, SIG_IGN);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		report("traceme twice", ptrace(PTRACE_TRACEME, 0, 0, 0));
		fflush(stdout);
		raise(SIGWINCH);
		_exit(0);
	}
	wait_show("ignored SIGWINCH", pid);
	report("kill", ptrace(PTRACE_KILL, pid, 0, 0));
	wait_show("after kill", pid);
}

static void syscalls(void)
{
	pid_t pid = traced_child(SIGSTOP);
	wait_show("sigstop", pid);
	report("setoptions sysgood", ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACESYSGOOD));
	/* Resume to the next syscall: the child's exit_group (cell is 0x11..
	 * so it exits 0); turn it into getppid, skip nothing, and see the
	 * stops around it, then the real exit. */
	report("syscall", ptrace(PTRACE_SYSCALL, pid, 0, 0));
	wait_show("entry", pid);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	CHECK("entry is exit_group", r.orig_rax == SYS_exit_group);
	CHECK("entry rax is -ENOSYS", (long)r.rax == -ENOSYS);
	/* Skip it: -1 as the number, and rax says what it returns. */
	r.orig_rax = -1;
	r.rax = 1234;
	report("setregs skip", ptrace(PTRACE_SETREGS, pid, 0, &r));
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	wait_show("exit of skipped", pid);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	CHECK("skipped returns what the tracer set", r.rax == 1234);
	/* Back to the syscall instruction, as a restart does: exit_group again. */
	r.rip -= 2;
	r.rax = SYS_exit_group;
	r.rdi = 5;
	ptrace(PTRACE_SETREGS, pid, 0, &r);
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	wait_show("entry again", pid);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	CHECK("entry again is exit_group(5)", r.orig_rax == SYS_exit_group && r.rdi == 5);
	ptrace(PTRACE_CONT, pid, 0, 0);
	wait_show("exit", pid);
}

static void exec_and_fork(const char *self)
{
	/* exec after TRACEME: a SIGTRAP stop. */
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execl(self, self, "exit3", (char *)0);
		_exit(99);
	}
	wait_show("exec", pid);
	siginfo_t si;
	ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	CHECK("exec SIGTRAP is SI_USER", si.si_signo == SIGTRAP && si.si_code == SI_USER);
	ptrace(PTRACE_CONT, pid, 0, 0);
	wait_show("exec'd", pid);

	/* TRACEEXEC and TRACEFORK: events, with the new pid as message. */
	pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		pid_t c = fork();
		if (c == 0)
			execl(self, self, "exit3", (char *)0);
		int st;
		waitpid(c, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) + 10 : 1);
	}
	wait_show("fork parent", pid);
	ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC));
	ptrace(PTRACE_CONT, pid, 0, 0);
	wait_show("fork event", pid);
	unsigned long msg = 0;
	report("geteventmsg", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
	pid_t child = msg;
	CHECK("event message is a pid", child > 0 && child != pid);
	wait_show("new child", child);
	ptrace(PTRACE_CONT, child, 0, 0);
	wait_show("child exec event", child);
	ptrace(PTRACE_GETEVENTMSG, child, 0, &msg);
	CHECK("exec event message is the tid", (pid_t)msg == child);
	ptrace(PTRACE_CONT, child, 0, 0);
	ptrace(PTRACE_CONT, pid, 0, 0);
	/* The grandchild's exit comes to us as its tracer, the child's as
	 * its parent. */
	wait_show("grandchild exit", child);
	/* The parent stops again for its SIGCHLD; let it have it. */
	int st;
	while (waitpid(pid, &st, __WALL) == pid && WIFSTOPPED(st))
		ptrace(PTRACE_CONT, pid, 0, (void *)(long)WSTOPSIG(st));
	printf("fork parent exit: %s\n", status_str(st));
}

/* PTRACE_EVENT_EXIT with the exit status as message, and
 * PTRACE_O_EXITKILL: a tracee whose tracer dies is killed. */
static void exit_events(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(6);
	}
	wait_show("exit tracee", pid);
	ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACEEXIT);
	ptrace(PTRACE_CONT, pid, 0, 0);
	wait_show("exit event", pid);
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
	printf("exit event message: %#lx\n", msg);
	ptrace(PTRACE_CONT, pid, 0, 0);
	wait_show("after exit event", pid);

	/* A middle process traces its child with EXITKILL, then exits; the
	 * orphan comes to us (a subreaper) killed. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t middle = fork();
	if (middle == 0) {
		pid_t t = fork();
		if (t == 0) {
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			raise(SIGSTOP);
			sleep(5);
			_exit(0);
		}
		int st;
		waitpid(t, &st, 0);
		ptrace(PTRACE_SETOPTIONS, t, 0, (void *)PTRACE_O_EXITKILL);
		write(p[1], &t, sizeof t);
		_exit(0);
	}
	pid_t t = 0;
	read(p[0], &t, sizeof t);
	wait_show("middle", middle);
	wait_show("orphan of an EXITKILL tracer", t);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	close(p[0]);
	close(p[1]);
}

/* Single-steps a child from its SIGSTOP to its exit: every step is a
 * SIGTRAP stop that moved rip (a syscall steps as one instruction), and
 * the trap flag never shows. */
static void single_step(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		kill(getpid(), SIGSTOP);
		__asm__ volatile("nop\n\tnop\n\tnop");
		syscall(SYS_exit_group, 4);
	}
	wait_show("step start", pid);
	int steps = 0, moved = 1, tf = 0, traps = 1, st = 0;
	unsigned long last = 0;
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) != 0)
			break;
		if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
			break;
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		moved &= r.rip != last;
		tf |= (r.eflags & 0x100) != 0;
		traps &= WSTOPSIG(st) == SIGTRAP;
		last = r.rip;
		steps++;
	}
	printf("steps: %d, each moved rip: %s, trap flag seen: %s, all SIGTRAP: %s\n", steps, moved ? "yes" : "no",
	       tf ? "yes" : "no", traps ? "yes" : "no");
	printf("stepped child: %s\n", status_str(st));
}

static void seize_and_fpu(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(p[0], &c, 1);
		unsigned int mxcsr;
		__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
		_exit(mxcsr == 0x7f80 ? 0 : 1);
	}
	report("seize", ptrace(PTRACE_SEIZE, pid, 0, (void *)PTRACE_O_TRACESYSGOOD));
	report("seize again", ptrace(PTRACE_SEIZE, pid, 0, 0));
	report("getregs while running", ptrace(PTRACE_GETREGS, pid, 0, 0));
	report("interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
	wait_show("interrupted", pid);
	struct user_fpregs_struct fp;
	report("getfpregs", ptrace(PTRACE_GETFPREGS, pid, 0, &fp));
	CHECK("default mxcsr", fp.mxcsr == 0x1f80);
	fp.mxcsr = 0x7f80; /* round toward zero */
	report("setfpregs", ptrace(PTRACE_SETFPREGS, pid, 0, &fp));
	fp.mxcsr = 0xffffffff;
	report("setfpregs bad mxcsr", ptrace(PTRACE_SETFPREGS, pid, 0, &fp));
	static uint64_t xs[32768 / 8] __attribute__((aligned(64)));
	struct iovec iov = {xs, sizeof xs};
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) == 0) {
		CHECK("xstate mxcsr", (xs[3] & 0xffffffff) == 0x7f80);
		xs[65] = -1; /* xcomp_bv: the compacted format is refused */
		report("setregset bad xcomp_bv", ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &iov));
	}
	report("detach", ptrace(PTRACE_DETACH, pid, 0, 0));
	report("getregs after detach", ptrace(PTRACE_GETREGS, pid, 0, 0));
	write(p[1], "g", 1);
	wait_show("fpu child", pid);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exit3") == 0)
		return 3;
	setvbuf(stdout, NULL, _IONBF, 0);
	report("attach self", ptrace(PTRACE_ATTACH, getpid(), 0, 0));
	report("attach nobody", ptrace(PTRACE_ATTACH, 0x3ffffff, 0, 0));
	report("cont not a tracee", ptrace(PTRACE_CONT, getppid(), 0, 0));
	signals_and_memory();
	syscalls();
	exec_and_fork(argv[0]);
	exit_events();
	single_step();
	seize_and_fpu();
	return 0;
}
