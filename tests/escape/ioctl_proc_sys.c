/* ioctls on procfs and sysfs files: /proc/self/status, /proc/self/maps,
 * /proc/sys/kernel/hostname, /proc/mounts, /sys/fs/cgroup/cgroup.controllers:
 * TIOCSTI, FIBMAP and 0xdeadbeef give ENOTTY. */
#include "escape.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

int main(void)
{
	const char *files[] = { "/proc/self/status", "/proc/self/maps", "/proc/sys/kernel/hostname", "/proc/mounts",
				"/sys/fs/cgroup/cgroup.controllers" };
	char label[128], c = 'x';
	int blk = 0;
	for (unsigned i = 0; i < sizeof files / sizeof files[0]; i++) {
		int fd = open(files[i], O_RDONLY);
		int bad = fd < 0;
		bad += ioctl(fd, TIOCSTI, &c) != -1 || errno != ENOTTY;
		bad += ioctl(fd, FIBMAP, &blk) != -1 || errno != ENOTTY;
		bad += ioctl(fd, 0xdeadbeef, 0) != -1 || errno != ENOTTY;
		snprintf(label, sizeof label, "%s: TIOCSTI, FIBMAP, 0xdeadbeef", files[i]);
		esc_check(label, bad == 0, "ENOTTY each (%d not)", bad);
	}
	return esc_finish();
}
