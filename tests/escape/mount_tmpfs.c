/* Mounting filesystems: a tmpfs, a procfs (the host's, were it shared),
 * sysfs, devtmpfs (the host's devices), cgroup v1 and v2 (release_agent),
 * securityfs and debugfs, and a remount of / read-write. Husk does not
 * offer mount to apps: ENOSYS. The test checks the host's mount table
 * holds nothing new. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	mkdir("/mnt", 0755);
	EXPECT_ERR("mount tmpfs /mnt", mount("husk-escape", "/mnt", "tmpfs", 0, NULL), ENOSYS);
	EXPECT_ERR("mount proc /mnt", mount("husk-escape", "/mnt", "proc", 0, NULL), ENOSYS);
	EXPECT_ERR("mount sysfs /mnt", mount("husk-escape", "/mnt", "sysfs", 0, NULL), ENOSYS);
	EXPECT_ERR("mount devtmpfs /mnt", mount("husk-escape", "/mnt", "devtmpfs", 0, NULL), ENOSYS);
	EXPECT_ERR("mount cgroup (v1, memory) /mnt", mount("husk-escape", "/mnt", "cgroup", 0, "memory"), ENOSYS);
	EXPECT_ERR("mount cgroup2 /mnt", mount("husk-escape", "/mnt", "cgroup2", 0, NULL), ENOSYS);
	EXPECT_ERR("mount securityfs /mnt", mount("husk-escape", "/mnt", "securityfs", 0, NULL), ENOSYS);
	EXPECT_ERR("mount debugfs /mnt", mount("husk-escape", "/mnt", "debugfs", 0, NULL), ENOSYS);
	EXPECT_ERR("mount ext4 of a block device", mount("/dev/sda1", "/mnt", "ext4", 0, NULL), ENOSYS);
	EXPECT_ERR("remount / read-write", mount(NULL, "/", NULL, MS_REMOUNT, NULL), ENOSYS);
	EXPECT_ERR("remount /ro (a :ro volume) read-write", mount(NULL, "/ro", NULL, MS_REMOUNT | MS_BIND, NULL), ENOSYS);
	EXPECT_ERR("mount --make-shared /", mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL), ENOSYS);
	return esc_finish();
}
