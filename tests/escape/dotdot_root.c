/* `..` at the root: chdir("..") 64 times, "/../../..", openat of "../.."
 * from a root fd and fchdir to it, and the marker's host path behind a
 * run of "..": each stays at the sandbox's root. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char cwd[PATH_MAX], path[PATH_MAX + 256];
	int ok = 1;
	for (int i = 0; i < 64; i++)
		ok &= chdir("..") == 0;
	esc_check("chdir(..) x 64", ok && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "cwd is %s", cwd);
	esc_is_sandbox_root("/../../..", "/../../..");
	esc_is_sandbox_root("relative ../../../..", "../../../..");

	int root = open("/", O_RDONLY | O_DIRECTORY);
	int up = openat(root, "../../../../..", O_RDONLY | O_DIRECTORY);
	EXPECT_OK("openat(/, ../../../../..)", up);
	EXPECT_OK("fchdir to it", fchdir(up));
	esc_check("cwd after fchdir", getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "cwd is %s", cwd);
	esc_is_sandbox_root("its ..", "..");

	snprintf(path, sizeof path, "/../../../../../../../../..%s", ESC_MARKER_PATH());
	esc_no_host_file("/../../<marker's host path>", path, ENOENT);
	esc_no_host_file("/../host-marker.txt", "/../host-marker.txt", ENOENT);
	snprintf(path, sizeof path, "../../../../%s", ESC_MARKER_PATH());
	esc_no_host_file("openat(root fd, ../../<marker's host path>)",
			 path, ENOENT);
	int fd = openat(root, "../host-marker.txt", O_RDONLY);
	EXPECT_ERR("openat(root fd, ../host-marker.txt)", fd, ENOENT);
	return esc_finish();
}
