/* Stress: N signal round trips between a parent and its child.
 *
 *   sigpingpong [N]   (default 10000)
 *
 * The parent sends SIGUSR1, the child answers SIGUSR2. Both keep the
 * two signals blocked and take them synchronously: the first half of the
 * rounds with sigwaitinfo (checking si_pid and si_code), the second half
 * with sigsuspend and a handler that counts. So nothing is ever lost to
 * merging: each side sends only after taking the other's signal. */
#include "common.h"

#include <stdlib.h>

static volatile sig_atomic_t handled;

static void on_sig(int sig)
{
	(void)sig;
	handled++;
}

/* Takes one `sig` (blocked): round < half by sigwaitinfo, else by
 * sigsuspend. Returns 0 on success. */
static int take(int sig, long round, long half, pid_t from, const sigset_t *unblock_sig)
{
	if (round < half) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		siginfo_t si;
		int got = sigwaitinfo(&set, &si);
		if (got != sig || si.si_pid != from || si.si_code != SI_USER)
			return -1;
		return 0;
	}
	sig_atomic_t before = handled;
	while (handled == before)
		sigsuspend(unblock_sig);
	return handled == before + 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	long half = n / 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigset_t both, old;
	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGUSR2);
	sigprocmask(SIG_BLOCK, &both, &old);
	/* What sigsuspend waits with: everything as before, minus the two. */
	sigset_t wait_usr1 = old, wait_usr2 = old;
	sigaddset(&wait_usr1, SIGUSR2);
	sigdelset(&wait_usr1, SIGUSR1);
	sigaddset(&wait_usr2, SIGUSR1);
	sigdelset(&wait_usr2, SIGUSR2);

	pid_t parent = getpid();
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < n; i++) {
			if (take(SIGUSR1, i, half, parent, &wait_usr1))
				_exit(10);
			kill(parent, SIGUSR2);
		}
		_exit(0);
	}
	long done = 0;
	for (long i = 0; i < n; i++) {
		kill(child, SIGUSR1);
		if (take(SIGUSR2, i, half, child, &wait_usr2)) {
			printf("round %ld: wrong answer: bad\n", i);
			kill(child, SIGKILL);
			break;
		}
		done++;
	}
	int st;
	waitpid(child, &st, 0);
	printf("round trips=%ld of %ld (%ld by sigwaitinfo, %ld by sigsuspend)\n", done, n, half, n - half);
	printf("child %s\n", status_str(st));
	return done == n && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
