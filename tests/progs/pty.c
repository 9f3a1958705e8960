/* Pseudo-terminals: /dev/ptmx and /dev/pts with Linux's line discipline.
 *
 * Opening and naming a pair (posix_openpt, grantpt, unlockpt, ptsname,
 * TIOCGPTN, TIOCGPTPEER, the lock), the replica's node and ttyname, the
 * default termios, canonical mode (lines, echo, ICRNL/ONLCR, erase, kill,
 * word erase, EOF), raw mode (cfmakeraw, VMIN and VTIME), ISIG (^C to the
 * foreground group only, with the queues flushed), window sizes and
 * SIGWINCH, FIONREAD, tcflush, O_NONBLOCK, poll, hangups both ways
 * (master closed: the session leader's SIGHUP, end of file, EIO and a
 * vanished node; replica closed: EIO on the master), and openpty and
 * forkpty with login_tty.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <utmp.h>

static int open_pair(int *replica)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		printf("open_pair: bad (%s)\n", errname(errno));
		exit(1);
	}
	*replica = open(ptsname(m), O_RDWR | O_NOCTTY);
	if (*replica < 0) {
		printf("open_pair replica: bad (%s)\n", errname(errno));
		exit(1);
	}
	return m;
}

/* Reads what the master has now (waiting up to 1 s for the first byte),
 * as printable text: control bytes as \r, \n, \b or \xNN. */
static const char *drain_master(int m)
{
	static char text[4096];
	char buf[1024];
	size_t t = 0;
	struct pollfd p = { m, POLLIN, 0 };
	text[0] = 0;
	if (poll(&p, 1, 1000) <= 0)
		return text;
	sleep_ms(20);
	int fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);
	ssize_t n;
	while ((n = read(m, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n && t + 5 < sizeof text; i++) {
			unsigned char c = buf[i];
			if (c == '\r')
				t += sprintf(text + t, "\\r");
			else if (c == '\n')
				t += sprintf(text + t, "\\n");
			else if (c == '\b')
				t += sprintf(text + t, "\\b");
			else if (c < 0x20 || c >= 0x7f)
				t += sprintf(text + t, "\\x%02x", c);
			else
				text[t++] = c;
		}
		text[t] = 0;
	}
	fcntl(m, F_SETFL, fl);
	return text;
}

static void show(const char *label, int m)
{
	printf("%s: \"%s\"\n", label, drain_master(m));
}

/* One read of the replica, printed (escaped as drain_master does). */
static void show_read(const char *label, int s, size_t max)
{
	char buf[256];
	ssize_t n = read(s, buf, max < sizeof buf ? max : sizeof buf);
	if (n < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	printf("%s: %zd \"", label, n);
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = buf[i];
		if (c == '\n')
			printf("\\n");
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\"\n");
}

