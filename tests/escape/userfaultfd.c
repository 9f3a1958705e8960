/* userfaultfd, a favourite of kernel exploits (it stalls the kernel
 * mid-copy): the syscall, with and without UFFD_USER_MODE_ONLY, and
 * /dev/userfaultfd. ENOSYS and ENOENT. */
#include "escape.h"

int main(void)
{
	EXPECT_ERR("userfaultfd(O_CLOEXEC)", syscall(SYS_userfaultfd, O_CLOEXEC), ENOSYS);
	EXPECT_ERR("userfaultfd(UFFD_USER_MODE_ONLY)", syscall(SYS_userfaultfd, 1), ENOSYS);
	EXPECT_ERR("open /dev/userfaultfd", open("/dev/userfaultfd", O_RDWR), ENOENT);
	return esc_finish();
}
