/* The classic chroot break-out through a moved directory: hold a directory
 * (as cwd and as an fd) deep under /tmp, move it out from under its parent,
 * then climb with `..` far past where the root was. The climb ends at the
 * sandbox's root, never above it. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char cwd[PATH_MAX];
	EXPECT_OK("mkdir -p /tmp/a/b/c/d", mkdir("/tmp/a", 0755) | mkdir("/tmp/a/b", 0755) | mkdir("/tmp/a/b/c", 0755) |
						    mkdir("/tmp/a/b/c/d", 0755));
	int fd = open("/tmp/a/b/c/d", O_RDONLY | O_DIRECTORY);
	EXPECT_OK("chdir /tmp/a/b/c/d", chdir("/tmp/a/b/c/d"));
	EXPECT_OK("rename /tmp/a/b/c to /tmp/c-moved", rename("/tmp/a/b/c", "/tmp/c-moved"));
	int ok = 1;
	for (int i = 0; i < 32; i++)
		ok &= chdir("..") == 0;
	esc_check("chdir(..) x 32 from the moved directory", ok && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0,
		  "cwd is %s", cwd);
	esc_is_sandbox_root("and there", ".");
	int up = openat(fd, "../../../../../../../..", O_RDONLY | O_DIRECTORY);
	EXPECT_OK("openat(moved fd, ../../../../../../../..)", up);
	fchdir(up);
	esc_is_sandbox_root("it", ".");
	EXPECT_OK("fchdir to the moved directory", fchdir(fd));
	esc_no_host_file("../../../../../../host-marker.txt from it", "../../../../../../host-marker.txt", ENOENT);
	return esc_finish();
}
