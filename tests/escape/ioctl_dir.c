/* ioctls on directories (the root, /proc, /sys, /dev, a volume):
 * FS_IOC_GETVERSION, FITRIM (discard the host disk's free blocks),
 * FIFREEZE (freeze the host's filesystem) and 0xdeadbeef: ENOTTY.
 * FS_IOC_SETFLAGS too, but on the Sentry's own filesystems (the overlay
 * root, /tmp, /dev), whose inode flags it keeps itself (chattr): there its
 * answer is the Sentry's, and the volumes' host directories are never
 * reached. */
#include "escape.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

int main(void)
{
	const char *dirs[] = { "/", "/tmp", "/proc", "/sys", "/dev", "/vol", "/ro" };
	char label[128];
	long arg[16] = { 0 };
	for (unsigned i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		int fd = open(dirs[i], O_RDONLY | O_DIRECTORY);
		int bad = 0;
		int sentrys = !strcmp(dirs[i], "/") || !strcmp(dirs[i], "/tmp") || !strcmp(dirs[i], "/dev");
		if (ioctl(fd, FS_IOC_SETFLAGS, arg) == 0 || errno != ENOTTY)
			bad += !sentrys;
		bad += ioctl(fd, FS_IOC_GETVERSION, arg) != -1 || errno != ENOTTY;
		bad += ioctl(fd, FITRIM, arg) != -1 || errno != ENOTTY;
		bad += ioctl(fd, FIFREEZE, 0) != -1 || errno != ENOTTY;
		bad += ioctl(fd, 0xdeadbeef, 0) != -1 || errno != ENOTTY;
		snprintf(label, sizeof label, "%s: SETFLAGS, GETVERSION, FITRIM, FIFREEZE, 0xdeadbeef", dirs[i]);
		esc_check(label, fd >= 0 && bad == 0, "ENOTTY each (%d not)", bad);
	}
	return esc_finish();
}
