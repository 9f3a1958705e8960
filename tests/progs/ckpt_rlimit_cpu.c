/* RLIMIT_CPU across a checkpoint: a soft limit of 1 s of CPU time (hard
 * 3 s), set before the program says "ready" and waits for SIGUSR1 (a
 * checkpoint and a restore come in between), using no CPU time. Then it
 * spins until SIGXCPU comes, and prints the soft limit it found then. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "ckpt_wait.h"

static volatile sig_atomic_t xcpu;
static volatile long soft_then;

static void on_xcpu(int sig)
{
	struct rlimit r;
	getrlimit(RLIMIT_CPU, &r);
	soft_then = (long)r.rlim_cur;
	xcpu++;
	(void)sig;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_handler = on_xcpu, .sa_flags = SA_RESTART };
	sigaction(SIGXCPU, &sa, NULL);
	struct rlimit r = { 1, 3 };
	if (setrlimit(RLIMIT_CPU, &r) != 0) {
		perror("setrlimit");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();
	time_t until = time(NULL) + 15;
	volatile unsigned long spin = 0;
	while (!xcpu && time(NULL) < until)
		spin++;
	printf("SIGXCPU after the restore: %s, the soft limit then %ld\n", xcpu ? "yes" : "no", soft_then);
	return 0;
}
