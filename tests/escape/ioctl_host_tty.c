/* Run with a host terminal as its stdin, stdout and stderr (the test gives
 * it a fresh pty, as an interactive `husk run` has): TIOCSTI on it would
 * type into the host's terminal, whose next reader is whoever owns it
 * outside the sandbox (a shell, after the sandbox exits). Husk passes only
 * the termios and window ioctls to a host terminal: TIOCSTI, TIOCCONS,
 * TIOCSETD (another line discipline: a kernel attack surface), TIOCLINUX
 * and the VT ioctls give ENOTTY, and nothing arrives on the terminal (the
 * test checks the pty's output never shows the letters pushed). */
#include "escape.h"

#include <linux/kd.h>
#include <linux/vt.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

int main(void)
{
	esc_check("stdin is a terminal", isatty(0), "the host pty");
	/* Letters the test looks for in the terminal's output; each pushed
	 * on its own, never printed together. */
	const char letters[] = { 'Q', 'Z', 'J', 'X', '\n' };
	int pushed = 0, enotty = 0;
	for (unsigned i = 0; i < sizeof letters; i++) {
		long r = ioctl(0, TIOCSTI, &letters[i]);
		pushed += r == 0;
		enotty += r == -1 && errno == ENOTTY;
	}
	esc_check("TIOCSTI on the host terminal, 5 characters", pushed == 0 && enotty == 5, "ENOTTY each (%d pushed)", pushed);
	EXPECT_ERR("TIOCSTI on stdout", ioctl(1, TIOCSTI, &letters[0]), ENOTTY);
	EXPECT_ERR("TIOCCONS", ioctl(0, TIOCCONS), ENOTTY);
	int disc = 13; /* N_HDLC */
	EXPECT_ERR("TIOCSETD N_HDLC", ioctl(0, TIOCSETD, &disc), ENOTTY);
	char sub = 6;
	EXPECT_ERR("TIOCLINUX", ioctl(0, TIOCLINUX, &sub), ENOTTY);
	EXPECT_ERR("VT_ACTIVATE", ioctl(0, VT_ACTIVATE, 1), ENOTTY);
	EXPECT_ERR("KDSKBMODE K_RAW", ioctl(0, KDSKBMODE, K_RAW), ENOTTY);
	struct pollfd p = { .fd = 0, .events = POLLIN };
	esc_check("nothing to read on the terminal", poll(&p, 1, 200) == 0, "poll timed out");
	struct termios t;
	EXPECT_OK("TCGETS (served)", ioctl(0, TCGETS, &t));
	return esc_finish();
}
