/* "Shocker" (Docker, 2014): open_by_handle_at with guessed file handles
 * reaches any inode of the host's filesystem. name_to_handle_at and
 * open_by_handle_at are not offered to apps: ENOSYS. */
#include "escape.h"

struct handle {
	unsigned int bytes;
	int type;
	unsigned char f_handle[8];
};

int main(void)
{
	struct handle h = { .bytes = 8, .type = 1 };
	int mount_id;
	EXPECT_ERR("name_to_handle_at(/)", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h, &mount_id, 0), ENOSYS);
	int root = open("/", O_RDONLY | O_DIRECTORY);
	int opened = 0, other = 0;
	/* The root inode of ext4 is 2; try a few generations and types. */
	for (unsigned ino = 2; ino < 66; ino++) {
		memcpy(h.f_handle, &ino, 4);
		long r = syscall(SYS_open_by_handle_at, root, &h, O_RDONLY);
		opened += r >= 0;
		other += r < 0 && errno != ENOSYS;
	}
	esc_check("open_by_handle_at with inodes 2..65", opened == 0 && other == 0, "ENOSYS each: %d opened, %d others",
		  opened, other);
	return esc_finish();
}
