/* ioprio_get and ioprio_set: the default (best-effort, level 4), each
 * class set and read back, NONE with a level (EINVAL), an unknown class
 * and `which` (EINVAL), a missing thread (ESRCH), a fork child's
 * inherited priority, a process group's best, and the real-time class
 * refused without CAP_SYS_NICE (EPERM, as uid 65534 after setuid). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WHO_PROCESS 1
#define WHO_PGRP 2
#define VALUE(class, level) (((class) << 13) | (level))

static long get(int which, int who)
{
	return syscall(SYS_ioprio_get, which, who);
}

static const char *set(int which, int who, int prio)
{
	return syscall(SYS_ioprio_set, which, who, prio) < 0 ? strerror(errno) : "ok";
}

static void show(const char *what, long v)
{
	if (v < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: class %ld level %ld\n", what, v >> 13, v & 7);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	show("at first", get(WHO_PROCESS, 0));
	printf("BE 3: %s\n", set(WHO_PROCESS, 0, VALUE(2, 3)));
	show("now", get(WHO_PROCESS, 0));
	pid_t c = fork();
	if (c == 0) {
		show("a fork child", get(WHO_PROCESS, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("IDLE: %s\n", set(WHO_PROCESS, 0, VALUE(3, 0)));
	show("now", get(WHO_PROCESS, 0));
	printf("RT 1 as root: %s\n", set(WHO_PROCESS, 0, VALUE(1, 1)));
	show("now", get(WHO_PROCESS, 0));
	printf("NONE 0: %s\n", set(WHO_PROCESS, 0, VALUE(0, 0)));
	show("now", get(WHO_PROCESS, 0));
	printf("NONE 1: %s\n", set(WHO_PROCESS, 0, VALUE(0, 1)));
	printf("class 5: %s\n", set(WHO_PROCESS, 0, VALUE(5, 0)));
	printf("which 9: %s\n", set(9, 0, VALUE(2, 0)));
	show("get, which 9", get(9, 0));
	printf("a missing thread: %s\n", set(WHO_PROCESS, 4000000, VALUE(2, 0)));
	setpgid(0, 0);
	printf("the process group, BE 6: %s\n", set(WHO_PGRP, 0, VALUE(2, 6)));
	show("the group's best", get(WHO_PGRP, 0));
	c = fork();
	if (c == 0) {
		if (setuid(65534) != 0)
			_exit(3);
		printf("uid 65534, RT 1: %s\n", set(WHO_PROCESS, 0, VALUE(1, 1)));
		printf("uid 65534, BE 2: %s\n", set(WHO_PROCESS, 0, VALUE(2, 2)));
		printf("uid 65534, root's process: %s\n", set(WHO_PROCESS, getppid(), VALUE(2, 2)));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 0;
}
