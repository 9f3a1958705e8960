/* Terminals: run on a pty whose replica is stdin/stdout/stderr and the
 * controlling terminal of this program's session (tests/tty.rs drives it
 * with tests/support/pty_driver.py). `tty MODE`:
 *
 *   basics   isatty, the shared open file, /dev/tty, TIOCGSID/TIOCGPGRP,
 *            FIONREAD/TIOCOUTQ, TCFLSH/TCXONC/tcdrain, EFAULT, ENOTTY
 *   echo     reads a line with ECHO on, then one with ECHO off (TCSETS
 *            round trip); poll on the terminal
 *   winsize  TIOCGWINSZ after the driver resized the terminal, then
 *            TIOCSWINSZ from the app: SIGWINCH to the foreground group
 *   sigint   ^C kills a foreground child (busybox sh running `tty sleeper`)
 *            and reaches this process's handler
 *   pgrp     TIOCSPGRP/TIOCSCTTY/TIOCNOTTY rules across sessions and groups
 *   jobctl   background read (SIGTTIN, EIO when ignored), background
 *            write with TOSTOP and TCSETS (SIGTTOU)
 *
 * Prints "ready..." lines the driver waits for before it types. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

static const char *signame(int sig)
{
	const char *n = sigabbrev_np(sig);
	return n ? n : "?";
}

static void describe_status(const char *label, int st)
{
	if (WIFEXITED(st))
		printf("%s: exited %d\n", label, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by SIG%s\n", label, signame(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		printf("%s: stopped by SIG%s\n", label, signame(WSTOPSIG(st)));
	else
		printf("%s: status %#x\n", label, st);
}

#define BAD_PTR ((void *)16)

static int basics(void)
{
	printf("isatty 0 1 2: %d %d %d\n", isatty(0), isatty(1), isatty(2));
	printf("stdio access mode O_RDWR: %s\n",
	       (fcntl(0, F_GETFL) & O_ACCMODE) == O_RDWR && (fcntl(1, F_GETFL) & O_ACCMODE) == O_RDWR ? "ok" : "bad");
	pid_t sid = -1, pgrp = -1;
	report("TIOCGSID", ioctl(0, TIOCGSID, &sid));
	CHECK("TIOCGSID is my session", sid == getsid(0));
	report("TIOCGPGRP", ioctl(1, TIOCGPGRP, &pgrp));
	CHECK("TIOCGPGRP is my group", pgrp == getpgrp());
	int fd = open("/dev/tty", O_RDWR);
	report("open /dev/tty", fd);
	if (fd >= 0) {
		struct stat st;
		fstat(fd, &st);
		printf("/dev/tty is char 5,0: %s\n",
		       S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 0 ? "ok" : "bad");
		printf("isatty(/dev/tty): %d\n", isatty(fd));
		report("write to /dev/tty", write(fd, "via /dev/tty\n", 13));
		report("TIOCGPGRP on /dev/tty", ioctl(fd, TIOCGPGRP, &pgrp));
		close(fd);
	}
	int n = -1;
	report("FIONREAD", ioctl(0, FIONREAD, &n));
	printf("FIONREAD with nothing typed: %d\n", n);
	report("TIOCOUTQ", ioctl(1, TIOCOUTQ, &n));
	report("tcdrain", tcdrain(1));
	report("tcflush TCIFLUSH", tcflush(0, TCIFLUSH));
	report("tcflush bad queue", ioctl(0, TCFLSH, 7));
	report("tcflow TCOON", tcflow(1, TCOON));
	report("tcflow bad action", ioctl(1, TCXONC, 9));
	report("TCGETS to a bad pointer", ioctl(0, TCGETS, BAD_PTR));
	report("TCSETS from a bad pointer", ioctl(0, TCSETS, BAD_PTR));
	report("TIOCGWINSZ to a bad pointer", ioctl(0, TIOCGWINSZ, BAD_PTR));
	report("TIOCSWINSZ from a bad pointer", ioctl(0, TIOCSWINSZ, BAD_PTR));
	report("TIOCGPGRP to a bad pointer", ioctl(0, TIOCGPGRP, BAD_PTR));
	report("TIOCSPGRP from a bad pointer", ioctl(0, TIOCSPGRP, BAD_PTR));
	report("FIONREAD to a bad pointer", ioctl(0, FIONREAD, BAD_PTR));
	report("unknown tty ioctl 0x54ff", ioctl(0, 0x54ff, 0));
	int p[2];
	pipe(p);
	report("TCGETS on a pipe", ioctl(p[0], TCGETS, &n));
	report("TIOCGPGRP on a pipe", ioctl(p[0], TIOCGPGRP, &n));
	return 0;
}

static int echo(void)
{
	struct termios t, back;
	report("tcgetattr", tcgetattr(0, &t));
	printf("ECHO and ICANON on: %s\n", (t.c_lflag & ECHO) && (t.c_lflag & ICANON) ? "ok" : "bad");
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	printf("poll with nothing typed: %d\n", poll(&pfd, 1, 100));
	printf("ready1\n");
	fflush(stdout);
	int ready = poll(&pfd, 1, 10000);
	printf("poll after typing: %d revents POLLIN %d\n", ready, !!(pfd.revents & POLLIN));
	char buf[128];
	ssize_t n = read(0, buf, sizeof buf);
	printf("read 1: %zd [%.*s]\n", n, n > 0 ? (int)n - 1 : 0, buf);
	t.c_lflag &= ~ECHO;
	report("tcsetattr TCSADRAIN without ECHO", tcsetattr(0, TCSADRAIN, &t));
	report("tcgetattr again", tcgetattr(0, &back));
	CHECK("ECHO is off", !(back.c_lflag & ECHO));
	printf("ready2\n");
	fflush(stdout);
	n = read(0, buf, sizeof buf);
	printf("read 2: %zd [%.*s]\n", n, n > 0 ? (int)n - 1 : 0, buf);
	t.c_lflag |= ECHO;
	report("tcsetattr TCSAFLUSH with ECHO", tcsetattr(0, TCSAFLUSH, &t));
	return 0;
}

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch++;
}

static int winsize(void)
{
	struct winsize ws;
	report("TIOCGWINSZ", ioctl(0, TIOCGWINSZ, &ws));
	printf("size: %d rows %d cols\n", ws.ws_row, ws.ws_col);
	signal(SIGWINCH, on_winch);
	/* A child in the same (foreground) group hears of the resize too. */
	int p[2];
	pipe(p);
	pid_t c = fork();
	if (c == 0) {
		close(p[0]);
		sigset_t s;
		sigemptyset(&s);
		while (!winch)
			sigsuspend(&s);
		write(p[1], "w", 1);
		_exit(0);
	}
	close(p[1]);
	ws.ws_row = 40;
	ws.ws_col = 120;
	report("TIOCSWINSZ 40x120", ioctl(0, TIOCSWINSZ, &ws));
	printf("SIGWINCH seen by the time TIOCSWINSZ returned: %d\n", winch);
	report("TIOCSWINSZ the same size", ioctl(0, TIOCSWINSZ, &ws));
	char b;
	printf("the child saw SIGWINCH: %s\n", read(p[0], &b, 1) == 1 ? "ok" : "bad");
	int st;
	waitpid(c, &st, 0);
	usleep(300 * 1000);
	printf("SIGWINCH count: %d\n", winch);
	report("TIOCGWINSZ", ioctl(0, TIOCGWINSZ, &ws));
	printf("size: %d rows %d cols\n", ws.ws_row, ws.ws_col);
	/* The driver resizes the terminal from its side now. */
	sigset_t block, none;
	sigemptyset(&block);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, NULL);
	int before = winch;
	printf("ready-resize\n");
	sigemptyset(&none);
	while (winch == before)
		sigsuspend(&none);
	ioctl(0, TIOCGWINSZ, &ws);
	printf("resized by the terminal: SIGWINCH count %d, size %d rows %d cols\n", winch, ws.ws_row, ws.ws_col);
	return 0;
}

