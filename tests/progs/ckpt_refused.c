/* Holds what a checkpoint does not cover yet, so that the test can see
 * the checkpoint refused by name and the sandbox run on: with the argument
 * "ptrace", a child in its vfork's ptrace event stop; with "ghost", a file of
 * the host tree (the root, written through) larger than 64 MiB, deleted
 * while open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "ptrace") == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			raise(SIGSTOP);
			if (vfork() == 0)
				_exit(0);
			_exit(0);
		}
		/* Its vfork's event stop (PTRACE_EVENT_VFORK), after which the
		 * child waits for its own child. */
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) ||
		    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEVFORK) != 0 || ptrace(PTRACE_CONT, pid, 0, 0) != 0 ||
		    waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || st >> 8 != (SIGTRAP | PTRACE_EVENT_VFORK << 8)) {
			fprintf(stderr, "the child did not stop at its vfork\n");
			return 2;
		}
		printf("ready\n");
		fflush(stdout);
		sleep(60);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "ghost") == 0) {
		/* Sparse: 65 MiB of holes, past the 64 MiB a checkpoint copies
		 * of a file deleted from a host tree. */
		int fd = open("/big-ghost", O_CREAT | O_RDWR | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, 65 << 20) != 0 || unlink("/big-ghost") != 0) {
			perror("/big-ghost");
			return 2;
		}
	} else {
		fprintf(stderr, "usage: ckpt_refused ptrace|ghost\n");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	sleep(60);
	return 0;
}
