/* Escapes through a read-write volume (a host directory, changed through
 * the Gofer): symlinks made in it that point out of the volume (and out
 * of the root, at the host marker), then written through with O_CREAT and
 * O_TRUNC; renames and hard links across it. The Sentry resolves the
 * links inside the sandbox (the writes land in the sandbox's root), links
 * and renames across mounts give EXDEV, and the test checks the marker
 * and the volume on the host. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char target[PATH_MAX + 64], buf[128];
	snprintf(target, sizeof target, "../../../../../../../../..%s", ESC_MARKER_PATH());
	EXPECT_OK("symlink /vol/up -> ../../<marker's host path>", symlink(target, "/vol/up"));
	int fd = open("/vol/up", O_WRONLY | O_TRUNC);
	EXPECT_ERR("open it O_WRONLY|O_TRUNC", fd, ENOENT);
	EXPECT_ERR("open it O_CREAT (its directories are not in the sandbox)",
		   open("/vol/up", O_WRONLY | O_CREAT | O_TRUNC, 0644), ENOENT);
	/* mkdir -p the marker's directory inside the sandbox (in its root's
	 * overlay), then create through the link again. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", ESC_MARKER_PATH());
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	fd = open("/vol/up", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	EXPECT_OK("then O_CREAT through it: made inside the sandbox", fd >= 0 ? write(fd, "inside\n", 7) : -1);
	close(fd);
	long r = esc_read(ESC_MARKER_PATH(), buf, sizeof buf);
	esc_check("the file it made is in the sandbox's root", r == 7 && strcmp(buf, "inside\n") == 0, "%ld bytes at %s", r,
		  ESC_MARKER_PATH());
	EXPECT_OK("symlink /vol/abs -> the marker's host path", symlink(ESC_MARKER_PATH(), "/vol/abs"));
	r = esc_read("/vol/abs", buf, sizeof buf);
	esc_check("reading it reads the sandbox's file", r == 7 && strcmp(buf, "inside\n") == 0, "%ld bytes", r);
	EXPECT_OK("symlink /vol/dotdot -> ..", symlink("..", "/vol/dotdot"));
	esc_is_sandbox_root("/vol/dotdot", "/vol/dotdot");
	esc_no_host_file("/vol/dotdot/../host-marker.txt", "/vol/dotdot/../host-marker.txt", ENOENT);
	EXPECT_ERR("link /sandbox-marker into the volume", link(SANDBOX_MARKER, "/vol/hard"), EXDEV);
	EXPECT_ERR("rename /sandbox-marker into the volume", rename(SANDBOX_MARKER, "/vol/moved"), EXDEV);
	EXPECT_ERR("link a :ro volume file into it", link("/ro/ro-file", "/vol/hard2"), EXDEV);
	EXPECT_ERR("rename the volume's mount point to /tmp", rename("/vol", "/tmp/vol"), EXDEV);
	EXPECT_ERR("rename the volume's mount point to /vol2", rename("/vol", "/vol2"), EBUSY);
	return esc_finish();
}