static volatile sig_atomic_t got_sig, got_code;

static void on_int(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
}

static int sigint(void)
{
	struct sigaction sa = { .sa_sigaction = on_int, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigaction(SIGINT, &sa, NULL);
	pid_t c = fork();
	if (c == 0) {
		/* The program says "ready" itself once SIGINT would kill it: a
		 * shell's `echo ready; exec sleep` could take ^C between the two
		 * and let sleep run on. */
		char *argv[] = { "sh", "-c", "/progs/tty sleeper", NULL };
		execv("/bin/busybox", argv);
		_exit(127);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	describe_status("foreground child", st);
	printf("handler saw: SIG%s, si_code SI_KERNEL: %s\n", got_sig ? signame(got_sig) : "none",
	       got_code == SI_KERNEL ? "ok" : "bad");
	/* Another ^C, with only this process left: it (and whatever serves
	 * it: under Husk its stub and the Gofer) must live on. */
	sigset_t block, none;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	got_sig = 0;
	printf("ready2\n");
	sigemptyset(&none);
	while (!got_sig)
		sigsuspend(&none);
	printf("second ^C handled\n");
	c = fork();
	if (c == 0) {
		char *argv[] = { "echo", "a new program runs after ^C", NULL };
		execv("/bin/busybox", argv);
		_exit(127);
	}
	waitpid(c, &st, 0);
	describe_status("echo", st);
	return 0;
}

static int pgrp(void)
{
	pid_t me = getpid();
	/* A process of another session. */
	int p[2];
	pipe(p);
	pid_t other = fork();
	if (other == 0) {
		close(p[0]);
		setsid();
		int fd = open("/dev/tty", O_RDWR);
		char r = fd < 0 && errno == ENXIO ? 'y' : 'n';
		pid_t g;
		char s = ioctl(0, TIOCGPGRP, &g) < 0 && errno == ENOTTY ? 'y' : 'n';
		char c = ioctl(0, TIOCSCTTY, 0) < 0 && errno == EPERM ? 'y' : 'n';
		char out[3] = { r, s, c };
		write(p[1], out, 3);
		pause();
		_exit(0);
	}
	close(p[1]);
	char res[3] = { 0 };
	read(p[0], res, 3);
	printf("after setsid: /dev/tty ENXIO %s, TIOCGPGRP ENOTTY %s, TIOCSCTTY of an owned tty EPERM %s\n",
	       res[0] == 'y' ? "ok" : "bad", res[1] == 'y' ? "ok" : "bad", res[2] == 'y' ? "ok" : "bad");
	report("tcsetpgrp to another session's group", tcsetpgrp(0, other));
	/* A pid nobody has: a child that has been reaped. */
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	report("tcsetpgrp to no such group", tcsetpgrp(0, gone));
	report("tcsetpgrp to -1", tcsetpgrp(0, -1));
	/* A group of this session, then back. */
	pid_t kid = fork();
	if (kid == 0) {
		setpgid(0, 0);
		pause();
		_exit(0);
	}
	setpgid(kid, kid);
	report("tcsetpgrp to my child's group", tcsetpgrp(0, kid));
	CHECK("tcgetpgrp is the child's group", tcgetpgrp(0) == kid);
	/* Now this process is in the background: SIGTTOU unless ignored. */
	signal(SIGTTOU, SIG_IGN);
	report("tcsetpgrp back, from the background, SIGTTOU ignored", tcsetpgrp(0, getpgrp()));
	signal(SIGTTOU, SIG_DFL);
	CHECK("tcgetpgrp is mine again", tcgetpgrp(0) == getpgrp());
	report("TIOCSCTTY by the session leader that has it", ioctl(0, TIOCSCTTY, 0));
	pid_t nl = fork();
	if (nl == 0)
		_exit(ioctl(0, TIOCSCTTY, 0) < 0 && errno == EPERM ? 0 : 1);
	int st;
	waitpid(nl, &st, 0);
	printf("TIOCSCTTY by a process that is not a session leader: %s\n", WEXITSTATUS(st) == 0 ? "EPERM" : "bad");
	pid_t nt = fork();
	if (nt == 0) {
		/* TIOCNOTTY by a member drops the terminal for it alone. */
		int a = ioctl(0, TIOCNOTTY);
		int b = open("/dev/tty", O_RDWR) < 0 && errno == ENXIO;
		_exit(a == 0 && b ? 0 : 1);
	}
	waitpid(nt, &st, 0);
	printf("TIOCNOTTY in a member, then /dev/tty ENXIO: %s\n", WEXITSTATUS(st) == 0 ? "ok" : "bad");
	int fd = open("/dev/tty", O_RDWR);
	CHECK("the leader still has /dev/tty", fd >= 0);
	kill(other, SIGKILL);
	kill(kid, SIGKILL);
	waitpid(other, NULL, 0);
	waitpid(kid, NULL, 0);
	(void)me;
	return 0;
}

/* Forks a child into a group of its own (the background) that runs `fn`;
 * reports how it ended (or stopped), then kills it. */
static void in_background(const char *label, int (*fn)(void))
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		_exit(fn());
	}
	setpgid(c, c);
	int st;
	waitpid(c, &st, WUNTRACED);
	describe_status(label, st);
	if (WIFSTOPPED(st)) {
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
	}
}

