/* Prints the process's ids and uname fields. Not differential: natively
 * the pid is whatever the host gives; under Husk the app is pid 1 of its
 * own sandbox. */
#include "common.h"

#include <sys/utsname.h>

int main(void)
{
	printf("pid=%ld\n", syscall(SYS_getpid));
	printf("tid=%ld\n", syscall(SYS_gettid));
	printf("ppid=%ld\n", syscall(SYS_getppid));
	struct utsname u;
	if (syscall(SYS_uname, &u) == 0)
		printf("sysname=%s\nrelease=%s\nmachine=%s\n", u.sysname, u.release, u.machine);
	else
		printf("uname: %s\n", errname(errno));
	return 0;
}
