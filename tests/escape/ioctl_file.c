/* ioctls on regular files, of each kind of root: the overlay (/tmp), the
 * rootfs served by the Gofer (/sandbox-marker), a read-write volume
 * (/vol) and a :ro one (/ro): FIBMAP (the disk block: a host address),
 * FS_IOC_GETFLAGS and SETFLAGS (chattr +i), FICLONE, FIEMAP,
 * BLKGETSIZE64, BLKRRPART and an unknown 0xdeadbeef. None reaches the
 * host's filesystem: ENOTTY, but the inode-flag ioctls on the Sentry's
 * own files (the overlay's and the rootfs's, whose flags the Sentry keeps
 * itself, as chattr on tmpfs); FIOCLEX is served. */
#include "escape.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/mman.h>
#include <sys/ioctl.h>

static void on(const char *what, int fd, int sentrys)
{
	char label[128];
	long arg[64] = { 0 };
	const struct {
		const char *name;
		unsigned long cmd;
	} cmds[] = {
		{ "FIBMAP", FIBMAP },		{ "FS_IOC_GETFLAGS", FS_IOC_GETFLAGS },
		{ "FS_IOC_SETFLAGS", FS_IOC_SETFLAGS }, { "FICLONE", FICLONE },
		{ "FS_IOC_FIEMAP", FS_IOC_FIEMAP },	{ "BLKGETSIZE64", BLKGETSIZE64 },
		{ "BLKRRPART", BLKRRPART },		{ "0xdeadbeef", 0xdeadbeef },
	};
	int bad = 0;
	for (unsigned i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		long r = cmds[i].cmd == FICLONE ? ioctl(fd, cmds[i].cmd, 0) : ioctl(fd, cmds[i].cmd, arg);
		int flags = cmds[i].cmd == FS_IOC_GETFLAGS || cmds[i].cmd == FS_IOC_SETFLAGS;
		if (sentrys && flags)
			continue;
		if (r != -1 || errno != ENOTTY) {
			bad++;
			printf("# %s %s: %s\n", what, cmds[i].name, r == -1 ? errname(errno) : "succeeded");
		}
	}
	snprintf(label, sizeof label, "%s: FIBMAP, FS_IOC_*FLAGS, FICLONE, FIEMAP, BLK*, 0xdeadbeef", what);
	esc_check(label, bad == 0, "ENOTTY each (%d not)", bad);
	snprintf(label, sizeof label, "%s: FIOCLEX", what);
	EXPECT_OK(label, ioctl(fd, FIOCLEX));
}

int main(void)
{
	int t = open("/tmp/ioctl-file", O_RDWR | O_CREAT, 0600);
	on("overlay file", t, 1);
	on("rootfs file", open("/sandbox-marker", O_RDONLY), 1);
	on("volume file", open("/vol/ioctl-file", O_RDWR | O_CREAT, 0600), 0);
	on(":ro volume file", open("/ro/ro-file", O_RDONLY), 0);
	on("memfd", memfd_create("x", 0), 1);
	return esc_finish();
}
