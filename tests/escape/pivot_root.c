/* pivot_root: to ".", and to a directory with the old root put beneath
 * it (the usual way out of a chroot). ENOSYS. */
#include "escape.h"

int main(void)
{
	mkdir("/tmp/new", 0755);
	mkdir("/tmp/new/old", 0755);
	EXPECT_ERR("pivot_root(., .)", syscall(SYS_pivot_root, ".", "."), ENOSYS);
	EXPECT_ERR("pivot_root(/tmp/new, /tmp/new/old)", syscall(SYS_pivot_root, "/tmp/new", "/tmp/new/old"), ENOSYS);
	esc_is_sandbox_root("/ afterwards", "/");
	return esc_finish();
}
