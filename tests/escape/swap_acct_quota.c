/* Host-wide switches: swapon/swapoff, process accounting to a file,
 * quotactl, lookup_dcookie, vhangup, sync of every filesystem. The first
 * ones are ENOSYS; vhangup hangs up the sandbox's own terminal (none
 * here); sync is served (Linux's sync has no failure). */
#include "escape.h"

int main(void)
{
	close(open("/tmp/swapfile", O_CREAT | O_RDWR, 0600));
	EXPECT_ERR("swapon(/tmp/swapfile)", syscall(SYS_swapon, "/tmp/swapfile", 0), ENOSYS);
	EXPECT_ERR("swapoff(/tmp/swapfile)", syscall(SYS_swapoff, "/tmp/swapfile"), ENOSYS);
	EXPECT_ERR("acct(/tmp/acct)", syscall(SYS_acct, "/tmp/acct"), ENOSYS);
	EXPECT_ERR("acct(NULL)", syscall(SYS_acct, NULL), ENOSYS);
	EXPECT_ERR("quotactl(Q_QUOTAON, /)", syscall(SYS_quotactl, 0x800002, "/", 0, NULL), ENOSYS);
	EXPECT_ERR("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0), ENOSYS);
	EXPECT_OK("vhangup", syscall(SYS_vhangup));
	EXPECT_OK("sync", syscall(SYS_sync));
	return esc_finish();
}
