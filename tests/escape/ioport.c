/* Port I/O and the LDT: iopl(3) (every port), ioperm of the CMOS and
 * keyboard controller ports (a reset), modify_ldt. ENOSYS; with no port
 * access, an `inb` would fault. */
#include "escape.h"

int main(void)
{
	EXPECT_ERR("iopl(3)", syscall(SYS_iopl, 3), ENOSYS);
	EXPECT_ERR("ioperm(0x70, 2, on) (CMOS)", syscall(SYS_ioperm, 0x70, 2, 1), ENOSYS);
	EXPECT_ERR("ioperm(0x64, 1, on) (keyboard controller)", syscall(SYS_ioperm, 0x64, 1, 1), ENOSYS);
	char ldt[16] = { 0 };
	EXPECT_ERR("modify_ldt(write)", syscall(SYS_modify_ldt, 1, ldt, sizeof ldt), ENOSYS);
	EXPECT_ERR("open /dev/port", open("/dev/port", O_RDWR), ENOENT);
	return esc_finish();
}
