/* A fork bomb, under `husk run --pids 32`: every process forks until fork
 * fails. It fails with EAGAIN before 32 tasks; the sandbox (and the host)
 * go on, and once the bomb is gone forking works again. */
#include "escape.h"

int main(void)
{
	int p[2];
	pipe(p);
	int q[2];
	pipe(q);
	pid_t bomb = fork();
	if (bomb == 0) {
		/* Each process forks as long as it can, reporting each failure's
		 * errno on q, then waits on p. */
		close(p[1]);
		for (int round = 0; round < 64; round++) {
			pid_t c = fork();
			if (c < 0) {
				int e = errno;
				write(q[1], &e, sizeof e);
				break;
			}
		}
		char c;
		read(p[0], &c, 1);
		_exit(0);
	}
	close(q[1]);
	int e = 0, fails = 0, eagain = 0;
	/* Wait for the first few failures. */
	while (fails < 4 && read(q[0], &e, sizeof e) == sizeof e) {
		fails++;
		eagain += e == EAGAIN;
	}
	esc_check("the bomb's forks fail", fails == 4 && eagain == 4, "EAGAIN (%d of %d)", eagain, fails);
	int max = 0;
	FILE *f = fopen("/sys/fs/cgroup/pids.max", "r");
	if (f) {
		if (fscanf(f, "%d", &max) != 1)
			max = 0;
		fclose(f);
	}
	esc_check("the sandbox's pids.max", max == 32, "%d", max);
	close(p[1]);
	/* The bomb's processes exit; init reaps the orphans. */
	int reaped = 0;
	while (wait(NULL) > 0)
		reaped++;
	esc_check("all reaped", reaped >= 1, "children gone");
	/* (Retried for a while: the last of the bomb may still be exiting.) */
	pid_t pid = -1;
	for (int i = 0; i < 100 && pid < 0; i++) {
		pid = fork();
		if (pid < 0)
			sleep_ms(20);
	}
	if (pid == 0)
		_exit(7);
	int st = 0;
	waitpid(pid, &st, 0);
	esc_check("a fork afterwards", WIFEXITED(st) && WEXITSTATUS(st) == 7, "%s", status_str(st));
	return esc_finish();
}
