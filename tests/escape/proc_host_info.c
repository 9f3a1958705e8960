/* What /proc shows of the host: only the sandbox's processes (the test
 * runner's host pid is not there, /proc/1 is this program), and no host
 * path in the mount tables (the rootfs's host path is never named). */
#include "escape.h"

#include <dirent.h>
#include <limits.h>

static void no_host_path(const char *label, const char *file)
{
	static char buf[65536];
	long r = esc_read(file, buf, sizeof buf);
	esc_check(label, r > 0 && !strstr(buf, ESC_ROOTFS()), "%s: %s", file,
		  r <= 0 ? errname(errno) : strstr(buf, ESC_ROOTFS()) ? "NAMES THE ROOTFS'S HOST PATH" : "no host path");
}

int main(int argc, char **argv)
{
	(void)argc;
	char path[PATH_MAX], buf[4096];
	int pids = 0, high = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 0) {
			pids++;
			high += pid > 1000;
		}
	}
	esc_check("/proc lists the sandbox's processes only", pids >= 1 && high == 0, "%d pids, %d above 1000", pids,
		  high);
	snprintf(path, sizeof path, "/proc/%d", ESC_HOST_PID());
	EXPECT_ERR("stat /proc/HOSTPID", stat(path, &(struct stat){ 0 }), ENOENT);
	long r = esc_read("/proc/1/cmdline", buf, sizeof buf);
	esc_check("/proc/1/cmdline is this program", r > 0 && strcmp(buf, argv[0]) == 0, "\"%s\"", r > 0 ? buf : "");
	esc_check("getpid() is 1", getpid() == 1, "%d", getpid());
	no_host_path("/proc/self/mountinfo names no host path", "/proc/self/mountinfo");
	no_host_path("/proc/self/mounts names no host path", "/proc/self/mounts");
	return esc_finish();
}
