/* ioctls on the sandbox's other kinds of fds: eventfd, epoll, timerfd,
 * signalfd, inotify, memfd, pidfd and a message queue: TIOCSTI and
 * 0xdeadbeef give ENOTTY on each; FIOCLEX works. */
#include "escape.h"

#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	const struct {
		const char *name;
		int fd;
	} fds[] = {
		{ "eventfd", eventfd(0, 0) },
		{ "epoll", epoll_create1(0) },
		{ "timerfd", timerfd_create(CLOCK_MONOTONIC, 0) },
		{ "signalfd", signalfd(-1, &set, 0) },
		{ "inotify", inotify_init1(0) },
		{ "memfd", memfd_create("husk-escape", 0) },
		{ "pidfd", (int)syscall(SYS_pidfd_open, getpid(), 0) },
		{ "mqueue", mq_open("/husk-escape", O_RDWR | O_CREAT, 0600, NULL) },
	};
	char label[96], c = 'x';
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		int fd = fds[i].fd;
		snprintf(label, sizeof label, "%s: TIOCSTI", fds[i].name);
		EXPECT_ERR(label, fd < 0 ? (errno = EBADF, -1) : ioctl(fd, TIOCSTI, &c), ENOTTY);
		snprintf(label, sizeof label, "%s: 0xdeadbeef", fds[i].name);
		EXPECT_ERR(label, fd < 0 ? (errno = EBADF, -1) : ioctl(fd, 0xdeadbeef, 0), ENOTTY);
		snprintf(label, sizeof label, "%s: FIOCLEX", fds[i].name);
		EXPECT_OK(label, ioctl(fd, FIOCLEX));
	}
	return esc_finish();
}
