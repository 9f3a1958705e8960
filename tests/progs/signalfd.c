/* signalfd: reading blocked signals as records (kill, sigqueue, SIGCHLD),
 * several in one read, a new mask on an existing fd, poll and epoll, a
 * blocking read woken by another process, and the errors. Each check
 * prints "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

static short revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	poll(&p, 1, 0);
	return p.revents;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	int fd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
	CHECK("signalfd: SFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	char link[64] = { 0 }, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("signalfd: fd link %s\n", link);
	struct signalfd_siginfo si[4];
	report("signalfd: read with nothing pending", read(fd, si, sizeof si));
	report("signalfd: read into 100 bytes", read(fd, si, 100));
	printf("signalfd: poll, nothing pending %#x\n", revents(fd));

	kill(getpid(), SIGUSR1);
	printf("signalfd: poll, SIGUSR1 pending %#x\n", revents(fd));
	long n = read(fd, si, sizeof si);
	CHECK("kill: one record", n == (long)sizeof si[0]);
	CHECK("kill: signo, code, pid, uid",
	      si[0].ssi_signo == SIGUSR1 && si[0].ssi_code == SI_USER && si[0].ssi_pid == (uint32_t)getpid() &&
		      si[0].ssi_uid == getuid());
	report("then nothing", read(fd, si, sizeof si));

	union sigval v = { .sival_int = 42 };
	sigqueue(getpid(), SIGUSR1, v);
	n = read(fd, si, sizeof si);
	CHECK("sigqueue: SI_QUEUE and the value", n == sizeof si[0] && si[0].ssi_code == SI_QUEUE && si[0].ssi_int == 42);

	/* A new mask on the same fd; signals outside it stay pending. */
	sigset_t both = set;
	sigdelset(&both, SIGCHLD);
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	CHECK("signalfd on the same fd returns it", signalfd(fd, &usr2, 0) == fd);
	kill(getpid(), SIGUSR1);
	report("a signal outside the new mask", read(fd, si, sizeof si));
	kill(getpid(), SIGUSR2);
	n = read(fd, si, sizeof si);
	CHECK("a signal in it", n == sizeof si[0] && si[0].ssi_signo == SIGUSR2);
	signalfd(fd, &both, 0);
	kill(getpid(), SIGUSR2);
	n = read(fd, si, sizeof si);
	CHECK("two pending, one read gets both, lowest first",
	      n == 2 * (long)sizeof si[0] && si[0].ssi_signo == SIGUSR1 && si[1].ssi_signo == SIGUSR2);

	/* SIGCHLD, with the child's status. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int cfd = signalfd(-1, &chld, 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(5);
	n = read(cfd, si, sizeof si);
	CHECK("SIGCHLD: the child's pid, CLD_EXITED and status 5",
	      n == sizeof si[0] && si[0].ssi_signo == SIGCHLD && si[0].ssi_code == CLD_EXITED &&
		      si[0].ssi_pid == (uint32_t)pid && si[0].ssi_status == 5);
	waitpid(pid, NULL, 0);

	/* A blocking read woken by another process's kill, and epoll. */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 3 }, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	CHECK("epoll: nothing yet", epoll_wait(ep, &out, 1, 0) == 0);
	pid_t me = getpid();
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		kill(me, SIGUSR2);
		_exit(0);
	}
	CHECK("epoll: wakes for the signal", epoll_wait(ep, &out, 1, 5000) == 1 && out.data.u64 == 3);
	fcntl(fd, F_SETFL, 0);
	n = read(fd, si, sizeof si);
	CHECK("a blocking read takes it", n == sizeof si[0] && si[0].ssi_signo == SIGUSR2);
	waitpid(pid, NULL, 0);
	read(cfd, si, sizeof si);
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		kill(me, SIGUSR1);
		_exit(0);
	}
	n = read(fd, si, sizeof si);
	CHECK("a blocking read waits for one", n == sizeof si[0] && si[0].ssi_signo == SIGUSR1);
	waitpid(pid, NULL, 0);

	report("signalfd: sizemask 4", signalfd(-1, &usr1, 4) < 0 ? -1 : 0);
	report("signalfd4: sizemask 4", syscall(SYS_signalfd4, -1, &usr1, 4, 0));
	report("signalfd4: unknown flags", syscall(SYS_signalfd4, -1, &usr1, 8, 1));
	int p[2];
	pipe(p);
	report("signalfd4: a pipe", syscall(SYS_signalfd4, p[0], &usr1, 8, 0));
	report("signalfd4: a bad fd", syscall(SYS_signalfd4, 999, &usr1, 8, 0));
	report("write to a signalfd", write(fd, si, sizeof si[0]));
	printf("done\n");
	return 0;
}
