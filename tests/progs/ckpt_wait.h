/* The checkpoint programs' wait for SIGUSR1 after "ready": blocked from
 * before "ready" is printed, and waited for with sigsuspend, so that a
 * signal sent at once after a restore (which may have caught the program
 * between its "ready" and the wait) is not lost, as it would be before a
 * bare pause(). */
#ifndef CKPT_WAIT_H
#define CKPT_WAIT_H

#include <signal.h>

static volatile sig_atomic_t ckpt_usr1;
static sigset_t ckpt_unblocked;

static void ckpt_on_usr1(int sig)
{
	(void)sig;
	ckpt_usr1 = 1;
}

/* Call before printing "ready". */
static void ckpt_block_usr1(void)
{
	struct sigaction sa = { .sa_handler = ckpt_on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &ckpt_unblocked);
}

/* Returns once SIGUSR1 came, with the old mask back. */
static void ckpt_wait_usr1(void)
{
	while (!ckpt_usr1)
		sigsuspend(&ckpt_unblocked);
	sigprocmask(SIG_SETMASK, &ckpt_unblocked, NULL);
}

#endif
