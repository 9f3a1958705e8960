/* "Shocker" (Docker, 2014): open_by_handle_at with guessed file handles
 * reaches any inode of the host's filesystem. Husk serves file handles
 * from the Sentry's own table: a handle names a file the app itself named
 * with name_to_handle_at, never a host inode, and opening one needs
 * CAP_DAC_READ_SEARCH (not in Docker's default set: EPERM). Guessed
 * handles open nothing (EPERM, or ESTALE with the capability). */
#include "escape.h"

struct handle {
	unsigned int bytes;
	int type;
	unsigned char f_handle[128];
};

int main(void)
{
	struct handle h = { .bytes = 8 };
	int mount_id;
	EXPECT_ERR("name_to_handle_at(/) into 8 bytes", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h, &mount_id, 0),
		   EOVERFLOW);
	h.bytes = sizeof h.f_handle;
	EXPECT_OK("name_to_handle_at(/)", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h, &mount_id, 0));
	int root = open("/", O_RDONLY | O_DIRECTORY);
	int opened = 0, other = 0;
	/* The root inode of ext4 is 2: guess inode numbers in the handle's
	 * own format. */
	for (unsigned long ino = 2; ino < 66; ino++) {
		struct handle g = h;
		if (g.bytes >= sizeof ino)
			memcpy(g.f_handle + g.bytes - sizeof ino, &ino, sizeof ino);
		long r = syscall(SYS_open_by_handle_at, root, &g, O_RDONLY);
		opened += r >= 0;
		other += r < 0 && errno != EPERM && errno != ESTALE;
	}
	esc_check("open_by_handle_at with inodes 2..65", opened == 0 && other == 0,
		  "EPERM or ESTALE each: %d opened, %d others", opened, other);
	return esc_finish();
}
