/* unshare(2) of what a process may make its own (the fd table, the fs
 * context), the flags each implies and the errors; and clone's and
 * clone3's argument checks that come before any permission check. No new
 * namespace is asked for: natively, as root, it would be made, and under
 * Husk it is EPERM (the escape suite checks that). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/stat.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

struct clone_args_big {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
	uint64_t future[2];
};

static int thread_fd = -1;

static void *unshare_in_thread(void *arg)
{
	(void)arg;
	report("a thread's unshare(CLONE_FILES | CLONE_FS)", unshare(CLONE_FILES | CLONE_FS));
	thread_fd = open("/", O_RDONLY);
	chdir("/tmp");
	return NULL;
}

static long clone3_sized(struct clone_args_big *ca, size_t size)
{
	fflush(stdout);
	long pid = syscall(SYS_clone3, ca, size);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

int main(void)
{
	mkdir("/tmp", 01777);
	chdir("/");
	report("unshare(0)", unshare(0));
	report("unshare(CLONE_PTRACE)", unshare(CLONE_PTRACE));
	report("unshare(CLONE_VFORK)", unshare(CLONE_VFORK));
	report("unshare(CLONE_THREAD), one thread", unshare(CLONE_THREAD));
	report("unshare(CLONE_VM), one thread", unshare(CLONE_VM));
	report("unshare(CLONE_FILES)", unshare(CLONE_FILES));

	pthread_t th;
	pthread_create(&th, NULL, unshare_in_thread, NULL);
	pthread_join(th, NULL);
	report("the thread's new fd, here", fcntl(thread_fd, F_GETFD));
	char cwd[64];
	printf("cwd here: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));

	pthread_create(&th, NULL, (void *(*)(void *))pause, NULL);
	report("unshare(CLONE_VM) beside another thread", unshare(CLONE_VM));
	report("unshare(CLONE_THREAD) beside another thread", unshare(CLONE_THREAD));
	report("unshare(CLONE_SIGHAND) beside another thread", unshare(CLONE_SIGHAND));

	report("clone(CLONE_NEWNS | CLONE_FS)", syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0));
	report("clone(CLONE_NEWUSER | CLONE_FS)", syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0));
	report("clone(CLONE_THREAD | CLONE_NEWPID)",
	       syscall(SYS_clone, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWPID, 0, 0, 0, 0));

	struct clone_args_big ca = {.exit_signal = SIGCHLD};
	report("clone3 of 96 bytes, the rest zero", clone3_sized(&ca, sizeof ca));
	ca.future[1] = 1;
	report("clone3 of 104 bytes, a field it does not know set", clone3_sized(&ca, sizeof ca));
	ca.future[1] = 0;
	report("clone3 of 4097 bytes", clone3_sized(&ca, 4097));
	report("clone3 of 56 bytes", clone3_sized(&ca, 56));
	return 0;
}
