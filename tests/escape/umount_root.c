/* Unmounting: / (lazily), /proc, /dev, and the :ro volume (to see what is
 * beneath it). The root stays (EINVAL), /dev is busy with the mounts on
 * it (EBUSY), and what is beneath a volume is the Sentry's empty stand-in,
 * never the host's directory. */
#include "escape.h"

#include <sys/mount.h>

int main(void)
{
	EXPECT_ERR("umount2(/, MNT_DETACH)", umount2("/", MNT_DETACH), EINVAL);
	EXPECT_ERR("umount2(/dev, MNT_FORCE)", umount2("/dev", MNT_FORCE), EBUSY);
	EXPECT_OK("the :ro volume is mounted", open("/ro/ro-file", O_RDONLY));
	EXPECT_ERR("umount /ro while a file is open there", umount("/ro"), EBUSY);
	EXPECT_OK("umount2(/ro, MNT_DETACH)", umount2("/ro", MNT_DETACH));
	EXPECT_ERR("beneath it: the stand-in, empty", open("/ro/ro-file", O_RDONLY), ENOENT);
	EXPECT_OK("umount /vol", umount("/vol"));
	EXPECT_OK("umount /proc", umount("/proc"));
	return esc_finish();
}
