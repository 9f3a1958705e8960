/* Bind mounts and moves: / onto /mnt, the :ro volume read-write, /proc
 * elsewhere, MS_MOVE of /; and the new mount API (open_tree, move_mount,
 * fsopen, fsmount, fspick, mount_setattr). A bind is one more way into
 * the Sentry's own files: the :ro volume stays read-only through it, /
 * beneath itself is refused (ELOOP), MS_MOVE is EINVAL, and the new API
 * is ENOSYS. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	mkdir("/mnt", 0755);
	EXPECT_ERR("mount --bind / /mnt", mount("/", "/mnt", NULL, MS_BIND | MS_REC, NULL), ELOOP);
	EXPECT_OK("mount --bind /ro /mnt (read-write)", mount("/ro", "/mnt", NULL, MS_BIND, NULL));
	EXPECT_ERR("  writes through it", open("/mnt/ro-file", O_WRONLY), EROFS);
	EXPECT_ERR("  a new file through it", open("/mnt/new-file", O_WRONLY | O_CREAT, 0644), EROFS);
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_OK("mount --bind /proc /mnt", mount("/proc", "/mnt", NULL, MS_BIND, NULL));
	EXPECT_OK("umount it", umount("/mnt"));
	EXPECT_ERR("mount --move / /mnt", mount("/", "/mnt", NULL, MS_MOVE, NULL), EINVAL);
	EXPECT_ERR("open_tree(/, OPEN_TREE_CLONE)", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */), ENOSYS);
	EXPECT_ERR("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/", AT_FDCWD, "/mnt", 0), ENOSYS);
	EXPECT_ERR("fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", 0), ENOSYS);
	EXPECT_ERR("fsmount", syscall(SYS_fsmount, 3, 0, 0), ENOSYS);
	EXPECT_ERR("fspick(/)", syscall(SYS_fspick, AT_FDCWD, "/", 0), ENOSYS);
	EXPECT_ERR("mount_setattr(/ro, clear RDONLY)", syscall(SYS_mount_setattr, AT_FDCWD, "/ro", 0, NULL, 0), ENOSYS);
	return esc_finish();
}
