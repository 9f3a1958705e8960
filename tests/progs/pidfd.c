/* pidfds: pidfd_open, readiness when the process exits (poll and epoll,
 * and POLLHUP once reaped), pidfd_send_signal, waitid(P_PIDFD),
 * pidfd_getfd, clone3's CLONE_PIDFD, and the errors of each. Each check
 * prints "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

static int pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static int send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static short revents(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	poll(&p, 1, ms);
	return p.revents;
}

struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

struct info {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask, spare;
};
#define PIDFD_GET_INFO _IOWR(0xff, 11, struct info)
#define PIDFD_INFO_EXIT (1ULL << 3)

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int self = pidfd_open(getpid(), 0);
	CHECK("pidfd_open: self", self >= 0);
	CHECK("pidfd_open: close-on-exec", fcntl(self, F_GETFD) == FD_CLOEXEC);
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", self);
	readlink(path, link, sizeof link - 1);
	printf("pidfd: fd link %s\n", link);
	printf("pidfd: poll on a live process %#x\n", revents(self, 0));
	report("pidfd_open: unknown flags", pidfd_open(getpid(), 1));
	report("pidfd_open: pid 0", pidfd_open(0, 0));
	close(self);

	/* A child killed through its pidfd. */
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	int fd = pidfd_open(pid, 0);
	printf("child: poll while it runs %#x\n", revents(fd, 0));
	report("pidfd_send_signal: flags 8", send_signal(fd, SIGTERM, NULL, 8));
	report("pidfd_send_signal: two scopes", send_signal(fd, SIGTERM, NULL, 3));
	report("pidfd_send_signal: signal 0 to its thread", send_signal(fd, 0, NULL, 1));
	report("pidfd_send_signal: SIGTERM", send_signal(fd, SIGTERM, NULL, 0));
	printf("child: poll once it exited %#x\n", revents(fd, 5000));
	siginfo_t si;
	memset(&si, 0, sizeof si);
	report("waitid(P_PIDFD)", waitid(P_PIDFD, fd, &si, WEXITED));
	CHECK("waitid(P_PIDFD): killed by SIGTERM", si.si_code == CLD_KILLED && si.si_status == SIGTERM && si.si_pid == pid);
	printf("child: poll once reaped %#x\n", revents(fd, 0));
	report("pidfd_send_signal: after it was reaped", send_signal(fd, SIGTERM, NULL, 0));
	report("waitid(P_PIDFD): after it was reaped", waitid(P_PIDFD, fd, &si, WEXITED));
	report("pidfd_open: a reaped pid", pidfd_open(pid, 0));
	close(fd);

	/* PIDFD_NONBLOCK: waitid says EAGAIN while the child runs. */
	pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		_exit(3);
	}
	fd = pidfd_open(pid, PIDFD_NONBLOCK);
	CHECK("PIDFD_NONBLOCK: O_NONBLOCK", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	report("waitid(P_PIDFD) on a PIDFD_NONBLOCK pidfd, the child running", waitid(P_PIDFD, fd, &si, WEXITED));
	memset(&si, 0, sizeof si);
	report("the same with WNOHANG", waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG));
	CHECK("WNOHANG: nothing to report", si.si_pid == 0);
	int tries = 0;
	while (waitid(P_PIDFD, fd, &si, WEXITED) != 0 && errno == EAGAIN && tries++ < 500)
		sleep_ms(10);
	CHECK("once it exited: its status", si.si_pid == pid && si.si_code == CLD_EXITED && si.si_status == 3);
	close(fd);

	/* PIDFD_GET_INFO: ids and credentials while the process is in the
	 * table (a zombie too), only its exit status once reaped. */
	pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		_exit(7);
	}
	fd = pidfd_open(pid, 0);
	struct info info;
	memset(&info, 0, sizeof info);
	info.mask = PIDFD_INFO_EXIT;
	long ir = ioctl(fd, PIDFD_GET_INFO, &info);
	printf("PIDFD_GET_INFO, running: %s, mask %#llx\n", ir ? errname(errno) : "ok", (unsigned long long)info.mask);
	CHECK("its ids", info.pid == (uint32_t)pid && info.tgid == (uint32_t)pid && info.ppid == (uint32_t)getpid());
	CHECK("its credentials", info.ruid == getuid() && info.euid == geteuid() && info.fsgid == getgid());
	siginfo_t si2;
	waitid(P_PIDFD, fd, &si2, WEXITED | WNOWAIT);
	memset(&info, 0, sizeof info);
	info.mask = PIDFD_INFO_EXIT;
	ir = ioctl(fd, PIDFD_GET_INFO, &info);
	printf("PIDFD_GET_INFO, a zombie: %s, mask %#llx\n", ir ? errname(errno) : "ok", (unsigned long long)info.mask);
	waitpid(pid, NULL, 0);
	memset(&info, 0, sizeof info);
	info.mask = PIDFD_INFO_EXIT;
	ir = ioctl(fd, PIDFD_GET_INFO, &info);
	printf("PIDFD_GET_INFO, reaped: %s, mask %#llx, exit code %#x, pid %u\n", ir ? errname(errno) : "ok",
	       (unsigned long long)info.mask, info.exit_code, info.pid);
	info.mask = 0;
	report("PIDFD_GET_INFO, reaped, no PIDFD_INFO_EXIT", ioctl(fd, PIDFD_GET_INFO, &info));
	report("PIDFD_GET_INFO, no buffer", ioctl(fd, PIDFD_GET_INFO, NULL));
	report("PIDFD_GET_INFO of 8 bytes", ioctl(fd, _IOWR(0xff, 11, uint64_t), &info));
	int pp[2];
	pipe(pp);
	report("PIDFD_GET_INFO on a pipe", ioctl(pp[0], PIDFD_GET_INFO, &info));
	close(pp[0]);
	close(pp[1]);
	close(fd);

	/* epoll wakes when the process exits. */
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(4);
	}
	fd = pidfd_open(pid, 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 }, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	CHECK("epoll: reports the child's exit", epoll_wait(ep, &out, 1, 5000) == 1 && out.data.u64 == 7);
	int st;
	waitpid(pid, &st, 0);
	printf("epoll: child %s\n", status_str(st));
	close(ep);
	close(fd);

	/* pidfd_getfd takes a copy of another process's fd. */
	int ready[2];
	pipe(ready);
	pid = fork();
	if (pid == 0) {
		int e = eventfd(7, 0);
		dup2(e, 50);
		write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	char c;
	read(ready[0], &c, 1);
	fd = pidfd_open(pid, 0);
	int got = syscall(SYS_pidfd_getfd, fd, 50, 0);
	uint64_t v = 0;
	CHECK("pidfd_getfd: the child's eventfd", got >= 0 && read(got, &v, 8) == 8 && v == 7);
	CHECK("pidfd_getfd: close-on-exec", fcntl(got, F_GETFD) == FD_CLOEXEC);
	report("pidfd_getfd: an fd it has not", syscall(SYS_pidfd_getfd, fd, 51, 0));
	report("pidfd_getfd: flags 1", syscall(SYS_pidfd_getfd, fd, 50, 1));
	int p2[2];
	pipe(p2);
	report("pidfd_send_signal: a pipe", send_signal(p2[0], SIGTERM, NULL, 0));
	report("pidfd_getfd: a pipe", syscall(SYS_pidfd_getfd, p2[0], 0, 0));
	send_signal(fd, SIGKILL, NULL, 0);
	waitpid(pid, &st, 0);
	printf("getfd child: %s\n", status_str(st));
	close(fd);
	close(got);

	/* clone3 with CLONE_PIDFD. */
	int cfd = -1;
	struct clone_args_v0 args = { .flags = CLONE_PIDFD, .pidfd = (uintptr_t)&cfd, .exit_signal = SIGCHLD };
	fflush(stdout);
	long r = syscall(SYS_clone3, &args, sizeof args);
	if (r == 0)
		_exit(3);
	CHECK("clone3(CLONE_PIDFD): a pidfd", r > 0 && cfd >= 0 && fcntl(cfd, F_GETFD) == FD_CLOEXEC);
	memset(&si, 0, sizeof si);
	waitid(P_PIDFD, cfd, &si, WEXITED);
	CHECK("clone3(CLONE_PIDFD): waitid through it", si.si_code == CLD_EXITED && si.si_status == 3 && si.si_pid == r);
	close(cfd);
	report("clone(CLONE_PIDFD | CLONE_PARENT_SETTID)",
	       syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &cfd, 0, 0));

	/* An fd of a /proc/PID directory stands for the process (CPython's
	 * test_signal uses it); a task's directory does not. */
	int procdir = open("/proc/self", O_RDONLY | O_DIRECTORY);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	report("pidfd_send_signal through /proc/self", send_signal(procdir, SIGUSR1, NULL, 0));
	sigset_t pending;
	sigpending(&pending);
	CHECK("the signal is pending", sigismember(&pending, SIGUSR1));
	char task_path[64];
	snprintf(task_path, sizeof task_path, "/proc/self/task/%d", getpid());
	int taskdir = open(task_path, O_RDONLY | O_DIRECTORY);
	report("pidfd_send_signal through /proc/self/task/TID", send_signal(taskdir, SIGUSR1, NULL, 0));
	int procfile = open("/proc/self/stat", O_RDONLY);
	report("pidfd_send_signal through /proc/self/stat", send_signal(procfile, SIGUSR1, NULL, 0));
	printf("done\n");
	return 0;
}
