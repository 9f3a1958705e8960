/* A pseudo-terminal across a checkpoint: the parent holds the master,
 * and a child in a session of its own has the replica as its controlling
 * terminal, with echo off, a window size set through the master, its
 * output not yet read by the master and half a line typed. The parent
 * says "ready" and waits for SIGUSR1 (a checkpoint and a restore come in
 * between), then types the rest of the line; the child, blocked in read
 * all along, reads it and reports what its terminal is like; the parent
 * then reads what the child wrote before the checkpoint. Everything
 * printed must be what a run with no checkpoint prints. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ckpt_wait.h"

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void child(const char *name, int ready)
{
	if (setsid() < 0)
		die("setsid");
	int s = open(name, O_RDWR);
	if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
		die("replica");
	struct termios t;
	if (tcgetattr(s, &t) < 0)
		die("tcgetattr");
	t.c_lflag &= ~ECHO;
	if (tcsetattr(s, TCSANOW, &t) < 0)
		die("tcsetattr");
	if (write(s, "from the replica\n", 17) != 17)
		die("write");
	if (write(ready, "r", 1) != 1)
		die("ready");
	char buf[64];
	ssize_t n = read(s, buf, sizeof buf);
	if (n <= 0)
		die("read");
	printf("child read: %.*s", (int)n, buf);
	if (tcgetattr(s, &t) < 0)
		die("tcgetattr");
	printf("echo %s, canonical %s\n", t.c_lflag & ECHO ? "on" : "off", t.c_lflag & ICANON ? "on" : "off");
	struct winsize ws;
	if (ioctl(s, TIOCGWINSZ, &ws) < 0)
		die("TIOCGWINSZ");
	printf("window %dx%d\n", ws.ws_row, ws.ws_col);
	printf("foreground: %s\n", tcgetpgrp(s) == getpgrp() ? "mine" : "other");
	int tty = open("/dev/tty", O_RDWR);
	printf("/dev/tty: %s\n", tty >= 0 ? "opens" : "fails");
	printf("session leader: %s\n", getsid(0) == getpid() ? "yes" : "no");
	fflush(stdout);
	exit(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		die("posix_openpt");
	char name[64];
	if (ptsname_r(m, name, sizeof name) != 0)
		die("ptsname");
	struct winsize ws = { .ws_row = 30, .ws_col = 100 };
	if (ioctl(m, TIOCSWINSZ, &ws) < 0)
		die("TIOCSWINSZ");
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(name, p[1]);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		die("child ready");
	if (write(m, "typed ", 6) != 6)
		die("type");
	printf("ready\n");
	ckpt_wait_usr1();
	if (write(m, "line\n", 5) != 5)
		die("type the rest");
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	printf("child status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	char out[128];
	ssize_t n = read(m, out, sizeof out);
	if (n < 0)
		die("read the master");
	printf("master read:");
	for (ssize_t i = 0; i < n; i++)
		printf(out[i] == '\r' ? " \\r" : out[i] == '\n' ? " \\n" : " %c", out[i]);
	printf("\n");
	return 0;
}
