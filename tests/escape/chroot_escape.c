/* The classic chroot break-out: chroot into a subdirectory while keeping
 * the cwd outside it, climb with "..", and chroot(".") there. As on Linux
 * the break-out works, but only as far as the sandbox's root: the climb
 * ends there, and so does the new root. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char cwd[PATH_MAX];
	mkdir("/tmp/jail", 0755);
	EXPECT_OK("chroot(/tmp/jail)", chroot("/tmp/jail"));
	esc_check("getcwd outside the new root", getcwd(cwd, sizeof cwd) == NULL && errno == ENOENT,
		  "glibc's ENOENT for the kernel's (unreachable)");
	for (int i = 0; i < 64; i++)
		chdir("..");
	EXPECT_OK("chroot(.) after 64 x chdir(..)", chroot("."));
	esc_check("cwd", getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "%s", cwd);
	esc_is_sandbox_root("/", "/");
	esc_no_host_file("../host-marker.txt", "../host-marker.txt", ENOENT);
	return esc_finish();
}
