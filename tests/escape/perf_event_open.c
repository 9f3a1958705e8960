/* perf_event_open: a CPU-cycles counter of this process, of every process
 * on CPU 0 (pid -1), and a tracepoint. ENOSYS. */
#include "escape.h"

#include <linux/perf_event.h>

int main(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	EXPECT_ERR("perf_event_open(cycles, self)", syscall(SYS_perf_event_open, &a, 0, -1, -1, 0), ENOSYS);
	EXPECT_ERR("perf_event_open(cycles, every process, CPU 0)", syscall(SYS_perf_event_open, &a, -1, 0, -1, 0), ENOSYS);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = 1;
	EXPECT_ERR("perf_event_open(a tracepoint)", syscall(SYS_perf_event_open, &a, -1, 0, -1, 0), ENOSYS);
	return esc_finish();
}
