/* TIOCSTI: pushing input into a terminal (typing commands into the host's
 * shell, when a container shares its terminal). On the fds the test gives
 * (stdin /dev/null, stdout and stderr pipes) it is ENOTTY; /dev/tty is
 * not there without a controlling terminal (ENXIO); on a pseudo-terminal
 * of the sandbox's own it is ENOTTY too (Husk does not offer TIOCSTI;
 * Linux gives it to root, or EIO when legacy TIOCSTI is off), and nothing
 * arrives. ioctl_host_tty.c tries it on a host terminal. */
#include "escape.h"

#include <sys/ioctl.h>

int main(void)
{
	char c = 'x';
	EXPECT_ERR("TIOCSTI on stdin", ioctl(0, TIOCSTI, &c), ENOTTY);
	EXPECT_ERR("TIOCSTI on stdout", ioctl(1, TIOCSTI, &c), ENOTTY);
	EXPECT_ERR("TIOCSTI on stderr", ioctl(2, TIOCSTI, &c), ENOTTY);
	EXPECT_ERR("open /dev/tty (no controlling terminal)", open("/dev/tty", O_RDWR), ENXIO);
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	EXPECT_OK("open /dev/ptmx", m);
	unlockpt(m);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
	EXPECT_OK("open its replica", s);
	EXPECT_ERR("TIOCSTI on the sandbox's own pty", ioctl(s, TIOCSTI, "i"), ENOTTY);
	EXPECT_ERR("TIOCSTI on its master", ioctl(m, TIOCSTI, "i"), ENOTTY);
	char buf[16];
	EXPECT_ERR("nothing arrived on the pty", read(s, buf, sizeof buf), EAGAIN);
	return esc_finish();
}
