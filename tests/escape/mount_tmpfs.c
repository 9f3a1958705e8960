/* Mounting filesystems: a tmpfs, a procfs (the host's, were it shared),
 * sysfs, devtmpfs (the host's devices), cgroup v1 and v2 (release_agent),
 * securityfs and debugfs, a block device, and remounts of / and of a
 * read-only volume read-write. With CAP_SYS_ADMIN the app may mount the
 * Sentry's own filesystems (tmpfs, procfs, sysfs, devtmpfs: the
 * sandbox's, made in the Sentry), nothing else (ENODEV), and a remount
 * makes no read-only volume writable. The test checks the host's mount
 * table holds nothing new. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	mkdir("/mnt", 0755);
	EXPECT_OK("mount tmpfs /mnt (the Sentry's)", mount("husk-escape", "/mnt", "tmpfs", 0, NULL));
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_OK("mount proc /mnt (the sandbox's)", mount("husk-escape", "/mnt", "proc", 0, NULL));
	EXPECT_ERR("its /mnt/1/root is the sandbox's root, a link", open("/mnt/1/root/ro/ro-file", O_WRONLY), EROFS);
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_OK("mount sysfs /mnt (the sandbox's)", mount("husk-escape", "/mnt", "sysfs", 0, NULL));
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_OK("mount devtmpfs /mnt (the Sentry's devices)", mount("husk-escape", "/mnt", "devtmpfs", 0, NULL));
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_ERR("mount cgroup (v1, memory) /mnt", mount("husk-escape", "/mnt", "cgroup", 0, "memory"), ENODEV);
	EXPECT_ERR("mount cgroup2 /mnt", mount("husk-escape", "/mnt", "cgroup2", 0, NULL), ENODEV);
	EXPECT_ERR("mount securityfs /mnt", mount("husk-escape", "/mnt", "securityfs", 0, NULL), ENODEV);
	EXPECT_ERR("mount debugfs /mnt", mount("husk-escape", "/mnt", "debugfs", 0, NULL), ENODEV);
	EXPECT_ERR("mount ext4 of a block device", mount("/dev/sda1", "/mnt", "ext4", 0, NULL), ENODEV);
	EXPECT_ERR("mount 9p (the Gofer's protocol)", mount("husk-escape", "/mnt", "9p", 0, "trans=fd,rfdno=3,wfdno=3"), EINVAL);
	EXPECT_OK("remount / (the overlay) read-write", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
	EXPECT_OK("remount /ro (a :ro volume) read-write, MS_BIND", mount(NULL, "/ro", NULL, MS_REMOUNT | MS_BIND, NULL));
	EXPECT_ERR("  it still refuses writes", open("/ro/ro-file", O_WRONLY), EROFS);
	EXPECT_ERR("remount /ro read-write", mount(NULL, "/ro", NULL, MS_REMOUNT, NULL), EROFS);
	EXPECT_ERR("  it still refuses writes", open("/ro/ro-file", O_WRONLY), EROFS);
	EXPECT_OK("mount --make-shared / (nothing to share with)", mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL));
	return esc_finish();
}
