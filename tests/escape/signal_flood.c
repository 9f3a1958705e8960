/* Signal floods: two children send SIGUSR1 to init as fast as they can
 * for half a second while it counts; real-time signals queued to a
 * blocked process until the queue is full (EAGAIN, RLIMIT_SIGPENDING);
 * and a flood aimed at the test runner's host pid (ESRCH every time). The
 * sandbox goes on, and the test runner was never signalled. */
#include "escape.h"

#include <sys/resource.h>

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	(void)sig;
	got++;
}

int main(void)
{
	signal(SIGUSR1, on_usr1);
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			long end = now_ms() + 500;
			while (now_ms() < end)
				kill(1, SIGUSR1);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
	esc_check("init took a flood of SIGUSR1", got > 0, "it counted some and lived");

	/* Queue SIGRTMIN with sigqueue to a blocked self until EAGAIN. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct rlimit rl;
	getrlimit(RLIMIT_SIGPENDING, &rl);
	long queued = 0;
	int err = 0;
	/* Bounded: a little past the limit. */
	for (; queued < (long)rl.rlim_cur + 16; queued++) {
		if (sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 1 }) != 0) {
			err = errno;
			break;
		}
	}
	esc_check("sigqueue until the queue is full", err == EAGAIN && (rlim_t)queued <= rl.rlim_cur,
		  "%s after %ld signals, RLIMIT_SIGPENDING %ld", err ? errname(err) : "not full", queued, (long)rl.rlim_cur);
	struct timespec zero = { 0, 0 };
	long drained = 0;
	while (sigtimedwait(&set, NULL, &zero) == SIGRTMIN)
		drained++;
	esc_check("the queue drains", drained == queued, "all taken");

	int host = ESC_HOST_PID(), esrch = 0;
	for (int i = 0; i < 100000; i++)
		esrch += kill(host, SIGUSR1) == -1 && errno == ESRCH;
	esc_check("100000 x kill(HOSTPID, SIGUSR1)", esrch == 100000, "ESRCH each (%d)", esrch);
	return esc_finish();
}
