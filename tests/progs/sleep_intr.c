/* nanosleep and signals: a handled signal cuts a sleep short with EINTR
 * and the time left; a signal whose default action is to ignore it
 * (SIGCHLD) does not; a sleeper stopped and continued goes on to its
 * first deadline (restart_syscall), not for its whole request again. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	(void)sig;
	got = 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child that sends `sig` to the parent after `ms`, then exits. */
static pid_t poke_later(int sig, int ms)
{
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		usleep(ms * 1000);
		if (sig)
			kill(parent, sig);
		_exit(0);
	}
	return c;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	pid_t c = poke_later(SIGUSR1, 50);
	struct timespec req = { 5, 0 }, rem = { 0, 0 };
	long start = now_ms();
	int r = nanosleep(&req, &rem);
	int e = errno;
	long took = now_ms() - start;
	printf("nanosleep 5 s, SIGUSR1 after 50 ms: %d %s, handler ran: %s, woke early: %s, rem plausible: %s\n", r,
	       r ? strerror(e) : "", got ? "yes" : "no", took < 4000 ? "yes" : "no",
	       rem.tv_sec >= 3 && rem.tv_sec <= 5 ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* SIGCHLD's default action is to ignore it: the sleep goes on. */
	c = poke_later(0, 20);
	req.tv_sec = 0;
	req.tv_nsec = 200 * 1000000;
	start = now_ms();
	r = nanosleep(&req, NULL);
	took = now_ms() - start;
	printf("nanosleep 200 ms with a child exiting at 20 ms: %d, slept it all: %s\n", r, took >= 195 ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* clock_nanosleep returns the error instead of setting errno. */
	got = 0;
	c = poke_later(SIGUSR1, 50);
	req.tv_sec = 5;
	req.tv_nsec = 0;
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	printf("clock_nanosleep interrupted: %s, handler ran: %s\n", r == EINTR ? "EINTR" : "other",
	       got ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* Stopped at 200 ms and continued at 1200 ms, a 2 s sleep still ends
	 * at about 2 s (restarting the whole request would make it 3 s). */
	fflush(stdout);
	pid_t sleeper = fork();
	if (sleeper == 0) {
		req.tv_sec = 2;
		req.tv_nsec = 0;
		start = now_ms();
		r = nanosleep(&req, NULL);
		took = now_ms() - start;
		printf("nanosleep 2 s, stopped from 200 to 1200 ms: %d, slept it all: %s, woke by its deadline: %s\n", r,
		       took >= 1990 ? "yes" : "no", took < 2600 ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	usleep(200 * 1000);
	kill(sleeper, SIGSTOP);
	int st;
	waitpid(sleeper, &st, WUNTRACED);
	printf("sleeper stopped: %s\n", WIFSTOPPED(st) ? "yes" : "no");
	fflush(stdout);
	usleep(1000 * 1000);
	kill(sleeper, SIGCONT);
	waitpid(sleeper, &st, 0);

	/* With nothing to restart, restart_syscall fails with EINTR. */
	r = syscall(SYS_restart_syscall);
	printf("restart_syscall with nothing to restart: %d %s\n", r, r ? strerror(errno) : "");

	/* Bad arguments. */
	req.tv_sec = 0;
	req.tv_nsec = 1000000000;
	r = nanosleep(&req, NULL);
	printf("nanosleep with tv_nsec 1e9: %d %s\n", r, r ? strerror(errno) : "");
	r = nanosleep((struct timespec *)8, NULL);
	printf("nanosleep with a bad pointer: %d %s\n", r, r ? strerror(errno) : "");
	return 0;
}
