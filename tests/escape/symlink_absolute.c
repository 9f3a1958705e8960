/* Absolute symlinks to host paths (the marker, the rootfs's own host path,
 * and /proc/1/root): an absolute target restarts at the sandbox's
 * root, so each names a file inside the sandbox, or nothing. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char target[PATH_MAX + 64];
	const char *marker = ESC_MARKER_PATH(), *rootfs = ESC_ROOTFS();

	EXPECT_OK("symlink to the marker's host path", symlink(marker, "/tmp/abs-marker"));
	esc_no_host_file("open it", "/tmp/abs-marker", ENOENT);

	/* The rootfs's host path, then the sandbox's marker beneath it: on the
	 * host this names the root's own file; inside, nothing. */
	snprintf(target, sizeof target, "%s%s", rootfs, SANDBOX_MARKER);
	EXPECT_OK("symlink to <rootfs host path>/sandbox-marker", symlink(target, "/tmp/abs-rootfs"));
	EXPECT_ERR("open it", open("/tmp/abs-rootfs", O_RDONLY), ENOENT);

	/* "/" itself, then "..": still the root. */
	EXPECT_OK("symlink /tmp/slash -> /", symlink("/", "/tmp/slash"));
	esc_is_sandbox_root("/tmp/slash/..", "/tmp/slash/..");
	esc_is_sandbox_root("/tmp/slash/../..", "/tmp/slash/../..");

	/* The host's procfs through a symlink: /proc is the sandbox's own. */
	EXPECT_OK("symlink to /proc/1/root", symlink("/proc/1/root", "/tmp/p1root"));
	esc_is_sandbox_root("/tmp/p1root", "/tmp/p1root");
	snprintf(target, sizeof target, "/tmp/p1root%s", marker);
	esc_no_host_file("/tmp/p1root/<marker's host path>", target, ENOENT);
	return esc_finish();
}
