/* New namespaces by clone and clone3, one flag at a time: EPERM, as for a
 * process without CAP_SYS_ADMIN (and as Docker's seccomp profile gives);
 * no child is made. */
#include "escape.h"

#include <linux/sched.h>
#include <sched.h>
#include <stdint.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *name;
	unsigned long flag;
} flags[] = {
	{ "CLONE_NEWUSER", CLONE_NEWUSER }, { "CLONE_NEWNS", CLONE_NEWNS },   { "CLONE_NEWPID", CLONE_NEWPID },
	{ "CLONE_NEWNET", CLONE_NEWNET },   { "CLONE_NEWUTS", CLONE_NEWUTS }, { "CLONE_NEWIPC", CLONE_NEWIPC },
	{ "CLONE_NEWCGROUP", CLONE_NEWCGROUP },
};

int main(void)
{
	char label[96];
	for (unsigned i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		long r = syscall(SYS_clone, flags[i].flag | SIGCHLD, 0, 0, 0, 0);
		if (r == 0)
			_exit(0);
		if (r > 0)
			waitpid(r, NULL, 0);
		snprintf(label, sizeof label, "clone(%s)", flags[i].name);
		esc_expect_err(label, r > 0 ? r : -1, EPERM);
		struct clone_args ca = { .flags = flags[i].flag, .exit_signal = SIGCHLD };
		r = syscall(SYS_clone3, &ca, sizeof ca);
		if (r == 0)
			_exit(0);
		if (r > 0)
			waitpid(r, NULL, 0);
		snprintf(label, sizeof label, "clone3(%s)", flags[i].name);
		esc_expect_err(label, r > 0 ? r : -1, EPERM);
	}
	return esc_finish();
}
