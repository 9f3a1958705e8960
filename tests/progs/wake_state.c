/*
 * A sleeping process woken by a signal is running (R in /proc/PID/stat)
 * as soon as kill() returns, before it has run at all, as Linux's
 * try_to_wake_up makes it: LTP's TST_PROCESS_STATE_WAIT, which waits for
 * a child to sleep again after a signal, must not see the sleep the
 * signal ended. The child spins for a while after each wake-up, so that
 * it cannot be asleep again when the parent looks.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void on_usr1(int sig)
{
	(void)sig;
}

static char state_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static void spin_ms(long ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t child = fork();
	if (child == 0) {
		for (;;) {
			pause();
			spin_ms(300);
		}
	}
	int bad = 0;
	for (int round = 0; round < 5; round++) {
		/* Asleep in pause(). */
		for (int i = 0; i < 1000 && state_of(child) != 'S'; i++)
			usleep(1000);
		if (state_of(child) != 'S')
			bad++;
		kill(child, SIGUSR1);
		if (state_of(child) != 'R')
			bad++;
	}
	printf("a child woken by a signal is R at once, 5 times: %s\n", bad ? "bad" : "ok");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
