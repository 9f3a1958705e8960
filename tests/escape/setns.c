/* Joining other namespaces: /proc/PID/ns/ files of init and of the test
 * runner's host pid, and setns on whatever fd comes (a pidfd of init, a
 * plain file). The ns files are not there (ENOENT) and setns is not
 * offered to apps (ENOSYS). */
#include "escape.h"

#include <sched.h>

int main(void)
{
	char path[64];
	const char *kinds[] = { "mnt", "pid", "net", "user", "uts", "ipc", "cgroup" };
	int present = 0;
	for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(path, sizeof path, "/proc/1/ns/%s", kinds[i]);
		present += open(path, O_RDONLY) != -1 || errno != ENOENT;
		snprintf(path, sizeof path, "/proc/%d/ns/%s", ESC_HOST_PID(), kinds[i]);
		present += open(path, O_RDONLY) != -1 || errno != ENOENT;
	}
	esc_check("open /proc/{1,HOSTPID}/ns/*", present == 0, "all ENOENT (%d not)", present);
	int pidfd = syscall(SYS_pidfd_open, 1, 0);
	EXPECT_ERR("setns(pidfd of init, CLONE_NEWNS)", setns(pidfd, CLONE_NEWNS), ENOSYS);
	EXPECT_ERR("setns(a file, 0)", setns(open("/sandbox-marker", O_RDONLY), 0), ENOSYS);
	EXPECT_ERR("setns(fd 999, 0)", setns(999, 0), ENOSYS);
	return esc_finish();
}
