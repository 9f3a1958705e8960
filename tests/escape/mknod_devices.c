/* Making device nodes for host devices: block 8:0 (the first disk), 1:1
 * (/dev/mem), 10:200 (tun), 10:232 (kvm) and 4:0 (tty0). EPERM, as for a
 * process without CAP_MKNOD; a FIFO is served inside. */
#include "escape.h"

#include <sys/sysmacros.h>

int main(void)
{
	EXPECT_ERR("mknod block 8:0", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)), EPERM);
	EXPECT_ERR("mknod char 1:1 (/dev/mem)", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)), EPERM);
	EXPECT_ERR("mknod char 10:200 (tun)", mknod("/tmp/tun", S_IFCHR | 0600, makedev(10, 200)), EPERM);
	EXPECT_ERR("mknodat char 10:232 (kvm)", mknodat(AT_FDCWD, "/tmp/kvm", S_IFCHR | 0600, makedev(10, 232)), EPERM);
	EXPECT_ERR("mknod char 4:0 (tty0) in the rw volume", mknod("/vol/tty0", S_IFCHR | 0600, makedev(4, 0)), EPERM);
	EXPECT_ERR("open the block node", open("/tmp/sda", O_RDONLY), ENOENT);
	EXPECT_OK("mknod a FIFO", mknod("/tmp/fifo", S_IFIFO | 0600, 0));
	return esc_finish();
}
