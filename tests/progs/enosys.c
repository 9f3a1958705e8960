/* Syscalls the kernel does not have.
 *
 * With no argument: numbers that no x86_64 kernel assigns must fail with
 * ENOSYS and leave the program running. Native and Husk agree on these.
 *
 * With "unimplemented": real syscalls that Husk deliberately leaves out.
 * Natively they give other errnos (or work), so only the Husk-only test
 * runs this mode, and expects ENOSYS for each. */
#include "common.h"

static void try(const char *label, long nr, long a0, long a1)
{
	errno = 0;
	long r = syscall(nr, a0, a1, 0L, 0L, 0L, 0L);
	printf("%s: ret=%ld errno=%s\n", label, r, errname(errno));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "unimplemented") == 0) {
		try("io_uring_setup", SYS_io_uring_setup, 0, 0);
		/* uretprobe: a SIGILL natively on Linux 6.11 and later, and
		 * beyond any seccomp filter on 6.13 and later (systrap's stub
		 * sees that SIGILL, and the Sentry answers the call). */
		try("uretprobe", 335, 0, 0);
		printf("still running\n");
		return 0;
	}
	/* Not in the gap at 335..423: x86 assigns numbers there too (uretprobe
	 * is 335 and raises SIGILL outside a uretprobe trampoline). */
	try("syscall 1000", 1000, 0, 0);
	try("syscall 2000", 2000, 0, 0);
	try("syscall 100000", 100000, 0, 0);
	try("syscall 0x7fffffff", 0x7fffffff, 0, 0);
	try("syscall -1", -1, 0, 0);
	try("syscall 1000 again", 1000, 1, 2);
	try("syscall 100000 again", 100000, 1, 2);
	printf("still running\n");
	return 0;
}
