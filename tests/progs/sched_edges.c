/* Edges LTP found in scheduling and signal actions: sched_setparam and
 * sched_setscheduler on another user's process without CAP_SYS_NICE
 * (EPERM), on one's own (allowed); SA_RESETHAND resets the handler only,
 * so sigaction still reports SA_SIGINFO and the mask after delivery; an
 * ignored signal, unblocked, ends no wait (it is dropped when sent); and
 * /proc/sys/fs/pipe-user-pages-soft. */
#include "common.h"

#include <sched.h>
#include <stdlib.h>

static volatile int got;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	got = si != NULL;
}

static void test_resethand(void)
{
	struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	struct sigaction now;
	sigaction(SIGUSR1, NULL, &now);
	CHECK("SA_RESETHAND: the handler ran with a siginfo", got);
	CHECK("then the handler is SIG_DFL", now.sa_handler == SIG_DFL);
	CHECK("SA_SIGINFO still set", now.sa_flags & SA_SIGINFO);
	CHECK("SA_RESETHAND still set", now.sa_flags & SA_RESETHAND);
	CHECK("the mask kept", sigismember(&now.sa_mask, SIGUSR2));
}

/* An ignored signal that no thread blocks is dropped when sent: it does
 * not end a wait with EINTR (SIG_IGN, and SIGCHLD's default). */
static void test_ignored_wakes_nothing(void)
{
	signal(SIGUSR2, SIG_IGN);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 3; i++) {
			sleep_ms(20);
			kill(parent, SIGUSR2);
		}
		_exit(0);
	}
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = { 0, 300000000 };
	int r = sigtimedwait(&none, NULL, &ts);
	printf("sigtimedwait, SIGUSR2 ignored and the child's SIGCHLD: %s\n", r == -1 ? errname(errno) : "a signal");
	int st;
	waitpid(child, &st, 0);
	signal(SIGUSR2, SIG_DFL);
}

static void test_sched_owner(void)
{
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		struct sched_param p = { .sched_priority = 0 };
		if (setresuid(65534, 65534, 65534) != 0)
			_exit(1);
		report("uid 65534: sched_setparam(root's process)", sched_setparam(parent, &p));
		report("uid 65534: sched_setscheduler(root's process, SCHED_BATCH)",
		       sched_setscheduler(parent, SCHED_BATCH, &p));
		report("uid 65534: sched_setparam(itself)", sched_setparam(0, &p));
		report("uid 65534: sched_setscheduler(itself, SCHED_BATCH)", sched_setscheduler(0, SCHED_BATCH, &p));
		p.sched_priority = 1;
		report("uid 65534: sched_setparam(root's, priority 1)", sched_setparam(parent, &p));
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	printf("child: %s\n", status_str(st));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_resethand();
	test_ignored_wakes_nothing();
	test_sched_owner();
	FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "r");
	int pages = 0;
	printf("pipe-user-pages-soft: %s\n", f && fscanf(f, "%d", &pages) == 1 && pages > 0 ? "a count" : "missing");
	return 0;
}
