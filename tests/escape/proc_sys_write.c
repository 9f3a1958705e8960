/* Writing the kernel's knobs through /proc: core_pattern (a pipe to a
 * program the host runs as root: a container escape), modprobe (the same
 * through module loading), sysrq-trigger, drop_caches, hostname. /proc is
 * the sandbox's own: the knobs that are not there give ENOENT, and
 * /proc/sys/kernel/hostname and core_pattern (shown for the programs that
 * read it, such as LTP's) are the sandbox's, read-only; the test checks
 * the host's files. */
#include "escape.h"

static long write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
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
	EXPECT_ERR("/proc/sys/kernel/core_pattern (read-only file)",
		   write_file("/proc/sys/kernel/core_pattern", "|/tmp/pwn %p"), EACCES);
	EXPECT_ERR("/proc/sys/kernel/modprobe", write_file("/proc/sys/kernel/modprobe", "/tmp/pwn"), ENOENT);
	EXPECT_ERR("/proc/sysrq-trigger", write_file("/proc/sysrq-trigger", "b"), ENOENT);
	EXPECT_ERR("/proc/sys/vm/drop_caches", write_file("/proc/sys/vm/drop_caches", "3"), ENOENT);
	EXPECT_ERR("/proc/sys/kernel/ctrl-alt-del", write_file("/proc/sys/kernel/ctrl-alt-del", "1"), ENOENT);
	EXPECT_ERR("/proc/sys/kernel/hostname (read-only file)", write_file("/proc/sys/kernel/hostname", "escaped"), EACCES);
	EXPECT_ERR("/proc/sys/kernel/core_pattern by creat", creat("/proc/sys/kernel/core_pattern", 0644), EACCES);
	return esc_finish();
}