static void naming(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	report("posix_openpt", m);
	struct stat st;
	fstat(m, &st);
	CHECK("master is char 5:2", S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 2);
	unsigned n = 9999;
	report("TIOCGPTN", ioctl(m, TIOCGPTN, &n));
	char want[32];
	snprintf(want, sizeof want, "/dev/pts/%u", n);
	CHECK("ptsname is /dev/pts/TIOCGPTN", strcmp(ptsname(m), want) == 0);
	int lock = -1;
	ioctl(m, TIOCGPTLCK, &lock);
	CHECK("new pty is locked", lock == 1);
	report("open a locked replica", open(want, O_RDWR | O_NOCTTY));
	report("TIOCGPTPEER while locked", ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY));
	report("grantpt", grantpt(m));
	report("unlockpt", unlockpt(m));
	ioctl(m, TIOCGPTLCK, &lock);
	CHECK("unlocked", lock == 0);
	int s = open(want, O_RDWR | O_NOCTTY);
	report("open the replica", s);
	CHECK("isatty(replica)", isatty(s));
	CHECK("isatty(master)", isatty(m));
	char *name = ttyname(s);
	CHECK("ttyname(replica) is ptsname", name && strcmp(name, want) == 0);
	struct stat a, b;
	stat(want, &a);
	fstat(s, &b);
	CHECK("replica node: char 136+", S_ISCHR(a.st_mode) && major(a.st_rdev) == 136 + n / 256 && minor(a.st_rdev) == n % 256);
	CHECK("replica node mode 0620", (a.st_mode & 07777) == 0620);
	CHECK("fstat(replica) matches its node", a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_rdev == b.st_rdev);
	CHECK("replica owned by the opener", a.st_uid == getuid());
	char link[64], path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", s);
	ssize_t l = readlink(path, link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	CHECK("/proc/self/fd names the replica", strcmp(link, want) == 0);
	int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	report("TIOCGPTPEER", peer);
	fstat(peer, &b);
	CHECK("TIOCGPTPEER's file is the replica", b.st_rdev == a.st_rdev);
	CHECK("TIOCGPTPEER's O_CLOEXEC", fcntl(peer, F_GETFD) == FD_CLOEXEC);
	snprintf(path, sizeof path, "/proc/self/fd/%d", peer);
	l = readlink(path, link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	CHECK("/proc/self/fd names TIOCGPTPEER's replica", strcmp(link, want) == 0);
	report("TIOCGPTN on the replica", ioctl(s, TIOCGPTN, &n));
	int dn = open("/dev/pts", O_RDONLY | O_DIRECTORY);
	CHECK("/dev/pts lists the pty", dn >= 0 && faccessat(dn, want + 9, F_OK, 0) == 0);
	close(dn);
	close(peer);
	close(s);
	close(m);
	CHECK("the node goes with the master", access(want, F_OK) == -1 && errno == ENOENT);
}

static void defaults(void)
{
	int s, m = open_pair(&s);
	struct termios t;
	report("tcgetattr", tcgetattr(s, &t));
	printf("c_iflag: %#o\n", t.c_iflag);
	printf("c_oflag: %#o\n", t.c_oflag);
	printf("c_cflag: %#o\n", t.c_cflag);
	printf("c_lflag: %#o\n", t.c_lflag);
	printf("c_cc: intr %d quit %d erase %d kill %d eof %d time %d min %d susp %d werase %d lnext %d\n",
	       t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VERASE], t.c_cc[VKILL], t.c_cc[VEOF], t.c_cc[VTIME],
	       t.c_cc[VMIN], t.c_cc[VSUSP], t.c_cc[VWERASE], t.c_cc[VLNEXT]);
	printf("speed: %d\n", (int)cfgetospeed(&t));
	struct termios mt;
	tcgetattr(m, &mt);
	CHECK("the master's termios is the replica's", mt.c_iflag == t.c_iflag && mt.c_oflag == t.c_oflag &&
							       mt.c_cflag == t.c_cflag && mt.c_lflag == t.c_lflag &&
							       memcmp(mt.c_cc, t.c_cc, 17) == 0);
	/* Changed through the master, seen on the replica. */
	mt.c_lflag &= ~ECHO;
	tcsetattr(m, TCSANOW, &mt);
	tcgetattr(s, &t);
	CHECK("tcsetattr on the master sets the replica's", !(t.c_lflag & ECHO));
	struct winsize ws;
	ioctl(s, TIOCGWINSZ, &ws);
	printf("winsize: %d %d\n", ws.ws_row, ws.ws_col);
	close(s);
	close(m);
}

