/* Stress: N fork-exec-wait children, one at a time.
 *
 *   forkexec [N [PROG]]   (default 1000, PROG this program itself)
 *
 * Child i execs PROG. With the default PROG (this program, which must be
 * /progs/forkexec) it runs as `forkexec child I` and exits with
 * I % 251, which the parent checks; with another PROG (e.g. /bin/true)
 * the status must be 0. Every 10th child is started with vfork instead
 * of fork. Prints the counts. */
#include "common.h"

#include <stdlib.h>

/* Starts prog in a child (by vfork or fork); the child never returns
 * from here, so vfork is safe. */
static __attribute__((noinline)) pid_t spawn(const char *prog, char **args, int use_vfork)
{
	static char *envp[] = { NULL };
	pid_t pid = use_vfork ? vfork() : fork();
	if (pid == 0) {
		execve(prog, args, envp);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0)
		return atoi(argv[2]) % 251;

	long n = argc > 1 ? atol(argv[1]) : 1000;
	const char *prog = argc > 2 ? argv[2] : "/progs/forkexec";
	int self = argc <= 2;
	long ok = 0, bad = 0, vforked = 0;
	for (long i = 0; i < n; i++) {
		char num[24];
		snprintf(num, sizeof num, "%ld", i);
		char *args_self[] = { (char *)prog, "child", num, NULL };
		char *args_other[] = { (char *)prog, NULL };
		char **args = self ? args_self : args_other;
		fflush(stdout);
		int use_vfork = i % 10 == 9;
		vforked += use_vfork;
		pid_t pid = spawn(prog, args, use_vfork);
		if (pid < 0) {
			printf("child %ld: fork: %s\n", i, errname(errno));
			bad++;
			break;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid) {
			printf("child %ld: waitpid: %s\n", i, errname(errno));
			bad++;
			continue;
		}
		int want = self ? (int)(i % 251) : 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == want) {
			ok++;
		} else {
			if (bad < 10)
				printf("child %ld: %s, expected exited %d\n", i, status_str(st), want);
			bad++;
		}
	}
	errno = 0;
	long r = waitpid(-1, NULL, WNOHANG);
	printf("children=%ld ok=%ld bad=%ld (%ld by vfork)\n", n, ok, bad, vforked);
	printf("no child left: %s\n", r == -1 && errno == ECHILD ? "ok" : "bad");
	return bad ? 1 : 0;
}
