/* Changing a :ro volume (a host directory bind-mounted read-only), every
 * way: open for writing, O_CREAT, O_TRUNC, truncate, unlink, rmdir,
 * rename in and out, mkdir, symlink, link, mknod, chmod, chown, utimes,
 * setxattr, and a shared writable mapping of a file opened read-only.
 * EROFS (EACCES for the mapping, EXDEV for renames across mounts); the
 * test checks the host directory is unchanged. */
#include "escape.h"

#include <sys/mman.h>
#include <sys/time.h>
#include <sys/xattr.h>

int main(void)
{
	EXPECT_ERR("open O_WRONLY", open("/ro/ro-file", O_WRONLY), EROFS);
	EXPECT_ERR("open O_RDWR", open("/ro/ro-file", O_RDWR), EROFS);
	EXPECT_ERR("open O_TRUNC", open("/ro/ro-file", O_RDONLY | O_TRUNC), EROFS);
	EXPECT_ERR("open O_CREAT of a new file", open("/ro/new", O_WRONLY | O_CREAT, 0644), EROFS);
	EXPECT_ERR("truncate", truncate("/ro/ro-file", 0), EROFS);
	EXPECT_ERR("unlink", unlink("/ro/ro-file"), EROFS);
	EXPECT_ERR("rmdir", rmdir("/ro/ro-dir/inner"), EROFS);
	EXPECT_ERR("mkdir", mkdir("/ro/new-dir", 0755), EROFS);
	EXPECT_ERR("rename within", rename("/ro/ro-file", "/ro/renamed"), EROFS);
	EXPECT_ERR("rename out to /tmp", rename("/ro/ro-file", "/tmp/taken"), EXDEV);
	EXPECT_ERR("symlink", symlink("/etc/passwd", "/ro/link"), EROFS);
	EXPECT_ERR("link", link("/ro/ro-file", "/ro/hard"), EROFS);
	EXPECT_ERR("mknod FIFO", mknod("/ro/fifo", S_IFIFO | 0600, 0), EROFS);
	EXPECT_ERR("chmod 0777", chmod("/ro/ro-file", 0777), EROFS);
	EXPECT_ERR("chown 1000", chown("/ro/ro-file", 1000, 1000), EROFS);
	EXPECT_ERR("utimes", utimes("/ro/ro-file", NULL), EROFS);
	EXPECT_ERR("setxattr user.x", setxattr("/ro/ro-file", "user.x", "1", 1, 0), EROFS);
	int fd = open("/ro/ro-file", O_RDONLY);
	EXPECT_ERR("fchmod of an fd opened read-only", fchmod(fd, 0777), EROFS);
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_ERR("mmap MAP_SHARED PROT_WRITE of it", m == MAP_FAILED ? -1 : 0, EACCES);
	EXPECT_ERR("write to it", write(fd, "x", 1), EBADF);
	char buf[64];
	long r = esc_read("/ro/ro-file", buf, sizeof buf);
	esc_check("the file reads as before", r > 0 && strcmp(buf, "read-only volume\n") == 0, "%ld bytes", r);
	return esc_finish();
}
