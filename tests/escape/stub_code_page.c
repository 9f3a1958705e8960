/* The stub's code page sits in every app process, above the range the app
 * may map (mmap_stub_region.c), and holds a host `syscall` instruction:
 * the one the stub makes its own calls with (systrap: mmap of the memory
 * file, munmap, mprotect, futex, arch_prctl, rt_sigreturn; ptrace: mmap,
 * munmap, mprotect). Each platform's seccomp filter lets through only
 * those, and only from that page. An app that finds the page and jumps to
 * its syscall instruction with another number in rax must not get that
 * call run by the host:
 * - on systrap, the stub's filter kills the stub (SECCOMP_RET_KILL), and
 *   the Sentry ends the task with SIGKILL;
 * - on ptrace, PTRACE_SYSEMU stops the call before seccomp sees it, as it
 *   stops every app syscall, and the Sentry serves it inside the sandbox;
 *   the child then runs on into the stub's code and dies of its trap.
 *
 * The program looks for the page at the addresses where each platform
 * puts it (ptrace from 0x7fff00000000 down, systrap from 0x7ffe00000000
 * down, in 4 GiB steps), reading under a SIGSEGV handler. Then, in a child
 * each, it jumps there with getpid, kill(-1, SIGKILL), openat, socket,
 * execve and ptrace (PTRACE_ATTACH of the test runner's host pid) in rax: each child must die by a signal, with nothing
 * done on the host (the test checks it afterwards), and the sandbox goes
 * on. */
#include "escape.h"

#include <setjmp.h>
#include <stdint.h>

static sigjmp_buf probe_env;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(probe_env, 1);
}

/* The first syscall instruction (0f 05) in the readable page at `page`, or
 * 0 when the page cannot be read or has none. */
static uint64_t syscall_insn_in(uint64_t page)
{
	volatile uint64_t found = 0;
	if (sigsetjmp(probe_env, 1) == 0) {
		const volatile uint8_t *p = (const volatile uint8_t *)page;
		for (int i = 0; i + 1 < 4096; i++)
			if (p[i] == 0x0f && p[i + 1] == 0x05) {
				found = page + i;
				break;
			}
	}
	return found;
}

/* Jumps to `insn` with the syscall number `nr` and arguments a0..a2: the
 * host runs that syscall as if the stub made it. Never returns here. */
static void __attribute__((noreturn)) jump_to(uint64_t insn, long nr, long a0, long a1, long a2)
{
	register long rdi __asm__("rdi") = a0;
	register long rsi __asm__("rsi") = a1;
	register long rdx __asm__("rdx") = a2;
	__asm__ volatile("jmp *%0" : : "r"(insn), "a"(nr), "r"(rdi), "r"(rsi), "r"(rdx) : "memory");
	__builtin_unreachable();
}

struct attempt {
	const char *label;
	long nr, a0, a1, a2;
};

int main(void)
{
	struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	uint64_t insn = 0;
	for (uint64_t base = 0x7fff00000000UL; base >= 0x7ff000000000UL && !insn; base -= 0x100000000UL)
		insn = syscall_insn_in(base);
	esc_check("the stub's code page is readable from the app", insn != 0,
		  insn ? "a syscall instruction in it (the attempts below use it)" : "not found at any candidate");
	if (!insn)
		return esc_finish();
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);

	static const char path[] = "/";
	const struct attempt attempts[] = {
		{"getpid", SYS_getpid, 0, 0, 0},
		{"kill(-1, SIGKILL)", SYS_kill, -1, SIGKILL, 0},
		{"openat(AT_FDCWD, \"/\")", SYS_openat, AT_FDCWD, (long)path, O_RDONLY},
		{"socket(AF_INET, SOCK_STREAM)", SYS_socket, 2, 1, 0},
		{"execve(\"/\")", SYS_execve, (long)path, 0, 0},
		{"ptrace(PTRACE_ATTACH, HOSTPID)", SYS_ptrace, 16, ESC_HOST_PID(), 0},
	};
	for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
		const struct attempt *a = &attempts[i];
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			jump_to(insn, a->nr, a->a0, a->a1, a->a2);
		int st = 0;
		pid_t got = waitpid(pid, &st, 0);
		char label[96];
		snprintf(label, sizeof label, "%s from the stub's code page", a->label);
		esc_check(label, got == pid && WIFSIGNALED(st), "the child: %s", got == pid ? status_str(st) : "not waited for");
	}
	esc_still_works();
	return esc_finish();
}
