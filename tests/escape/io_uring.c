/* io_uring: its operations run in kernel threads that seccomp never sees
 * (a known way around syscall filters). io_uring_setup, enter and
 * register are refused: ENOSYS, as gVisor does by default. */
#include "escape.h"

int main(void)
{
	char params[120] = { 0 };
	EXPECT_ERR("io_uring_setup(8)", syscall(SYS_io_uring_setup, 8, params), ENOSYS);
	EXPECT_ERR("io_uring_enter", syscall(SYS_io_uring_enter, 3, 1, 0, 0, NULL, 0), ENOSYS);
	EXPECT_ERR("io_uring_register", syscall(SYS_io_uring_register, 3, 0, NULL, 0), ENOSYS);
	return esc_finish();
}
