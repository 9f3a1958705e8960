/* Changing the default root (an overlay in the sandbox's memory): every
 * change is served, and visible inside, and none reaches the rootfs
 * directory (the test compares it before and after): rewrite, remove and
 * rename files, chmod the root, replace the running program. */
#include "escape.h"

int main(int argc, char **argv)
{
	(void)argc;
	char buf[64];
	int fd = open(SANDBOX_MARKER, O_WRONLY | O_TRUNC);
	EXPECT_OK("rewrite /sandbox-marker", fd >= 0 ? write(fd, "changed\n", 8) : -1);
	close(fd);
	long r = esc_read(SANDBOX_MARKER, buf, sizeof buf);
	esc_check("it reads back", r == 8 && strcmp(buf, "changed\n") == 0, "%ld bytes", r);
	EXPECT_OK("create /new-file", open("/new-file", O_WRONLY | O_CREAT, 0644));
	EXPECT_OK("mkdir /new-dir", mkdir("/new-dir", 0755));
	EXPECT_OK("rename /new-file into it", rename("/new-file", "/new-dir/moved"));
	EXPECT_OK("chmod / 0700", chmod("/", 0700));
	EXPECT_OK("unlink the running program", unlink(argv[0]));
	EXPECT_OK("and write a file in its place", open(argv[0], O_WRONLY | O_CREAT, 0755));
	EXPECT_OK("symlink /etc-link -> the marker's host path", symlink(ESC_MARKER_PATH(), "/etc-link"));
	return esc_finish();
}
