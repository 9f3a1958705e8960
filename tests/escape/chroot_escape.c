/* The classic chroot break-out: chroot into a subdirectory while keeping
 * the cwd outside it, climb with "..", and chroot(".") there. Husk does
 * not offer chroot to apps (ENOSYS); the climb that follows still ends at
 * the sandbox's root. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char cwd[PATH_MAX];
	mkdir("/tmp/jail", 0755);
	EXPECT_ERR("chroot(/tmp/jail)", chroot("/tmp/jail"), ENOSYS);
	for (int i = 0; i < 64; i++)
		chdir("..");
	EXPECT_ERR("chroot(.) after 64 x chdir(..)", chroot("."), ENOSYS);
	esc_check("cwd", getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "%s", cwd);
	esc_is_sandbox_root("/", "/");
	esc_no_host_file("../host-marker.txt", "../host-marker.txt", ENOENT);
	return esc_finish();
}
