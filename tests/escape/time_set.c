/* The host's clock: settimeofday and clock_settime to 2001 (EPERM, as
 * without CAP_SYS_TIME: the sandbox never sets the host's clock, whatever
 * its capabilities, as in gVisor), adjtimex and clock_adjtime with an
 * offset (ENOSYS). The sandbox's clock has not moved either, and the test
 * checks the host's. */
#include "escape.h"

#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

int main(void)
{
	struct timeval tv = { 1000000000, 0 };
	struct timespec ts = { 1000000000, 0 };
	EXPECT_ERR("settimeofday(2001)", settimeofday(&tv, NULL), EPERM);
	EXPECT_ERR("clock_settime(CLOCK_REALTIME, 2001)", syscall(SYS_clock_settime, CLOCK_REALTIME, &ts), EPERM);
	struct timex tx = { .modes = ADJ_OFFSET_SINGLESHOT, .offset = 1000000 };
	EXPECT_ERR("adjtimex(+1 s)", syscall(SYS_adjtimex, &tx), ENOSYS);
	EXPECT_ERR("clock_adjtime(CLOCK_REALTIME, +1 s)", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), ENOSYS);
	EXPECT_ERR("stime-like settimeofday(tz only)", settimeofday(NULL, &(struct timezone){ 60, 0 }), EPERM);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	esc_check("the sandbox's clock", now.tv_sec > 1600000000, "still after 2020");
	return esc_finish();
}
