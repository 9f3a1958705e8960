/* The kernel log: syslog(2) read-all, clear, console off; /dev/kmsg
 * (write and read) and /proc/kmsg. ENOSYS and ENOENT: the host's log is
 * neither read nor changed. */
#include "escape.h"

int main(void)
{
	char buf[1024];
	EXPECT_ERR("syslog(READ_ALL)", syscall(SYS_syslog, 3, buf, sizeof buf), ENOSYS);
	EXPECT_ERR("syslog(CLEAR)", syscall(SYS_syslog, 5, NULL, 0), ENOSYS);
	EXPECT_ERR("syslog(CONSOLE_OFF)", syscall(SYS_syslog, 6, NULL, 0), ENOSYS);
	EXPECT_ERR("open /dev/kmsg for writing", open("/dev/kmsg", O_WRONLY), ENOENT);
	EXPECT_ERR("open /dev/kmsg", open("/dev/kmsg", O_RDONLY), ENOENT);
	EXPECT_ERR("open /proc/kmsg", open("/proc/kmsg", O_RDONLY), ENOENT);
	return esc_finish();
}
