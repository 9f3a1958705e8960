/* Changing a read-only root (husk run --read-only, as docker run
 * --read-only): EROFS for each change; the test checks the rootfs
 * directory is unchanged. /tmp is the sandbox's tmpfs: writable. */
#include "escape.h"

#include <sys/time.h>

int main(int argc, char **argv)
{
	(void)argc;
	EXPECT_ERR("open /sandbox-marker O_WRONLY", open(SANDBOX_MARKER, O_WRONLY), EROFS);
	EXPECT_ERR("create /new", open("/new", O_WRONLY | O_CREAT, 0644), EROFS);
	EXPECT_ERR("unlink /sandbox-marker", unlink(SANDBOX_MARKER), EROFS);
	EXPECT_ERR("unlink the running program", unlink(argv[0]), EROFS);
	EXPECT_ERR("rename /sandbox-marker", rename(SANDBOX_MARKER, "/renamed"), EROFS);
	EXPECT_ERR("mkdir /new-dir", mkdir("/new-dir", 0755), EROFS);
	EXPECT_ERR("chmod /", chmod("/", 0777), EROFS);
	EXPECT_ERR("utimes /sandbox-marker", utimes(SANDBOX_MARKER, NULL), EROFS);
	EXPECT_OK("create /tmp/x (tmpfs)", open("/tmp/x", O_WRONLY | O_CREAT, 0644));
	return esc_finish();
}
