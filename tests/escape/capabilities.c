/* Capabilities are the sandbox's own: the app (root inside, started with
 * every capability by --cap-add ALL) reads them, loses them all by
 * becoming another user, as Linux's set*id rules say, and then can raise
 * none again, nor do what they guard; none of this touches the host's. */
#include "escape.h"

#include <linux/capability.h>
#include <sys/prctl.h>

int main(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	/* Another process that stays root, to signal later. */
	pid_t other = fork();
	if (other == 0) {
		pause();
		_exit(0);
	}
	EXPECT_OK("capget", syscall(SYS_capget, &h, d));
	esc_check("capget: CAP_SYS_ADMIN is effective", (d[0].effective >> CAP_SYS_ADMIN) & 1, "%s", "as asked");
	EXPECT_OK("prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)", prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0));
	EXPECT_OK("setresuid(1000) drops every capability", setresuid(1000, 1000, 1000));
	EXPECT_OK("capget as uid 1000", syscall(SYS_capget, &h, d));
	esc_check("no capability left", d[0].effective == 0 && d[0].permitted == 0 && d[1].permitted == 0, "%s",
		  "effective and permitted are empty");
	memset(d, 0xff, sizeof d);
	EXPECT_ERR("capset(all)", syscall(SYS_capset, &h, d), EPERM);
	EXPECT_ERR("prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN)",
		   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0), EPERM);
	EXPECT_ERR("sethostname", sethostname("x", 1), EPERM);
	EXPECT_ERR("kill(a root process, 0)", kill(other, 0), EPERM);
	EXPECT_ERR("setuid(0)", setuid(0), EPERM);
	return esc_finish();
}
