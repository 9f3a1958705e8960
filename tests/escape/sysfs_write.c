/* Writing the kernel's knobs through /sys: uevent_helper (a program the
 * host runs as root on every device event), the cgroup v1 release_agent
 * (CVE-2022-0492), a network device's flags, power/state. The sandbox's
 * /sys has none of them: ENOENT (or EACCES making them), but for its own
 * interfaces' attributes, read-only (EACCES); the test checks the host's
 * uevent_helper and loopback flags. */
#include "escape.h"

static long write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
	EXPECT_ERR("/sys/kernel/uevent_helper", write_file("/sys/kernel/uevent_helper", "/tmp/pwn"), EACCES);
	EXPECT_ERR("/sys/fs/cgroup/release_agent", write_file("/sys/fs/cgroup/release_agent", "/tmp/pwn"), EACCES);
	EXPECT_ERR("/sys/fs/cgroup/memory/release_agent", write_file("/sys/fs/cgroup/memory/release_agent", "/tmp/pwn"),
		   ENOENT);
	EXPECT_ERR("/sys/class/net/lo/flags", write_file("/sys/class/net/lo/flags", "0"), EACCES);
	EXPECT_ERR("/sys/power/state", write_file("/sys/power/state", "mem"), ENOENT);
	EXPECT_ERR("/sys/kernel/profiling", write_file("/sys/kernel/profiling", "1"), EACCES);
	return esc_finish();
}
