/* Exit status plumbing.
 *
 *   exitcode N            return N from main (exit(3), then exit_group)
 *   exitcode exit_group N raw exit_group(N), skipping atexit and stdio
 *   exitcode exit N       raw exit(N) from the only thread
 *   exitcode segv         write through a NULL pointer (SIGSEGV: 139)
 *
 * Each mode first writes a line with write(2), so that output before
 * the exit is checked too. */
#include "common.h"

#include <stdlib.h>

static void say(const char *s)
{
	syscall(SYS_write, 1, s, strlen(s));
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "segv") == 0) {
		say("writing to NULL\n");
		*(volatile int *)0 = 1;
		say("survived the NULL write\n");
		return 3;
	}
	if (argc == 2) {
		say("returning from main\n");
		return atoi(argv[1]);
	}
	if (argc == 3 && strcmp(argv[1], "exit_group") == 0) {
		/* Buffered stdio output is lost: exit_group skips the flush. */
		printf("this line is never flushed\n");
		say("calling exit_group\n");
		syscall(SYS_exit_group, (long)atoi(argv[2]));
	}
	if (argc == 3 && strcmp(argv[1], "exit") == 0) {
		say("calling exit\n");
		syscall(SYS_exit, (long)atoi(argv[2]));
	}
	say("usage: exitcode N | exit_group N | exit N | segv\n");
	return 2;
}
