/* Unmounting: / (lazily), /proc, /dev, and the :ro volume (to see what is
 * beneath it). ENOSYS each time, and the volume is still there. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	EXPECT_ERR("umount2(/, MNT_DETACH)", umount2("/", MNT_DETACH), ENOSYS);
	EXPECT_ERR("umount /proc", umount("/proc"), ENOSYS);
	EXPECT_ERR("umount2(/dev, MNT_FORCE)", umount2("/dev", MNT_FORCE), ENOSYS);
	EXPECT_ERR("umount /ro", umount("/ro"), ENOSYS);
	EXPECT_ERR("umount /vol", umount("/vol"), ENOSYS);
	EXPECT_OK("the :ro volume is still mounted", open("/ro/ro-file", O_RDONLY));
	return esc_finish();
}
