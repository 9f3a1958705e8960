/* ptrace of host processes: the test runner's host pid and a pid no
 * sandbox process has; process_vm_readv and process_vm_writev of the host
 * pid and of init (pid 1 is the sandbox's own here); /proc/PID/mem; kcmp.
 * ptrace, process_vm_* and kcmp see only the sandbox's processes, which
 * the host pid is not one of (ESRCH), and copy between the Sentry's memory
 * managers (init's memory is the sandbox's own); /proc/PID/mem is not
 * offered (ENOENT). */
#include "escape.h"

#include <sys/ptrace.h>
#include <sys/uio.h>

int main(void)
{
	int host = ESC_HOST_PID();
	char buf[64];
	EXPECT_ERR("PTRACE_ATTACH HOSTPID", ptrace(PTRACE_ATTACH, host, 0, 0), ESRCH);
	EXPECT_ERR("PTRACE_SEIZE HOSTPID", ptrace(PTRACE_SEIZE, host, 0, 0), ESRCH);
	EXPECT_ERR("PTRACE_ATTACH 999999", ptrace(PTRACE_ATTACH, 999999, 0, 0), ESRCH);
	struct iovec local = { buf, sizeof buf }, remote = { (void *)0x400000, sizeof buf };
	EXPECT_ERR("process_vm_readv HOSTPID", syscall(SYS_process_vm_readv, host, &local, 1, &remote, 1, 0), ESRCH);
	EXPECT_ERR("process_vm_writev HOSTPID", syscall(SYS_process_vm_writev, host, &local, 1, &remote, 1, 0), ESRCH);
	EXPECT_OK("process_vm_readv of init (pid 1)", syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", host);
	EXPECT_ERR("open /proc/HOSTPID/mem", open(path, O_RDWR), ENOENT);
	EXPECT_ERR("open /proc/self/mem", open("/proc/self/mem", O_RDWR), ENOENT);
	EXPECT_ERR("kcmp(self, HOSTPID)", syscall(SYS_kcmp, getpid(), host, 0, 0, 0), ESRCH);
	return esc_finish();
}
