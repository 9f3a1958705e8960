/* Terminal ioctls that reach further than the terminal: TIOCCONS
 * (redirect the console), TIOCSCTTY stealing (arg 1), TIOCLINUX, the VT
 * switch and keyboard-mode ioctls, on a pty of the sandbox's own. None
 * reach a host console: ENOTTY (Husk's ptys answer no console ioctl);
 * TIOCSCTTY makes the pty init's controlling terminal, as on Linux. */
#include "escape.h"

#include <linux/kd.h>
#include <linux/vt.h>
#include <sys/ioctl.h>

int main(void)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	unlockpt(m);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	EXPECT_OK("a pty", s);
	EXPECT_ERR("TIOCCONS", ioctl(s, TIOCCONS), ENOTTY);
	char sub = 6; /* TIOCL_GETFGCONSOLE */
	EXPECT_ERR("TIOCLINUX", ioctl(s, TIOCLINUX, &sub), ENOTTY);
	EXPECT_ERR("VT_ACTIVATE 1", ioctl(s, VT_ACTIVATE, 1), ENOTTY);
	EXPECT_ERR("KDSETMODE KD_GRAPHICS", ioctl(s, KDSETMODE, KD_GRAPHICS), ENOTTY);
	EXPECT_ERR("KDSKBMODE K_RAW", ioctl(s, KDSKBMODE, K_RAW), ENOTTY);
	EXPECT_OK("TIOCSCTTY(1): it becomes init's terminal, inside", ioctl(s, TIOCSCTTY, 1));
	return esc_finish();
}
