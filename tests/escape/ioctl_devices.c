/* ioctls on the sandbox's devices: /dev/urandom and /dev/random's entropy
 * ioctls (RNDADDTOENTCNT, RNDADDENTROPY, RNDCLEARPOOL, RNDZAPENTCNT: the
 * host's pool, as root), and TIOCSTI, 0xdeadbeef on /dev/null, /dev/zero,
 * /dev/full and /dev/ptmx. ENOTTY: Husk's devices do not reach the host's
 * random pool. */
#include "escape.h"

#include <linux/random.h>
#include <sys/ioctl.h>

int main(void)
{
	char label[96];
	int cnt = 1 << 20;
	const char *rnd[] = { "/dev/urandom", "/dev/random" };
	for (int i = 0; i < 2; i++) {
		int fd = open(rnd[i], O_RDWR);
		snprintf(label, sizeof label, "%s: RNDADDTOENTCNT", rnd[i]);
		EXPECT_ERR(label, ioctl(fd, RNDADDTOENTCNT, &cnt), ENOTTY);
		struct {
			int count, size;
			char buf[8];
		} e = { 64, 8, "aaaaaaa" };
		snprintf(label, sizeof label, "%s: RNDADDENTROPY", rnd[i]);
		EXPECT_ERR(label, ioctl(fd, RNDADDENTROPY, &e), ENOTTY);
		snprintf(label, sizeof label, "%s: RNDCLEARPOOL", rnd[i]);
		EXPECT_ERR(label, ioctl(fd, RNDCLEARPOOL), ENOTTY);
		snprintf(label, sizeof label, "%s: RNDZAPENTCNT", rnd[i]);
		EXPECT_ERR(label, ioctl(fd, RNDZAPENTCNT), ENOTTY);
	}
	const char *devs[] = { "/dev/null", "/dev/zero", "/dev/full" };
	char c = 'x';
	for (int i = 0; i < 3; i++) {
		int fd = open(devs[i], O_RDWR);
		snprintf(label, sizeof label, "%s: TIOCSTI", devs[i]);
		EXPECT_ERR(label, ioctl(fd, TIOCSTI, &c), ENOTTY);
		snprintf(label, sizeof label, "%s: 0xdeadbeef", devs[i]);
		EXPECT_ERR(label, ioctl(fd, 0xdeadbeef, 0), ENOTTY);
	}
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	EXPECT_ERR("/dev/ptmx: 0xdeadbeef", ioctl(m, 0xdeadbeef, 0), ENOTTY);
	return esc_finish();
}