static int bg_read(void)
{
	char b;
	return read(0, &b, 1) < 0 ? errno : 0;
}

static int bg_read_ignoring(void)
{
	signal(SIGTTIN, SIG_IGN);
	return bg_read();
}

static int bg_read_blocking(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTTIN);
	sigprocmask(SIG_BLOCK, &s, NULL);
	return bg_read();
}

static int bg_write(void)
{
	return write(1, "", 0) < 0 || write(1, "background write\n", 17) < 0 ? errno : 0;
}

static int bg_write_ignoring(void)
{
	signal(SIGTTOU, SIG_IGN);
	return bg_write();
}

static int bg_tcsetattr(void)
{
	struct termios t;
	tcgetattr(0, &t);
	return tcsetattr(0, TCSANOW, &t) < 0 ? errno : 0;
}

static int bg_tcgetattr(void)
{
	struct termios t;
	return tcgetattr(0, &t) < 0 ? errno : 0;
}

static int jobctl(void)
{
	in_background("background read", bg_read);
	printf("(EIO is %d)\n", EIO);
	in_background("background read, SIGTTIN ignored", bg_read_ignoring);
	in_background("background read, SIGTTIN blocked", bg_read_blocking);
	in_background("background write, no TOSTOP", bg_write);
	in_background("background tcsetattr", bg_tcsetattr);
	in_background("background tcgetattr", bg_tcgetattr);
	struct termios t;
	tcgetattr(0, &t);
	t.c_lflag |= TOSTOP;
	report("set TOSTOP", tcsetattr(0, TCSANOW, &t));
	in_background("background write, TOSTOP", bg_write);
	in_background("background write, TOSTOP, SIGTTOU ignored", bg_write_ignoring);
	t.c_lflag &= ~TOSTOP;
	tcsetattr(0, TCSANOW, &t);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "basics"))
		return basics();
	if (!strcmp(mode, "echo"))
		return echo();
	if (!strcmp(mode, "winsize"))
		return winsize();
	if (!strcmp(mode, "sigint"))
		return sigint();
	if (!strcmp(mode, "pgrp"))
		return pgrp();
	if (!strcmp(mode, "jobctl"))
		return jobctl();
	if (!strcmp(mode, "sleeper")) {
		printf("ready\n");
		pause();
		return 0;
	}
	fprintf(stderr, "usage: tty basics|echo|winsize|sigint|pgrp|jobctl\n");
	return 2;
}
