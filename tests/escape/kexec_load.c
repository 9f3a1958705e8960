/* Loading a new kernel: kexec_load and kexec_file_load (with fds of a
 * file in the root). ENOSYS; the test checks the host's
 * /sys/kernel/kexec_loaded is unchanged. */
#include "escape.h"

int main(void)
{
	EXPECT_ERR("kexec_load(no segments)", syscall(SYS_kexec_load, 0x100000, 0, NULL, 0), ENOSYS);
	struct {
		void *buf;
		size_t bufsz;
		void *mem;
		size_t memsz;
	} seg = { "x", 1, (void *)0x100000, 4096 };
	EXPECT_ERR("kexec_load(one segment)", syscall(SYS_kexec_load, 0x100000, 1, &seg, 0), ENOSYS);
	int fd = open("/sandbox-marker", O_RDONLY);
	EXPECT_ERR("kexec_file_load", syscall(SYS_kexec_file_load, fd, fd, 1, "", 0), ENOSYS);
	return esc_finish();
}
