/* New namespaces by unshare: user (the usual first step to "root" in a
 * namespace), mount, pid, network, UTS, IPC, cgroup and time. Husk
 * refuses new namespaces with EPERM, as Docker's seccomp profile does;
 * unshare of the fd table or the fs context is served in the sandbox. */
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
	EXPECT_ERR("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP), EPERM);
	EXPECT_ERR("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME), EPERM);
	EXPECT_ERR("unshare(all of them)", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET), EPERM);
	EXPECT_OK("unshare(CLONE_FILES | CLONE_FS)", unshare(CLONE_FILES | CLONE_FS));
	return esc_finish();
}
