/* New namespaces by unshare: user (the usual first step to "root" in a
 * namespace), mount, pid, network, UTS, IPC, cgroup and time. Husk does
 * not offer unshare to apps: ENOSYS. */
#include "escape.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int main(void)
{
	EXPECT_ERR("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWPID)", unshare(CLONE_NEWPID), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP), ENOSYS);
	EXPECT_ERR("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME), ENOSYS);
	EXPECT_ERR("unshare(all of them)", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET), ENOSYS);
	return esc_finish();
}
