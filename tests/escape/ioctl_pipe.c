/* ioctls on pipes and FIFOs: TIOCSTI, TCSETS, FIONREAD (served: the bytes
 * waiting), FIONBIO (served), 0xdeadbeef: ENOTTY where Linux gives it. */
#include "escape.h"

#include <sys/ioctl.h>
#include <termios.h>

int main(void)
{
	int p[2];
	pipe(p);
	write(p[1], "abc", 3);
	char c = 'x';
	struct termios t = { 0 };
	EXPECT_ERR("pipe: TIOCSTI", ioctl(p[0], TIOCSTI, &c), ENOTTY);
	EXPECT_ERR("pipe: TCSETS", ioctl(p[1], TCSETS, &t), ENOTTY);
	EXPECT_ERR("pipe: 0xdeadbeef", ioctl(p[0], 0xdeadbeef, 0), ENOTTY);
	int n = 0;
	EXPECT_OK("pipe: FIONREAD", ioctl(p[0], FIONREAD, &n));
	esc_check("FIONREAD says", n == 3, "%d bytes", n);
	int on = 1;
	EXPECT_OK("pipe: FIONBIO", ioctl(p[0], FIONBIO, &on));
	mkfifo("/tmp/fifo", 0600);
	int f = open("/tmp/fifo", O_RDWR);
	EXPECT_ERR("FIFO: TIOCSTI", ioctl(f, TIOCSTI, &c), ENOTTY);
	EXPECT_ERR("FIFO: 0xdeadbeef", ioctl(f, 0xdeadbeef, 0), ENOTTY);
	return esc_finish();
}
