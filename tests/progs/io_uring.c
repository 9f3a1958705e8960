/* io_uring is refused in the sandbox (ENOSYS), as gVisor does by default;
 * libraries fall back to ordinary calls. Natively it may work, so this
 * program's expectations are Husk's only. */
#include "common.h"

#include <stdint.h>

int main(void)
{
	uint8_t params[120] = { 0 };
	report("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
	report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0));
	report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
	printf("done\n");
	return 0;
}
