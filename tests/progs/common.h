/* Helpers shared by the test programs in tests/progs/.
 *
 * Every program prints deterministic text only (no addresses, times or
 * random bytes), so its output under Husk can be compared byte for byte
 * with a native run. Checks print "NAME: ok" or "NAME: bad (...)".
 *
 * The programs call the kernel through syscall() where a libc wrapper
 * could take another path (vDSO, a different syscall, an emulation). */
#ifndef HUSK_PROGS_COMMON_H
#define HUSK_PROGS_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* errno's symbolic name, e.g. "ENOENT"; "0" for success. */
static inline const char *errname(int e)
{
	if (e == 0)
		return "0";
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* Prints "label: <result>" where result is the return value of a
 * syscall-style call: the errno name when it failed (-1), else "ok". */
static inline void report(const char *label, long ret)
{
	if (ret == -1)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: ok\n", label);
}

/* Prints "label: ok" when cond holds, else "label: bad". */
#define CHECK(label, cond) printf("%s: %s\n", (label), (cond) ? "ok" : "bad")

/* Helpers for the programs that fork, signal and wait (fork_wait.c,
 * signals.c, ...). Only what the compiler does not drop when unused. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* A wait status as text: "exited N", "killed by SIG" (the core-dump bit
 * is left out: it depends on the host's RLIMIT_CORE), "stopped by SIG"
 * or "continued". */
static inline const char *status_str(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "killed by SIG%s", sigabbrev_np(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		snprintf(buf, sizeof buf, "stopped by SIG%s", sigabbrev_np(WSTOPSIG(st)));
	else if (WIFCONTINUED(st))
		snprintf(buf, sizeof buf, "continued");
	else
		snprintf(buf, sizeof buf, "status 0x%x", st);
	return buf;
}

/* Sleeps ms milliseconds, resuming after signal handlers. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* An absolute time on `clock`, ms milliseconds from now (the timeouts
 * of mq_timedsend, futex_waitv and the like). */
static inline struct timespec abs_time_in(long ms, clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_nsec += (ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

/* Stops child `pid` 200 ms from now and continues it a second later: the
 * tests that a stopped and continued wait keeps (or not) its deadline. */
static inline void stop_then_continue(pid_t pid)
{
	sleep_ms(200);
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	sleep_ms(1000);
	kill(pid, SIGCONT);
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs fn in a child, prints "child: <status>", and returns what a shell
 * reports for it: 128 + N for death by signal N, else the exit code. For
 * the cases that die by a signal: the child does the dying, because under
 * Husk the program is the sandbox's pid 1, and the init of a pid namespace
 * ignores the signals it has no handler for (unless they are forced, as a
 * fault's SIGSEGV is), as on Linux. main() returns the result, so the
 * exit status is the same natively and under Husk. */
static inline int die_in_child(void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(1);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 2;
	printf("child: %s\n", status_str(st));
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

#endif
