/* Running host programs: execve of paths that exist only on the host (the
 * host's shell and env, the marker's host path, this program by the
 * rootfs's host path, /husk), and of /proc/1/root/bin/sh. The sandbox's
 * root has none of them: ENOENT; the program runs its own binary again
 * (through /proc/self/exe) to show execve itself works. */
#include "escape.h"

#include <limits.h>

int main(int argc, char **argv)
{
	if (argc > 1)
		return 0;
	char *args[] = { "x", NULL }, *env[] = { NULL };
	char path[PATH_MAX + 64];
	EXPECT_ERR("execve /bin/sh", execve("/bin/sh", args, env), ENOENT);
	EXPECT_ERR("execve /usr/bin/env", execve("/usr/bin/env", args, env), ENOENT);
	EXPECT_ERR("execve the marker's host path", execve(ESC_MARKER_PATH(), args, env), ENOENT);
	snprintf(path, sizeof path, "%s%s", ESC_ROOTFS(), argv[0]);
	EXPECT_ERR("execve <rootfs host path>/progs/...", execve(path, args, env), ENOENT);
	EXPECT_ERR("execve /proc/1/root/bin/sh", execve("/proc/1/root/bin/sh", args, env), ENOENT);
	EXPECT_ERR("execve /husk (not in the root)", execve("/husk", args, env), ENOENT);
	pid_t pid = fork();
	if (pid == 0) {
		char *again[] = { argv[0], "again", NULL };
		execve("/proc/self/exe", again, env);
		_exit(99);
	}
	int st;
	waitpid(pid, &st, 0);
	esc_check("execve /proc/self/exe", WIFEXITED(st) && WEXITSTATUS(st) == 0, "this program again: %s", status_str(st));
	return esc_finish();
}
