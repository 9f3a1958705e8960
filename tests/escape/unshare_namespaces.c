/* New namespaces by unshare: user (the usual first step to "root" in a
 * namespace), mount, pid, network, UTS, IPC, cgroup and time. Husk
 * refuses user, mount, pid, network and cgroup namespaces with EPERM;
 * UTS, IPC and time namespaces are the Sentry's own (a host name set in
 * one stays there, and the sandbox's is unchanged); unshare of the fd
 * table or the fs context is served in the sandbox. */
#include "escape.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int main(void)
{
	EXPECT_ERR("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWPID)", unshare(CLONE_NEWPID), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP), EPERM);
	char before[65] = { 0 }, after[65] = { 0 };
	gethostname(before, sizeof before - 1);
	pid_t child = fork();
	if (child == 0) {
		if (unshare(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWTIME) != 0)
			_exit(1);
		_exit(sethostname("escaped-uts", 11) == 0 ? 0 : 2);
	}
	int st = 0;
	waitpid(child, &st, 0);
	gethostname(after, sizeof after - 1);
	esc_check("unshare(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWTIME) and sethostname in it",
		  WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(before, after) == 0,
		  "the child's status %d, the sandbox's host name %s", st, after);
	EXPECT_ERR("unshare(all of them)", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET), EPERM);
	EXPECT_OK("unshare(CLONE_FILES | CLONE_FS)", unshare(CLONE_FILES | CLONE_FS));
	return esc_finish();
}
