/* Helpers shared by the IPC and CPU-timer test programs (sysv_shm.c,
 * sysv_sem.c, sysv_msg.c, mqueue.c, cpu_timers.c), on top of common.h:
 *
 * - per-pid keys and the objects made, removed at exit: natively these
 *   programs run in the host's IPC namespace, so what they make must not
 *   meet another run's and must not outlive them;
 * - fork and wait helpers, and the handshakes with a child: one that is
 *   about to block, one that is held alive until released, and signals
 *   sent until a child's blocking call returns;
 * - counting and siginfo-recording signal handlers, their installers,
 *   SIGEV_SIGNAL events;
 * - reading /proc/sys files.
 *
 * Include it after "common.h". Everything here is static (inline), so a
 * program pays only for what it uses. */
#ifndef HUSK_PROGS_IPC_COMMON_H
#define HUSK_PROGS_IPC_COMMON_H

#include "common.h"

#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/types.h>

/* The main process's pid, set by remove_at_exit(): keys and names are
 * made from it, and only it removes the objects at exit. */
static pid_t me;

/* A key no other running process uses: tag in the top byte, the pid
 * (below 2^24) in the rest. */
static inline key_t pid_key(int tag)
{
	return (key_t)((tag << 24) | (me & 0xffffff));
}

/* Every object made (an id, or whatever the program's remover takes),
 * removed at exit whatever happened before. */
static int ipc_made[32];
static int ipc_nmade;
static void (*ipc_remove)(int id);

/* Records id (when it is not an error, -1) for removal at exit; returns
 * it, so that it can wrap the call that makes the object. */
static inline int track(int id)
{
	if (id >= 0 && ipc_nmade < 32)
		ipc_made[ipc_nmade++] = id;
	return id;
}

static inline void ipc_remove_all(void)
{
	if (getpid() != me)
		return;
	for (int i = 0; i < ipc_nmade; i++)
		ipc_remove(ipc_made[i]);
}

/* Sets me, and has remove(id) called at exit, in this process only (not
 * in fork children), for each id given to track(). */
static inline void remove_at_exit(void (*remove)(int id))
{
	me = getpid();
	ipc_remove = remove;
	atexit(ipc_remove_all);
}

/* fork() after flushing stdout, so that the child cannot write the
 * parent's buffered output again. */
static inline pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

/* Waits for pid, through EINTRs (of signals with handlers), and returns
 * its wait status. */
static inline int wait_child(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return st;
}

/* A child that writes a byte to the pipe just before it blocks; the
 * parent reads it and gives the child a moment to be asleep. */
static inline void child_about_to_block(int fd)
{
	write(fd, "x", 1);
}

static inline void parent_until_blocked(int fd)
{
	char c;
	read(fd, &c, 1);
	sleep_ms(100);
}

/* Sends sig to pid every 100 ms until the child writes a byte to fd (its
 * blocking call returned), for at most 5 s: a signal that came before
 * the child blocked only runs the handler, and the next one interrupts. */
static inline void signal_until_returned(pid_t pid, int sig, int fd)
{
	for (int i = 0; i < 50; i++) {
		kill(pid, sig);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			char c;
			read(fd, &c, 1);
			return;
		}
	}
}

/* Forks a child that runs fn(arg), then lives on, idle, until the parent
 * closes *release (then it exits 0). Returns the child's pid once fn has
 * returned in it. */
static inline pid_t fork_held(void (*fn)(void *arg), void *arg, int *release)
{
	int up[2], down[2];
	pipe(up);
	pipe(down);
	pid_t pid = fork_flushed();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		fn(arg);
		write(up[1], "x", 1);
		char c;
		read(down[0], &c, 1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	char c;
	read(up[0], &c, 1);
	close(up[0]);
	*release = down[1];
	return pid;
}

/* How many times on_signal() ran. */
static volatile int handled;

/* A handler that counts in handled. */
static inline void on_signal(int sig)
{
	(void)sig;
	handled++;
}

/* What on_info(), an SA_SIGINFO handler, saw: how many signals it
 * handled, and the last one's si_code, si_value.sival_int and si_pid. */
static volatile int info_count, info_code, info_value;
static volatile pid_t info_pid;

static inline void on_info(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	info_count++;
	info_code = si->si_code;
	info_value = si->si_value.sival_int;
	info_pid = si->si_pid;
}

/* Installs fn as sig's handler, with sa_flags flags and an empty mask. */
static inline void handle(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

/* Installs fn as sig's SA_SIGINFO handler, with an empty mask. */
static inline void handle_info(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, NULL);
}

/* A SIGEV_SIGNAL event: signal sig with value in si_value.sival_int. */
static inline struct sigevent sigev_signal(int sig, int value)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = value;
	return sev;
}

/* Reads the first line of path into buf, without its newline ("" when
 * the file is empty). Returns 0, or -1 with errno set when the file
 * cannot be opened (buf is "" then too). */
static inline int read_first_line(const char *path, char *buf, size_t cap)
{
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, cap, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Prints "DIR/NAME: FIRST LINE" for each NAME of the list that NULL
 * ends, or "DIR/NAME: ERRNO" when the file cannot be opened. */
__attribute__((sentinel)) static inline void print_files(const char *dir, ...)
{
	va_list ap;
	va_start(ap, dir);
	const char *name;
	while ((name = va_arg(ap, const char *))) {
		char path[64], buf[64];
		snprintf(path, sizeof path, "%s/%s", dir, name);
		int ret = read_first_line(path, buf, sizeof buf);
		printf("%s: %s\n", path, ret == 0 ? buf : errname(errno));
	}
	va_end(ap);
}

#endif
