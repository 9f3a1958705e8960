/* Guessing the Gofer's fds: its socket to the Sentry and its root fds
 * live in other host processes; from the app, every way to name an fd of
 * another process fails: pidfd_getfd of every fd number (only this
 * process's own come), sendmsg, recvmsg and shutdown on guessed fds,
 * /proc/PID/fd of init, of other pids and of the test runner's host pid,
 * pidfd_open of that host pid. */
#include "escape.h"

#include <dirent.h>
#include <sys/socket.h>

int main(void)
{
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	EXPECT_OK("pidfd_open(self)", pidfd);
	/* pidfd_getfd copies an fd of a process the caller may ptrace: of
	 * this one, only its own fds come, and the fds past them are EBADF. */
	int got = 0, stray = 0, other = 0;
	for (int fd = 0; fd < 1024; fd++) {
		long r = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (r >= 0) {
			got++;
			stray += fd > 2 && fd != pidfd;
			close(r);
		} else {
			other += errno != EBADF;
		}
	}
	close(pidfd);
	esc_check("pidfd_getfd(self, 0..1023)", got == 4 && stray == 0 && other == 0,
		  "stdio and the pidfd copied (%d), the rest EBADF (%d stray, %d other errors)", got, stray, other);
	int sent = 0;
	for (int fd = 3; fd < 1024; fd++) {
		char c = 'x';
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		sent += sendmsg(fd, &m, MSG_DONTWAIT) != -1 || errno != EBADF;
		sent += recvmsg(fd, &m, MSG_DONTWAIT) != -1 || errno != EBADF;
		sent += shutdown(fd, SHUT_RDWR) != -1 || errno != EBADF;
	}
	esc_check("sendmsg, recvmsg, shutdown on fds 3..1023", sent == 0, "all EBADF: %d not", sent);

	/* Init's fds (ours: we are pid 1), and host pids' (the test runner's,
	 * and the low pids the host's init and daemons have). */
	int listed = 0;
	DIR *d = opendir("/proc/1/fd");
	struct dirent *e;
	while (d && (e = readdir(d)))
		listed += e->d_name[0] != '.';
	esc_check("/proc/1/fd", d && listed == 4, "%d entries: stdio and the listing's own", listed);
	char path[64];
	int found = 0;
	for (int pid = 2; pid < 50; pid++) {
		snprintf(path, sizeof path, "/proc/%d/fd/3", pid);
		found += open(path, O_RDONLY) != -1;
	}
	esc_check("/proc/2..49/fd/3", found == 0, "none opened (%d)", found);
	snprintf(path, sizeof path, "/proc/%d/fd/0", ESC_HOST_PID());
	EXPECT_ERR("/proc/HOSTPID/fd/0", open(path, O_RDONLY), ENOENT);
	int hp = syscall(SYS_pidfd_open, ESC_HOST_PID(), 0);
	EXPECT_ERR("pidfd_open(HOSTPID)", hp, ESRCH);
	return esc_finish();
}
