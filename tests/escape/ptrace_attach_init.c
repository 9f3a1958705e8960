/* ptrace of the sandbox's own processes, which Husk serves confined to
 * the sandbox, as gVisor does: a child seizes init (this program), stops
 * it, reads and writes a word of its memory, and lets it go; init traces
 * a child of its own. The memory read is the sandbox init's (a value it
 * set), and the word written changes only that; nothing on the host is
 * traced. init cannot be traced by a parent it has not (TRACEME: EPERM)
 * nor trace itself (EPERM). */
#include "escape.h"

#include <sys/ptrace.h>

static volatile long word = 0x5eed1234;

static int child_tries(void)
{
	int fails = 0;
	fails += ptrace(PTRACE_SEIZE, 1, 0, 0) != 0;
	fails += ptrace(PTRACE_INTERRUPT, 1, 0, 0) != 0;
	int st = 0;
	fails += waitpid(1, &st, __WALL) != 1 || !WIFSTOPPED(st);
	errno = 0;
	long w = ptrace(PTRACE_PEEKDATA, 1, (void *)&word, 0);
	fails += (w != 0x5eed1234 || errno != 0) << 1;
	fails += (ptrace(PTRACE_POKEDATA, 1, (void *)&word, (void *)0x600d) != 0) << 2;
	fails += (ptrace(PTRACE_DETACH, 1, 0, 0) != 0) << 3;
	return fails;
}

int main(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_tries());
	int st;
	waitpid(pid, &st, 0);
	esc_check("a child: PTRACE_SEIZE, INTERRUPT, PEEKDATA, POKEDATA, DETACH of pid 1",
		  WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sandbox's init, served (%s)", status_str(st));
	esc_check("init's word, poked by its tracer", word == 0x600d, "%#lx", (long)word);
	EXPECT_ERR("PTRACE_TRACEME of init", ptrace(PTRACE_TRACEME, 0, 0, 0), EPERM);
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	EXPECT_OK("init: PTRACE_ATTACH of its child", ptrace(PTRACE_ATTACH, pid, 0, 0));
	esc_check("init: its child stops for it", waitpid(pid, &st, 0) == pid && WIFSTOPPED(st), "%s",
		  status_str(st));
	EXPECT_OK("init: PTRACE_DETACH", ptrace(PTRACE_DETACH, pid, 0, 0));
	EXPECT_ERR("init: PTRACE_ATTACH of itself", ptrace(PTRACE_ATTACH, getpid(), 0, 0), EPERM);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return esc_finish();
}
