/* Running out of fds: open /dev/null until EMFILE (at RLIMIT_NOFILE, set
 * to 8192), then a pipe beyond it; close them all and open again. Then
 * raising RLIMIT_NOFILE past Linux's nr_open (1048576), which even root
 * may not: EPERM. The sandbox's fd table is its own: the Sentry goes on. */
#include "escape.h"

#include <sys/resource.h>

int main(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = rl.rlim_max > 8192 ? 8192 : rl.rlim_max;
	struct rlimit nl = { want, rl.rlim_max };
	EXPECT_OK("setrlimit(NOFILE, 8192)", setrlimit(RLIMIT_NOFILE, &nl));
	long n = 0;
	int err = 0;
	for (; n < 2000000; n++) {
		if (open("/dev/null", O_RDONLY) < 0) {
			err = errno;
			break;
		}
	}
	esc_check("open /dev/null until it fails", err == EMFILE && n == (long)want - 3, "%s after %s", errname(err),
		  n == (long)want - 3 ? "the limit" : "another count");
	int p[2];
	EXPECT_ERR("pipe at the limit", pipe(p), EMFILE);
	EXPECT_OK("close_range(3, ~0)", syscall(SYS_close_range, 3, ~0U, 0));
	EXPECT_OK("open again", open("/dev/null", O_RDONLY));
	struct rlimit huge = { 1UL << 40, 1UL << 40 };
	EXPECT_ERR("setrlimit(NOFILE, 2^40)", setrlimit(RLIMIT_NOFILE, &huge), EPERM);
	return esc_finish();
}
