/* Raising capabilities: capset of every capability (effective, permitted,
 * inheritable) and PR_CAP_AMBIENT_RAISE of CAP_SYS_ADMIN. The app is
 * root inside, with no host capability to raise: Husk does not offer
 * capget and capset (ENOSYS), nor PR_CAP_AMBIENT (EINVAL, as for an
 * unknown prctl; Linux gives EPERM without the capability). */
#include "escape.h"

#include <linux/capability.h>
#include <sys/prctl.h>

int main(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0xff, sizeof d);
	EXPECT_ERR("capset(all)", syscall(SYS_capset, &h, d), ENOSYS);
	EXPECT_ERR("capget", syscall(SYS_capget, &h, d), ENOSYS);
	EXPECT_ERR("prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN)",
		   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0), EINVAL);
	return esc_finish();
}
