/* Joining other namespaces: /proc/PID/ns/ files of the test runner's
 * host pid are not there (ENOENT); init's are the sandbox's own, and
 * joining them (setns) joins the sandbox's; setns on whatever else comes
 * (a pidfd of init, a plain file, a bad fd) fails. */
#include "escape.h"
#include <sched.h>
int main(void)
{
	char path[64];
	const char *kinds[] = { "mnt", "pid", "net", "user", "uts", "ipc", "cgroup" };
	int present = 0;
	for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(path, sizeof path, "/proc/%d/ns/%s", ESC_HOST_PID(), kinds[i]);
		present += open(path, O_RDONLY) != -1 || errno != ENOENT;
	}
	esc_check("open /proc/HOSTPID/ns/*", present == 0, "all ENOENT (%d not)", present);
	char before[65] = { 0 }, after[65] = { 0 };
	gethostname(before, sizeof before - 1);
	int uts = open("/proc/1/ns/uts", O_RDONLY);
	EXPECT_OK("setns(init's UTS namespace, the sandbox's own)", setns(uts, CLONE_NEWUTS));
	gethostname(after, sizeof after - 1);
	esc_check("and the host name after it", strcmp(before, after) == 0, "%s", after);
	int pidfd = syscall(SYS_pidfd_open, 1, 0);
	EXPECT_ERR("setns(pidfd of init, CLONE_NEWNS)", setns(pidfd, CLONE_NEWNS), EINVAL);
	EXPECT_ERR("setns(a file, 0)", setns(open("/sandbox-marker", O_RDONLY), 0), EINVAL);
	EXPECT_ERR("setns(fd 999, 0)", setns(999, 0), EBADF);
	return esc_finish();
}
