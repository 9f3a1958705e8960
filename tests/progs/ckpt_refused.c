/* Holds what a checkpoint does not cover yet, so that the test can see
 * the checkpoint refused by name and the sandbox run on: with the argument
 * "ptrace", a child in its seccomp filter's ptrace event stop; with "ghost", a file of
 * the host tree (the root, written through) larger than 64 MiB, deleted
 * while open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
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
			/* getppid goes to the tracer first (SECCOMP_RET_TRACE). */
			struct sock_filter f[] = {
				BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
				BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
				BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
				BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			};
			struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			raise(SIGSTOP);
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
			    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
				_exit(3);
			syscall(SYS_getppid);
			_exit(0);
		}
		/* Its seccomp filter's event stop (PTRACE_EVENT_SECCOMP), in
		 * the middle of the syscall's entry. */
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) ||
		    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP) != 0 || ptrace(PTRACE_CONT, pid, 0, 0) != 0 ||
		    waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || st >> 8 != (SIGTRAP | PTRACE_EVENT_SECCOMP << 8)) {
			fprintf(stderr, "the child did not stop at its seccomp filter\n");
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