static void canonical(void)
{
	int s, m = open_pair(&s);
	write(m, "abc", 3);
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	show_read("canonical: no line yet", s, 100);
	show("canonical: echo so far", m);
	write(m, "d\rxy", 4);
	show("canonical: echo of CR", m);
	int avail = -1;
	ioctl(s, FIONREAD, &avail);
	printf("canonical: FIONREAD %d\n", avail);
	show_read("canonical: a line", s, 100);
	show_read("canonical: the next, incomplete", s, 100);
	write(m, "\n12345\n", 7);
	show_read("canonical: one line per read", s, 100);
	show_read("canonical: a short read", s, 2);
	show_read("canonical: its rest", s, 100);
	write(m, "hello wor\x7f\x7fld\x17there\n", 20);
	show_read("canonical: erase and word erase", s, 100);
	show("canonical: their echo", m);
	write(m, "junk\x15ok\n", 8);
	show_read("canonical: kill", s, 100);
	show("canonical: its echo", m);
	write(m, "eof\x04", 4);
	show_read("canonical: EOF ends a line", s, 100);
	write(m, "\x04", 1);
	show_read("canonical: EOF on an empty line", s, 100);
	write(m, "\x16\x03\n", 3);
	show_read("canonical: a literal ^C", s, 100);
	show("canonical: its echo", m);
	drain_master(m);
	write(s, "out\tput\nline2\n", 14);
	show("canonical: output with ONLCR", m);
	fcntl(s, F_SETFL, fl);
	close(s);
	close(m);
}

static void raw_mode(void)
{
	int s, m = open_pair(&s);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	report("tcsetattr raw", tcsetattr(s, TCSANOW, &t));
	write(m, "ab\r\x03", 4);
	show_read("raw: bytes as written", s, 100);
	show("raw: no echo", m);
	write(s, "x\ny", 3);
	show("raw: output unprocessed", m);
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 0;
	tcsetattr(s, TCSANOW, &t);
	write(m, "12", 2);
	struct pollfd p = { s, POLLIN, 0 };
	printf("raw: VMIN 3, 2 bytes: poll %d\n", poll(&p, 1, 100));
	write(m, "3", 1);
	printf("raw: VMIN 3, 3 bytes: poll %d\n", poll(&p, 1, 100));
	show_read("raw: VMIN 3", s, 100);
	t.c_cc[VMIN] = 0;
	tcsetattr(s, TCSANOW, &t);
	show_read("raw: VMIN 0 VTIME 0, nothing", s, 100);
	t.c_cc[VTIME] = 2;
	tcsetattr(s, TCSANOW, &t);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	show_read("raw: VMIN 0 VTIME 2, nothing", s, 100);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CHECK("raw: VTIME 2 waits about 200 ms", ms >= 150 && ms < 2000);
	/* Back to canonical (Linux makes unread input a line, but whether
	 * it has taken it in yet is a race: none is left unread here). */
	tcgetattr(s, &t);
	t.c_lflag |= ICANON;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(s, TCSANOW, &t);
	write(m, "fix\n", 4);
	show_read("back to canonical: a line", s, 100);
	/* Input flushed by TCSAFLUSH and tcflush (once the line discipline
	 * has it: Linux takes input in asynchronously). */
	struct pollfd in = { s, POLLIN, 0 };
	write(m, "gone\n", 5);
	poll(&in, 1, 1000);
	tcsetattr(s, TCSAFLUSH, &t);
	int avail = -1;
	ioctl(s, FIONREAD, &avail);
	printf("TCSAFLUSH: FIONREAD %d\n", avail);
	write(m, "gone too\n", 9);
	poll(&in, 1, 1000);
	tcflush(s, TCIFLUSH);
	ioctl(s, FIONREAD, &avail);
	printf("tcflush: FIONREAD %d\n", avail);
	write(s, "queued", 6);
	sleep_ms(50);
	ioctl(m, FIONREAD, &avail);
	printf("master FIONREAD: %d\n", avail);
	/* The master's input is the replica's output: its TCIFLUSH drops it. */
	tcflush(m, TCIFLUSH);
	ioctl(m, FIONREAD, &avail);
	printf("master FIONREAD after the master's TCIFLUSH: %d\n", avail);
	close(s);
	close(m);
}

static volatile sig_atomic_t got_winch;
static void on_winch(int sig)
{
	(void)sig;
	got_winch++;
}

/* A child leads a new session with the replica as its controlling
 * terminal (opened without O_NOCTTY), then reports what it sees. */
