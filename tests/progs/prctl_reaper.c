/* prctl's process options beyond names and capabilities:
 * - PR_SET_CHILD_SUBREAPER: a grandchild orphaned by its parent's exit
 *   comes to the subreaper (getppid, and the subreaper's wait reaps it);
 *   a zombie orphaned the same way can be reaped at once; a process that
 *   is not a subreaper gives its orphans to init;
 * - PR_SET/GET_TIMERSLACK: set, read, reset to the default, and a fork
 *   child's default is its parent's value then; /proc/self/timerslack_ns;
 * - PR_SET/GET_THP_DISABLE and their argument checks, inherited by fork;
 * - PR_GET_TID_ADDRESS after set_tid_address;
 * - PR_GET_TSC, and an unknown option's EINVAL. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld;

static void on_chld(int sig)
{
	(void)sig;
	chld++;
}

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

static long proc_slack(void)
{
	FILE *f = fopen("/proc/self/timerslack_ns", "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -2;
		fclose(f);
	}
	return v;
}

/* Forks a child that forks a grandchild, then exits; the grandchild
 * reports its new parent through `report`. With `zombie`, the grandchild
 * exits first, so the orphan is already a zombie. Returns the grandchild's
 * pid. */
static pid_t orphan(int report[2], int zombie)
{
	pid_t child = fork();
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			if (zombie)
				_exit(5);
			usleep(100000);
			pid_t pp = getppid();
			if (write(report[1], &pp, sizeof(pp)) != sizeof(pp))
				_exit(3);
			_exit(6);
		}
		if (zombie)
			usleep(100000); /* the grandchild is a zombie before we go */
		if (write(report[1], &g, sizeof(g)) != sizeof(g))
			_exit(3);
		_exit(0);
	}
	pid_t g;
	if (read(report[0], &g, sizeof(g)) != sizeof(g))
		return -1;
	waitpid(child, NULL, 0);
	return g;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int got = -1;
	long r = prctl(PR_GET_CHILD_SUBREAPER, &got);
	printf("PR_GET_CHILD_SUBREAPER: %s, %d\n", err(r), got);
	printf("PR_SET_CHILD_SUBREAPER: %s\n", err(prctl(PR_SET_CHILD_SUBREAPER, 1)));
	prctl(PR_GET_CHILD_SUBREAPER, &got);
	printf("now: %d\n", got);

	int report[2];
	if (pipe(report) != 0)
		return 2;
	pid_t g = orphan(report, 0);
	pid_t pp;
	if (read(report[0], &pp, sizeof(pp)) != sizeof(pp))
		return 2;
	printf("the orphan's new parent is the subreaper: %s\n", pp == getpid() ? "yes" : "no");
	int status;
	pid_t w = waitpid(g, &status, 0);
	printf("the subreaper reaps it: %s, status %d\n", w == g ? "yes" : "no", WEXITSTATUS(status));

	struct sigaction sa = { .sa_handler = on_chld };
	sigaction(SIGCHLD, &sa, NULL);
	chld = 0;
	g = orphan(report, 1);
	/* Already a zombie when it came to us: reapable at once. */
	w = waitpid(g, &status, WNOHANG);
	printf("the orphaned zombie reaped at once: %s, status %d\n", w == g ? "yes" : "no", WEXITSTATUS(status));
	printf("SIGCHLD came: %s\n", chld > 0 ? "yes" : "no");
	signal(SIGCHLD, SIG_DFL);

	prctl(PR_SET_CHILD_SUBREAPER, 0);
	prctl(PR_GET_CHILD_SUBREAPER, &got);
	printf("off again: %d\n", got);
	/* A process that is not a subreaper (a child of ours: we may be
	 * init) gets no orphans of its grandchildren: they go to init. */
	pid_t x = fork();
	if (x == 0) {
		g = orphan(report, 0);
		if (read(report[0], &pp, sizeof(pp)) != sizeof(pp))
			_exit(2);
		printf("the orphan's new parent is the middle process: %s\n", pp == getpid() ? "yes" : "no");
		printf("waitpid on it there: %s\n", waitpid(g, NULL, WNOHANG) < 0 ? strerror(errno) : "a child");
		_exit(0);
	}
	waitpid(x, NULL, 0);

	long def = prctl(PR_GET_TIMERSLACK);
	printf("timer slack: %ld, /proc says the same: %s\n", def, proc_slack() == def ? "yes" : "no");
	r = prctl(PR_SET_TIMERSLACK, 70000);
	long now = prctl(PR_GET_TIMERSLACK);
	printf("PR_SET_TIMERSLACK 70000: %s, now %ld, /proc %ld\n", err(r), now, proc_slack());
	pid_t c = fork();
	if (c == 0) {
		long cur = prctl(PR_GET_TIMERSLACK);
		prctl(PR_SET_TIMERSLACK, 0);
		printf("child: %ld, reset to %ld\n", cur, prctl(PR_GET_TIMERSLACK));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("PR_SET_THP_DISABLE: %s\n", err(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)));
	prctl(PR_SET_TIMERSLACK, 0);
	printf("reset: %ld\n", prctl(PR_GET_TIMERSLACK));
	c = fork();
	if (c == 0) {
		printf("child after: THP disabled %ld\n", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("PR_GET_THP_DISABLE: %ld\n", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
	printf("PR_GET_THP_DISABLE with an argument: %s\n", err(prctl(PR_GET_THP_DISABLE, 1, 0, 0, 0)));
	printf("PR_SET_THP_DISABLE with arg3: %s\n", err(prctl(PR_SET_THP_DISABLE, 1, 1, 0, 0)));
	prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
	printf("THP back on: %ld\n", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));

	static int tid_word;
	syscall(SYS_set_tid_address, &tid_word);
	int *addr = NULL;
	r = prctl(PR_GET_TID_ADDRESS, &addr);
	printf("PR_GET_TID_ADDRESS: %s, ours: %s\n", err(r), addr == &tid_word ? "yes" : "no");
	int tsc = -1;
	r = prctl(PR_GET_TSC, &tsc);
	printf("PR_GET_TSC: %s, %d\n", err(r), tsc);
	printf("option 9999: %s\n", err(prctl(9999, 0, 0, 0, 0)));
	printf("PR_GET_NO_NEW_PRIVS with an argument: %s\n", err(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0)));
	return 0;
}
