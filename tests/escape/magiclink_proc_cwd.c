/* /proc/PID/cwd of another process: a child waits in /tmp/cwd-dir; its
 * parent follows /proc/CHILD/cwd, and climbs from there with `..`. It
 * stays in the sandbox. The cwd of a host process (the test runner's pid)
 * and of a pid that does not exist are not there. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char buf[PATH_MAX], path[PATH_MAX + 64];
	mkdir("/tmp/cwd-dir", 0755);
	close(open("/tmp/cwd-dir/in-cwd", O_CREAT | O_WRONLY, 0644));
	int p[2], q[2];
	pipe(p);
	pipe(q);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		chdir("/tmp/cwd-dir");
		write(q[1], "r", 1);
		read(p[0], &c, 1);
		_exit(0);
	}
	char c;
	read(q[0], &c, 1);
	snprintf(path, sizeof path, "/proc/%d/cwd", pid);
	long n = readlink(path, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	esc_check("readlink /proc/CHILD/cwd", n > 0 && strcmp(buf, "/tmp/cwd-dir") == 0, "\"%s\"", buf);
	snprintf(path, sizeof path, "/proc/%d/cwd/in-cwd", pid);
	EXPECT_OK("open /proc/CHILD/cwd/in-cwd", open(path, O_RDONLY));
	snprintf(path, sizeof path, "/proc/%d/cwd/../../../../..", pid);
	esc_is_sandbox_root("/proc/CHILD/cwd/../../../../..", path);
	snprintf(path, sizeof path, "/proc/%d/cwd/../../../host-marker.txt", pid);
	esc_no_host_file("/proc/CHILD/cwd/../../../host-marker.txt", path, ENOENT);
	esc_is_sandbox_root("/proc/1/cwd (init's)", "/proc/1/cwd");
	close(p[1]);
	waitpid(pid, NULL, 0);

	snprintf(path, sizeof path, "/proc/%d/cwd", ESC_HOST_PID());
	EXPECT_ERR("readlink /proc/HOSTPID/cwd", readlink(path, buf, sizeof buf), ENOENT);
	EXPECT_ERR("open /proc/HOSTPID/cwd", open(path, O_RDONLY | O_DIRECTORY), ENOENT);
	EXPECT_ERR("open /proc/999999/cwd", open("/proc/999999/cwd", O_RDONLY | O_DIRECTORY), ENOENT);
	return esc_finish();
}
