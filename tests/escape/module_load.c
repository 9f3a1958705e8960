/* Kernel modules: init_module of an image (an ELF header: whatever the
 * kernel would make of it), finit_module of a file, delete_module of a
 * module most hosts have. ENOSYS; the test checks the host's /proc/modules
 * is unchanged. */
#include "escape.h"

int main(void)
{
	static char image[4096] = "\177ELF\2\1\1";
	EXPECT_ERR("init_module(an ELF image)", syscall(SYS_init_module, image, sizeof image, ""), ENOSYS);
	int fd = open("/tmp/husk-escape.ko", O_CREAT | O_RDWR, 0644);
	write(fd, image, sizeof image);
	EXPECT_ERR("finit_module(/tmp/husk-escape.ko)", syscall(SYS_finit_module, fd, "", 0), ENOSYS);
	EXPECT_ERR("delete_module(ext4)", syscall(SYS_delete_module, "ext4", O_NONBLOCK), ENOSYS);
	EXPECT_ERR("delete_module(overlay, O_TRUNC: forced)", syscall(SYS_delete_module, "overlay", O_NONBLOCK | O_TRUNC),
		   ENOSYS);
	EXPECT_ERR("open /proc/modules", open("/proc/modules", O_RDONLY), ENOENT);
	return esc_finish();
}
