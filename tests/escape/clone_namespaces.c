/* New namespaces by clone and clone3, one flag at a time: user, mount,
 * pid, network and cgroup namespaces EPERM, and no child is made; UTS and
 * IPC namespaces are the Sentry's own: the child's host name is its own,
 * the sandbox's unchanged. */
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
	{ "CLONE_NEWNET", CLONE_NEWNET },   { "CLONE_NEWCGROUP", CLONE_NEWCGROUP },
};

/* A child in a new UTS and IPC namespace sets its host name. */
static void offered(const char *label, long r)
{
	if (r == 0)
		_exit(sethostname("escaped-uts", 11) == 0 ? 0 : 2);
	int st = -1;
	if (r > 0)
		waitpid(r, &st, 0);
	char name[65] = { 0 };
	gethostname(name, sizeof name - 1);
	esc_check(label, r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(name, "escaped-uts") != 0,
		  "returned %ld, the child's status %d, the sandbox's host name %s", r, st, name);
}

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
	offered("clone(CLONE_NEWUTS | CLONE_NEWIPC)", syscall(SYS_clone, CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0));
	struct clone_args ca = { .flags = CLONE_NEWUTS | CLONE_NEWIPC, .exit_signal = SIGCHLD };
	offered("clone3(CLONE_NEWUTS | CLONE_NEWIPC)", syscall(SYS_clone3, &ca, sizeof ca));
	return esc_finish();
}
