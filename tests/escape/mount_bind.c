/* Bind mounts and moves: / onto /mnt, the :ro volume read-write, /proc
 * elsewhere, MS_MOVE of /; and the new mount API (open_tree, move_mount,
 * fsopen, fsmount, fspick, mount_setattr). All ENOSYS. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	mkdir("/mnt", 0755);
	EXPECT_ERR("mount --bind / /mnt", mount("/", "/mnt", NULL, MS_BIND | MS_REC, NULL), ENOSYS);
	EXPECT_ERR("mount --bind /ro /mnt (read-write)", mount("/ro", "/mnt", NULL, MS_BIND, NULL), ENOSYS);
	EXPECT_ERR("mount --bind /proc /mnt", mount("/proc", "/mnt", NULL, MS_BIND, NULL), ENOSYS);
	EXPECT_ERR("mount --move / /mnt", mount("/", "/mnt", NULL, MS_MOVE, NULL), ENOSYS);
	EXPECT_ERR("open_tree(/, OPEN_TREE_CLONE)", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */), ENOSYS);
	EXPECT_ERR("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/", AT_FDCWD, "/mnt", 0), ENOSYS);
	EXPECT_ERR("fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", 0), ENOSYS);
	EXPECT_ERR("fsmount", syscall(SYS_fsmount, 3, 0, 0), ENOSYS);
	EXPECT_ERR("fspick(/)", syscall(SYS_fspick, AT_FDCWD, "/", 0), ENOSYS);
	EXPECT_ERR("mount_setattr(/ro, clear RDONLY)", syscall(SYS_mount_setattr, AT_FDCWD, "/ro", 0, NULL, 0), ENOSYS);
	return esc_finish();
}
