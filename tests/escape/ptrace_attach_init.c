/* ptrace of the sandbox's own processes: a child attaches to init (this
 * program), seizes it, peeks at its memory; init traces a child with
 * PTRACE_TRACEME. Husk does not offer ptrace to apps: ENOSYS each time
 * (gVisor offers it, confined to the sandbox; either way nothing on the
 * host is traced). */
#include "escape.h"

#include <sys/ptrace.h>

static int child_tries(void)
{
	int fails = 0;
	fails += ptrace(PTRACE_ATTACH, 1, 0, 0) != -1 || errno != ENOSYS;
	fails += ptrace(PTRACE_SEIZE, 1, 0, 0) != -1 || errno != ENOSYS;
	errno = 0;
	long w = ptrace(PTRACE_PEEKDATA, 1, (void *)0x400000, 0);
	fails += w != -1 || errno != ENOSYS;
	fails += ptrace(PTRACE_POKEDATA, 1, (void *)0x400000, 0) != -1 || errno != ENOSYS;
	return fails;
}

int main(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_tries());
	int st;
	waitpid(pid, &st, 0);
	esc_check("a child: PTRACE_ATTACH, SEIZE, PEEKDATA, POKEDATA of pid 1", WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "ENOSYS x 4 (%s)", status_str(st));
	EXPECT_ERR("PTRACE_TRACEME", ptrace(PTRACE_TRACEME, 0, 0, 0), ENOSYS);
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	EXPECT_ERR("init: PTRACE_ATTACH of its child", ptrace(PTRACE_ATTACH, pid, 0, 0), ENOSYS);
	EXPECT_ERR("init: PTRACE_SEIZE of its child", ptrace(PTRACE_SEIZE, pid, 0, 0), ENOSYS);
	EXPECT_ERR("init: PTRACE_ATTACH of itself", ptrace(PTRACE_ATTACH, getpid(), 0, 0), ENOSYS);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return esc_finish();
}
