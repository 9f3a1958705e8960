/* brk: to 64 TiB, to the top of user space, below its start, and into
 * the stack: each refused (brk returns the old break, as Linux does);
 * growing by 64 MiB works and gives zeroed memory. */
#include "escape.h"

int main(void)
{
	unsigned long start = syscall(SYS_brk, 0);
	esc_check("brk(0)", start > 0, "a break");
	unsigned long r = syscall(SYS_brk, 1UL << 46);
	esc_check("brk(64 TiB)", r == start, "unchanged");
	r = syscall(SYS_brk, 0x7ffffffff000UL);
	esc_check("brk(the top of user space)", r == start, "unchanged");
	r = syscall(SYS_brk, 0x1000);
	esc_check("brk(below its start)", r == start, "unchanged");
	char on_stack;
	r = syscall(SYS_brk, (unsigned long)&on_stack);
	esc_check("brk(into the stack)", r == start, "unchanged");
	r = syscall(SYS_brk, start + (64UL << 20));
	esc_check("brk(+64 MiB)", r == start + (64UL << 20), "grown");
	char *p = (char *)start;
	esc_check("the new memory", p[0] == 0 && p[(64UL << 20) - 1] == 0, "zeroed");
	r = syscall(SYS_brk, start);
	esc_check("brk back", r == start, "shrunk");
	return esc_finish();
}
