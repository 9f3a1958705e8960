/* Timers on CPU time across a checkpoint: ITIMER_PROF ticking every
 * 10 ms of CPU time, ITIMER_VIRTUAL armed far ahead, a POSIX timer on
 * CLOCK_PROCESS_CPUTIME_ID, and one on the main thread's own CPU-time
 * clock (pthread_getcpuclockid). The program says "ready" and waits for
 * SIGUSR1 (a checkpoint and a restore come in between), using no CPU
 * time. Then it spins until both ticking timers have fired a few times,
 * and prints their settings. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "ckpt_wait.h"

static volatile sig_atomic_t prof_ticks, cpu_ticks, thread_ticks;

static void on_thread_cpu(int sig)
{
	(void)sig;
	thread_ticks++;
}

static void on_prof(int sig)
{
	(void)sig;
	prof_ticks++;
}

static void on_cpu(int sig)
{
	(void)sig;
	cpu_ticks++;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_handler = on_prof, .sa_flags = SA_RESTART };
	sigaction(SIGPROF, &sa, NULL);
	sa.sa_handler = on_cpu;
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = on_thread_cpu;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	clockid_t mine;
	timer_t thread_timer;
	struct sigevent tev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1 };
	struct itimerspec every5 = { { 0, 5000000 }, { 0, 5000000 } };
	if (pthread_getcpuclockid(pthread_self(), &mine) != 0 || timer_create(mine, &tev, &thread_timer) != 0
	    || timer_settime(thread_timer, 0, &every5, NULL) != 0) {
		perror("the thread's timer");
		return 2;
	}
	struct itimerval prof = { { 0, 10000 }, { 0, 10000 } };
	struct itimerval virt = { { 0, 20000 }, { 500, 0 } };
	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	struct itimerspec every = { { 0, 10000000 }, { 0, 10000000 } };
	if (setitimer(ITIMER_PROF, &prof, NULL) != 0 || setitimer(ITIMER_VIRTUAL, &virt, NULL) != 0
	    || timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &timer) != 0 || timer_settime(timer, 0, &every, NULL) != 0) {
		perror("timers");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	prof_ticks = 0;
	cpu_ticks = 0;
	thread_ticks = 0;
	double until = wall() + 10;
	volatile unsigned long spin = 0;
	while ((prof_ticks < 3 || cpu_ticks < 3 || thread_ticks < 3) && wall() < until)
		spin++;
	printf("ITIMER_PROF ticks on: %s\n", prof_ticks >= 3 ? "yes" : "no");
	printf("the CPU-time POSIX timer ticks on: %s\n", cpu_ticks >= 3 ? "yes" : "no");
	printf("the thread's CPU-time timer ticks on: %s\n", thread_ticks >= 3 ? "yes" : "no");
	struct itimerval now;
	getitimer(ITIMER_PROF, &now);
	printf("ITIMER_PROF interval: %ld us\n", (long)now.it_interval.tv_usec);
	getitimer(ITIMER_VIRTUAL, &now);
	printf("ITIMER_VIRTUAL interval: %ld us, left within 499-500 s: %s\n", (long)now.it_interval.tv_usec,
	       now.it_value.tv_sec >= 499 && now.it_value.tv_sec <= 500 ? "yes" : "no");
	struct itimerspec t;
	timer_gettime(timer, &t);
	printf("POSIX timer interval: %ld ns\n", t.it_interval.tv_nsec);
	timer_gettime(thread_timer, &t);
	printf("the thread's timer interval: %ld ns\n", t.it_interval.tv_nsec);
	return 0;
}
