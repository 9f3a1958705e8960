/* kill(-1, SIGKILL) from a child: Linux sends it to every process the
 * caller may signal but init and itself. Inside the sandbox that is the
 * sandbox's processes only: the child's siblings die, init (this program)
 * lives, and on the host nothing is signalled (the test runner, the
 * nearest host process, is alive to check the rest). */
#include "escape.h"

int main(void)
{
	pid_t sibs[3];
	for (int i = 0; i < 3; i++) {
		sibs[i] = fork();
		if (sibs[i] == 0) {
			for (;;)
				pause();
		}
	}
	pid_t killer = fork();
	if (killer == 0) {
		int r = kill(-1, SIGKILL);
		_exit(r == 0 ? 0 : 1);
	}
	int st;
	waitpid(killer, &st, 0);
	esc_check("kill(-1, SIGKILL) from a child", WIFEXITED(st) && WEXITSTATUS(st) == 0, "it returned 0 and lived: %s",
		  status_str(st));
	int killed = 0;
	for (int i = 0; i < 3; i++) {
		waitpid(sibs[i], &st, 0);
		killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}
	esc_check("its siblings", killed == 3, "%d of 3 killed by SIGKILL", killed);
	esc_check("init lives on", getpid() == 1, "pid %d", getpid());
	EXPECT_ERR("kill(-1, 0) from init, with no other process", kill(-1, 0), ESRCH);
	return esc_finish();
}
