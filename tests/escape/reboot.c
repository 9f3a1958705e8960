/* reboot(2): turning Ctrl-Alt-Del handling on (LINUX_REBOOT_CMD_CAD_ON:
 * harmless to try, and visible on the host as /proc/sys/kernel/ctrl-alt-del,
 * which the test checks), then halt, power-off and restart, and a bad
 * magic. Husk does not offer reboot to apps: ENOSYS. (Calling it natively
 * as root would act on the host: run this only in a sandbox.) */
#include "escape.h"

#include <linux/reboot.h>

static long rb(unsigned magic2, unsigned cmd)
{
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, magic2, cmd, NULL);
}

int main(void)
{
	EXPECT_ERR("reboot(CAD_ON)", rb(LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_ON), ENOSYS);
	EXPECT_ERR("reboot(CAD_OFF)", rb(LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF), ENOSYS);
	/* If these reached a kernel they would end the run: the line after
	 * them shows they did not. */
	EXPECT_ERR("reboot(HALT)", rb(LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_HALT), ENOSYS);
	EXPECT_ERR("reboot(POWER_OFF)", rb(LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF), ENOSYS);
	EXPECT_ERR("reboot(RESTART)", rb(LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART), ENOSYS);
	EXPECT_ERR("reboot(a bad magic)", rb(1234, LINUX_REBOOT_CMD_RESTART), ENOSYS);
	EXPECT_OK("still running", getpid());
	return esc_finish();
}
