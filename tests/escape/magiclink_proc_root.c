/* /proc/self/root and /proc/PID/root: magic links to the process's root.
 * Inside the sandbox each is the sandbox's root (readlink says "/"), and
 * neither `..` past it nor the host paths beneath it leave it. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char buf[PATH_MAX], path[PATH_MAX + 64];
	long n = readlink("/proc/self/root", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	esc_check("readlink /proc/self/root", n == 1 && buf[0] == '/', "\"%s\"", buf);
	esc_is_sandbox_root("/proc/self/root", "/proc/self/root");
	esc_is_sandbox_root("/proc/self/root/..", "/proc/self/root/..");
	esc_is_sandbox_root("/proc/1/root (init's)", "/proc/1/root");
	esc_is_sandbox_root("/proc/thread-self/root", "/proc/thread-self/root");
	snprintf(path, sizeof path, "/proc/self/root/../../..%s", ESC_MARKER_PATH());
	esc_no_host_file("/proc/self/root/../../<marker's host path>", path, ENOENT);
	snprintf(path, sizeof path, "/proc/self/root%s%s", ESC_ROOTFS(), SANDBOX_MARKER);
	EXPECT_ERR("/proc/self/root/<rootfs host path>/sandbox-marker", open(path, O_RDONLY), ENOENT);

	/* A child's root, read by its parent while the child waits. */
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1);
		_exit(0);
	}
	snprintf(path, sizeof path, "/proc/%d/root", pid);
	esc_is_sandbox_root("/proc/CHILD/root", path);
	snprintf(path, sizeof path, "/proc/%d/root/../host-marker.txt", pid);
	esc_no_host_file("/proc/CHILD/root/../host-marker.txt", path, ENOENT);
	close(p[1]);
	waitpid(pid, NULL, 0);

	/* The test runner's host pid: no such process in here. */
	snprintf(path, sizeof path, "/proc/%d/root", ESC_HOST_PID());
	EXPECT_ERR("readlink /proc/HOSTPID/root", readlink(path, buf, sizeof buf), ENOENT);
	return esc_finish();
}
