/* Breaking out of the cgroup: raising the sandbox's own limits in
 * /sys/fs/cgroup (pids.max, memory.max), enabling controllers, making a
 * child cgroup, and moving this process (cgroup.procs, which the
 * sandbox's view does not have: ENOENT). The view is read-only (EACCES),
 * the limits stay, and /proc/self/cgroup names only the sandbox's root. */
#include "escape.h"

static long write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	long r = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int main(void)
{
	char buf[64];
	EXPECT_ERR("write pids.max", write_file("/sys/fs/cgroup/pids.max", "max"), EACCES);
	EXPECT_ERR("write memory.max", write_file("/sys/fs/cgroup/memory.max", "max"), EACCES);
	EXPECT_ERR("write cgroup.procs (not offered)", write_file("/sys/fs/cgroup/cgroup.procs", "1"), ENOENT);
	EXPECT_ERR("write cgroup.subtree_control", write_file("/sys/fs/cgroup/cgroup.subtree_control", "+pids"), EACCES);
	EXPECT_ERR("mkdir /sys/fs/cgroup/escape", mkdir("/sys/fs/cgroup/escape", 0755), EACCES);
	long r = esc_read("/sys/fs/cgroup/pids.max", buf, sizeof buf);
	esc_check("pids.max afterwards", r > 0 && strcmp(buf, "max\n") == 0, "unchanged");
	r = esc_read("/proc/self/cgroup", buf, sizeof buf);
	esc_check("/proc/self/cgroup", r > 0 && strcmp(buf, "0::/\n") == 0, "the sandbox's root cgroup: %s",
		  r > 0 ? buf : "?");
	return esc_finish();
}
