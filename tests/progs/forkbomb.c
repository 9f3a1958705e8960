/* Forks children that wait on a pipe until a fork fails, then lets them
 * all go and reaps them. Under a pids limit the fork fails with EAGAIN
 * (the limit's count is printed by the test, not here: it depends on the
 * tasks already there). argv[1], if given, is the most children to try.
 *
 * Prints only deterministic lines. */
#include "common.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
	long most = argc > 1 ? atol(argv[1]) : 100000;
	int p[2];
	if (pipe(p) != 0)
		return 1;
	long n = 0;
	int err = 0;
	for (; n < most; n++) {
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			close(p[1]);
			read(p[0], &c, 1);
			_exit(0);
		}
		if (pid < 0) {
			err = errno;
			break;
		}
	}
	printf("fork stopped: %s\n", err ? errname(err) : "no");
	printf("children: %s\n", n > 0 ? "some" : "none");
	close(p[1]);
	long reaped = 0;
	while (wait(NULL) > 0)
		reaped++;
	printf("all reaped: %s\n", reaped == n ? "yes" : "no");
	fflush(stdout);
	/* After they went, forking works again. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int st = 0;
	waitpid(pid, &st, 0);
	printf("a fork afterwards: %s\n", status_str(st));
	return 0;
}
