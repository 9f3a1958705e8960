/* Making device nodes for host devices: block 8:0 (the first disk), 1:1
 * (/dev/mem), 10:200 (tun), 10:232 (kvm) and 4:0 (tty0). With CAP_MKNOD a
 * node is made in the Sentry's own filesystems, where it opens the
 * Sentry's device of that number, never the host's: these have none
 * (ENXIO). In a volume (a host directory) it is EPERM; a FIFO is served
 * inside. */
#include "escape.h"

#include <sys/sysmacros.h>

int main(void)
{
	EXPECT_OK("mknod block 8:0 (the Sentry's node)", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
	EXPECT_OK("mknod char 1:1 (/dev/mem)", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)));
	EXPECT_OK("mknod char 10:200 (tun)", mknod("/tmp/tun", S_IFCHR | 0600, makedev(10, 200)));
	EXPECT_OK("mknodat char 10:232 (kvm)", mknodat(AT_FDCWD, "/tmp/kvm", S_IFCHR | 0600, makedev(10, 232)));
	EXPECT_ERR("mknod char 4:0 (tty0) in the rw volume", mknod("/vol/tty0", S_IFCHR | 0600, makedev(4, 0)), EPERM);
	EXPECT_ERR("open the block node", open("/tmp/sda", O_RDONLY), ENXIO);
	EXPECT_ERR("open the /dev/mem node", open("/tmp/mem", O_RDONLY), ENXIO);
	EXPECT_ERR("open the tun node", open("/tmp/tun", O_RDWR), ENXIO);
	EXPECT_ERR("open the kvm node", open("/tmp/kvm", O_RDWR), ENXIO);
	EXPECT_OK("mknod a FIFO", mknod("/tmp/fifo", S_IFIFO | 0600, 0));
	return esc_finish();
}