static void job_control(void)
{
	int s0, m = open_pair(&s0);
	const char *name = ptsname(m);
	close(s0);
	int ready[2];
	pipe(ready);
	pid_t c = fork();
	if (c == 0) {
		close(m);
		setsid();
		int s = open(name, O_RDWR);
		signal(SIGWINCH, on_winch);
		/* ^C must end it whatever the runner's SIGINT disposition (a
		 * shell's background job inherits it ignored). */
		signal(SIGINT, SIG_DFL);
		/* /proc/self/stat's tty_nr and tpgid (fields 7 and 8). */
		char stat[512] = "";
		int sf = open("/proc/self/stat", O_RDONLY);
		read(sf, stat, sizeof stat - 1);
		close(sf);
		int tty_nr = 0, tpgid = 0;
		char *p = strrchr(stat, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %d %d", &tty_nr, &tpgid);
		struct stat st;
		fstat(s, &st);
		char line[128];
		snprintf(line, sizeof line, "child: tcgetpgrp is me %d, tcgetsid %d, stat's tty_nr %d tpgid %d\n",
			 tcgetpgrp(s) == getpid(), tcgetsid(s) == getpid(), tty_nr == (int)st.st_rdev,
			 tpgid == getpid());
		write(s, line, strlen(line));
		write(ready[1], "r", 1);
		/* Waits for a line; ^C (SIGINT, default action) ends it first. */
		char buf[64];
		read(s, buf, sizeof buf);
		_exit(got_winch ? 3 : 2);
	}
	char r;
	read(ready[0], &r, 1);
	show("job control: the child's line", m);
	int pg = 0;
	report("TIOCGPGRP on the master", ioctl(m, TIOCGPGRP, &pg));
	CHECK("the master sees the child's group", pg == c);
	struct winsize ws = { 24, 80, 0, 0 };
	report("TIOCSWINSZ on the master", ioctl(m, TIOCSWINSZ, &ws));
	sleep_ms(100);
	/* ^C: typed partial input is flushed, and ^C echoed. */
	write(m, "partial\x03", 8);
	int st;
	waitpid(c, &st, 0);
	printf("job control: child %s\n", status_str(st));
	show("job control: echo", m);
	struct winsize got;
	int s = open(name, O_RDWR | O_NOCTTY);
	ioctl(s, TIOCGWINSZ, &got);
	printf("winsize now: %d %d\n", got.ws_row, got.ws_col);
	close(s);
	close(m);
}

/* Closing the master hangs the replica up. */
static void hangup_replica(void)
{
	int s0, m = open_pair(&s0);
	char name[32];
	snprintf(name, sizeof name, "%s", ptsname(m));
	close(s0);
	int ready[2], done[2];
	pipe(ready);
	pipe(done);
	pid_t c = fork();
	if (c == 0) {
		close(m);
		setsid();
		int s = open(name, O_RDWR);
		signal(SIGHUP, SIG_IGN);
		write(ready[1], "r", 1);
		char b;
		read(done[0], &b, 1);
		char buf[16];
		ssize_t n = read(s, buf, sizeof buf);
		int rerr = n < 0 ? errno : 0;
		ssize_t w = write(s, "x", 1);
		int werr = w < 0 ? errno : 0;
		struct pollfd p = { s, POLLIN | POLLOUT, 0 };
		poll(&p, 1, 0);
		struct termios t;
		int terr = tcgetattr(s, &t) < 0 ? errno : 0;
		printf("hung up: read %zd, write %s, poll HUP %d, tcgetattr %s, tcgetpgrp %s\n",
		       n < 0 ? -(ssize_t)rerr : n, errname(werr), !!(p.revents & POLLHUP), errname(terr),
		       tcgetpgrp(s) < 0 ? errname(errno) : "ok");
		fflush(stdout);
		_exit(0);
	}
	char r;
	read(ready[0], &r, 1);
	close(m);
	CHECK("the replica's node goes with the master", access(name, F_OK) == -1 && errno == ENOENT);
	write(done[1], "d", 1);
	int st;
	waitpid(c, &st, 0);
	printf("hangup child: %s\n", status_str(st));

	/* Without SIGHUP ignored, the session leader dies of it. */
	m = open_pair(&s0);
	snprintf(name, sizeof name, "%s", ptsname(m));
	close(s0);
	c = fork();
	if (c == 0) {
		close(m);
		setsid();
		open(name, O_RDWR);
		write(ready[1], "r", 1);
		pause();
		_exit(0);
	}
	read(ready[0], &r, 1);
	close(m);
	waitpid(c, &st, 0);
	printf("session leader on hangup: %s\n", status_str(st));
}

/* Closing the replica: the master reads what is left, then EIO. */
static void replica_closed(void)
{
	int s, m = open_pair(&s);
	int avail = -1;
	int fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);
	char buf[64];
	report("master read, nothing yet", read(m, buf, sizeof buf));
	struct pollfd p = { m, POLLIN | POLLOUT, 0 };
	poll(&p, 1, 0);
	printf("master poll, replica open: in %d out %d hup %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT),
	       !!(p.revents & POLLHUP));
	write(s, "last", 4);
	sleep_ms(50);
	ioctl(m, FIONREAD, &avail);
	printf("master FIONREAD: %d\n", avail);
	close(s);
	poll(&p, 1, 0);
	printf("master poll, replica closed: in %d hup %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLHUP));
	ssize_t n = read(m, buf, sizeof buf);
	printf("master read: %zd\n", n);
	report("master read after", read(m, buf, sizeof buf));
	fcntl(m, F_SETFL, fl);
	report("blocking master read after", read(m, buf, sizeof buf));
	/* Opening the replica again clears it. */
	s = open(ptsname(m), O_RDWR | O_NOCTTY);
	report("reopen the replica", s);
	poll(&p, 1, 0);
	printf("master poll, reopened: hup %d\n", !!(p.revents & POLLHUP));
	close(s);
	close(m);
}

static void nonblocking(void)
{
	int s, m = open_pair(&s);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	fcntl(s, F_SETFL, O_NONBLOCK);
	fcntl(m, F_SETFL, O_NONBLOCK);
	char buf[4096];
	report("replica read, empty", read(s, buf, sizeof buf));
	memset(buf, 'z', sizeof buf);
	long total = 0;
	ssize_t n;
	while ((n = write(s, buf, sizeof buf)) > 0 && total < (1 << 24))
		total += n;
	printf("replica writes until full: %s, 8 to 64 KiB %d\n", errname(errno), total >= 8192 && total <= 65536);
	if (total < 8192 || total > 65536)
		printf("(it took %ld)\n", total);
	long got = 0;
	while ((n = read(m, buf, sizeof buf)) > 0)
		got += n;
	CHECK("the master reads all of it", got == total);
	close(s);
	close(m);
}

static void openpty_forkpty(void)
{
	int m, s;
	char name[64];
	struct winsize ws = { 30, 100, 0, 0 };
	report("openpty", openpty(&m, &s, name, NULL, &ws));
	CHECK("openpty's name", strcmp(name, ttyname(s)) == 0);
	struct winsize got;
	ioctl(m, TIOCGWINSZ, &got);
	printf("openpty winsize: %d %d\n", got.ws_row, got.ws_col);
	close(s);
	close(m);
	pid_t c = forkpty(&m, NULL, NULL, NULL);
	if (c == 0) {
		printf("forkpty child: isatty %d, leads its session %d, foreground %d\n", isatty(0),
		       getsid(0) == getpid(), tcgetpgrp(0) == getpid());
		fflush(stdout);
		char line[64];
		if (fgets(line, sizeof line, stdin))
			printf("child got: %s", line);
		fflush(stdout);
		_exit(0);
	}
	sleep_ms(100);
	write(m, "from the parent\n", 16);
	int st;
	waitpid(c, &st, 0);
	show("forkpty: the terminal", m);
	printf("forkpty child: %s\n", status_str(st));
	close(m);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	naming();
	defaults();
	canonical();
	raw_mode();
	job_control();
	hangup_replica();
	replica_closed();
	nonblocking();
	openpty_forkpty();
	return 0;
}
