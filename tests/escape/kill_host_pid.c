/* Signals to host processes: the test runner's host pid, its process
 * group, and pids no sandbox process has, by kill, tgkill,
 * rt_sigqueueinfo and pidfd_send_signal: ESRCH each time. The test
 * runner is still alive afterwards (it runs the check). */
#include "escape.h"

int main(void)
{
	int host = ESC_HOST_PID();
	EXPECT_ERR("kill(HOSTPID, 0)", kill(host, 0), ESRCH);
	EXPECT_ERR("kill(HOSTPID, SIGKILL)", kill(host, SIGKILL), ESRCH);
	EXPECT_ERR("kill(-HOSTPID, SIGKILL) (its group)", kill(-host, SIGKILL), ESRCH);
	EXPECT_ERR("tgkill(HOSTPID, HOSTPID, SIGKILL)", syscall(SYS_tgkill, host, host, SIGKILL), ESRCH);
	EXPECT_ERR("tkill(HOSTPID, SIGKILL)", syscall(SYS_tkill, host, SIGKILL), ESRCH);
	siginfo_t si = { .si_signo = SIGKILL, .si_code = SI_QUEUE };
	EXPECT_ERR("rt_sigqueueinfo(HOSTPID, SIGKILL)", syscall(SYS_rt_sigqueueinfo, host, SIGKILL, &si), ESRCH);
	EXPECT_ERR("kill(999999, SIGKILL)", kill(999999, SIGKILL), ESRCH);
	EXPECT_ERR("pidfd_open(HOSTPID)", syscall(SYS_pidfd_open, host, 0), ESRCH);
	int self = syscall(SYS_pidfd_open, getpid(), 0);
	EXPECT_OK("pidfd_send_signal(self pidfd, 0)", syscall(SYS_pidfd_send_signal, self, 0, NULL, 0));
	return esc_finish();
}
