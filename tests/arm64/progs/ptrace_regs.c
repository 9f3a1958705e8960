/* arm64's ptrace register requests (tests/arm64/run.sh runs it natively
 * and under Husk on the arm64 machine): a child stopped under its tracer
 * shows its registers through PTRACE_GETREGSET (NT_PRSTATUS, NT_PRFPREG,
 * NT_ARM_TLS, NT_ARM_SYSTEM_CALL); at a syscall-enter-stop the number is
 * in x8 and NT_ARM_SYSTEM_CALL and x0 is still the first argument; the
 * tracer changes the call (getppid for getpid) and then skips one (-1)
 * with a return value of its own; a short length, an odd one and an
 * unknown note; GETREGS and PEEKUSER are EIO. */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

static long regset(int req, pid_t pid, int note, void *buf, size_t len, size_t *got)
{
	struct iovec io = { buf, len };
	long r = ptrace(req, pid, (void *)(long)note, &io);
	if (got)
		*got = io.iov_len;
	return r;
}

static const char *err(long r)
{
	return r == 0 ? "ok" : strerror(errno);
}

static void step_to_syscall(pid_t pid)
{
	int st;
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	waitpid(pid, &st, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		__asm__ volatile("msr tpidr_el0, %0" ::"r"(0x1234abcdUL));
		__asm__ volatile("fmov d9, %0" ::"r"(2.5));
		raise(SIGSTOP);
		long a = syscall(SYS_getpid);
		long b = syscall(SYS_getpid);
		_exit(a == getppid() && b == 77 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("stopped by SIGSTOP: %d\n", WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);

	struct user_regs_struct regs;
	size_t got;
	printf("NT_PRSTATUS: %s, %zu bytes\n", err(regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, &got)), got);
	printf("sp 16-byte aligned: %d, pstate EL0t: %d\n", (regs.sp & 15) == 0, (regs.pstate & 0xf) == 0);
	struct user_fpsimd_struct fp;
	printf("NT_PRFPREG: %s, %zu bytes\n", err(regset(PTRACE_GETREGSET, pid, NT_PRFPREG, &fp, sizeof fp, &got)), got);
	double d9;
	memcpy(&d9, &fp.vregs[9], sizeof d9);
	printf("d9: %.1f\n", d9);
	uint64_t tls = 0;
	printf("NT_ARM_TLS: %s, %#lx\n", err(regset(PTRACE_GETREGSET, pid, NT_ARM_TLS, &tls, sizeof tls, NULL)),
	       (unsigned long)tls);
	uint64_t half[2];
	printf("NT_PRSTATUS into 16 bytes: %s, %zu bytes, x0 and x1 as in full: %d\n",
	       err(regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, half, sizeof half, &got)), got,
	       half[0] == regs.regs[0] && half[1] == regs.regs[1]);
	printf("NT_PRSTATUS, 12 bytes: %s\n", err(regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, half, 12, NULL)));
	printf("note 0x999: %s\n", err(regset(PTRACE_GETREGSET, pid, 0x999, half, sizeof half, NULL)));
	errno = 0;
	long w = ptrace(PTRACE_PEEKUSER, pid, 0, 0);
	printf("PEEKUSER: %ld %s\n", w, strerror(errno));

	/* To raise's own syscalls' end, then the first getpid's entry. */
	int nr = 0;
	for (int i = 0; i < 20; i++) {
		step_to_syscall(pid);
		regset(PTRACE_GETREGSET, pid, NT_ARM_SYSTEM_CALL, &nr, sizeof nr, NULL);
		if (nr == SYS_getpid)
			break;
	}
	regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, NULL);
	printf("getpid entry: NT_ARM_SYSTEM_CALL %d, x8 %llu\n", nr, (unsigned long long)regs.regs[8]);
	/* It becomes getppid. */
	nr = SYS_getppid;
	printf("set NT_ARM_SYSTEM_CALL: %s\n", err(regset(PTRACE_SETREGSET, pid, NT_ARM_SYSTEM_CALL, &nr, sizeof nr, NULL)));
	step_to_syscall(pid);
	regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, NULL);
	printf("exit: x0 is the tracer's pid: %d\n", (pid_t)regs.regs[0] == getpid());
	/* The second getpid is skipped, returning 77. */
	step_to_syscall(pid);
	nr = -1;
	regset(PTRACE_SETREGSET, pid, NT_ARM_SYSTEM_CALL, &nr, sizeof nr, NULL);
	step_to_syscall(pid);
	regset(PTRACE_GETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, NULL);
	regs.regs[0] = 77;
	printf("set x0 at the skipped call's exit: %s\n",
	       err(regset(PTRACE_SETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, NULL)));
	uint64_t bad = regs.pstate;
	regs.pstate |= 0x5; /* EL1h */
	printf("a privileged PSTATE: %s\n", err(regset(PTRACE_SETREGSET, pid, NT_PRSTATUS, &regs, sizeof regs, NULL)));
	regs.pstate = bad;
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
	printf("child: exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
