/* A file's owner and signal-driven I/O: F_SETOWN, F_GETOWN, F_SETOWN_EX,
 * F_GETOWN_EX, F_SETSIG, F_GETSIG, O_ASYNC on pipes, sockets and a
 * pseudo-terminal (and not on a regular file), FIOASYNC and the socket
 * owner ioctls, the siginfo of F_SETSIG's signal (si_fd, si_code, si_band),
 * the owner's permission, process-group and thread owners, and dnotify's
 * signal through F_SETSIG. */
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

static volatile int sigio_count;
static volatile siginfo_t last;
static volatile int last_count;

static void on_sigio(int sig)
{
	(void)sig;
	sigio_count++;
}

static void on_info(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	last = *si;
	last_count++;
}

static const char *code_name(int code)
{
	switch (code) {
	case POLL_IN: return "POLL_IN";
	case POLL_OUT: return "POLL_OUT";
	case POLL_MSG: return "POLL_MSG";
	case POLL_ERR: return "POLL_ERR";
	case POLL_PRI: return "POLL_PRI";
	case POLL_HUP: return "POLL_HUP";
	case SI_KERNEL: return "SI_KERNEL";
	case SI_SIGIO: return "SI_SIGIO";
	default: return "?";
	}
}

/* The last F_SETSIG signal's siginfo, relative to fd `fd`. */
static void show_info(const char *label, int fd)
{
	if (last_count == 0) {
		printf("%s: no signal\n", label);
		return;
	}
	printf("%s: %d signal(s), signo %s, code %s, si_fd %s, band 0x%lx\n", label, last_count,
	       last.si_signo == SIGRTMIN + 1 ? "SIGRTMIN+1" : sigabbrev_np(last.si_signo), code_name(last.si_code),
	       last.si_fd == fd ? "the fd" : "another", (long)last.si_band);
	last_count = 0;
}

static void handlers(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_sigio;
	sigaction(SIGIO, &sa, NULL);
	struct sigaction si = { 0 };
	si.sa_sigaction = on_info;
	si.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &si, NULL);
	sigaction(SIGUSR1, &si, NULL);
}

static void *thread_main(void *arg)
{
	(void)arg;
	return NULL;
}

int main(void)
{
	handlers();
	int p[2];
	pipe(p);
	struct f_owner_ex ex = { 99, 99 };

	/* Defaults. */
	printf("F_GETOWN of a new pipe: %d\n", fcntl(p[0], F_GETOWN));
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("F_GETOWN_EX of a new pipe: type %d pid %d\n", ex.type, ex.pid);
	printf("F_GETSIG of a new pipe: %d\n", fcntl(p[0], F_GETSIG));

	/* Setting the owner. */
	report("F_SETOWN INT_MIN", fcntl(p[0], F_SETOWN, INT_MIN));
	report("F_SETOWN of no such process", fcntl(p[0], F_SETOWN, 99999));
	report("F_SETOWN of no such group", fcntl(p[0], F_SETOWN, -99999));
	report("F_SETOWN_EX of type 3", fcntl(p[0], F_SETOWN_EX, &(struct f_owner_ex){ 3, getpid() }));
	report("F_SETOWN_EX of pid -1", fcntl(p[0], F_SETOWN_EX, &(struct f_owner_ex){ F_OWNER_PID, -1 }));
	report("F_SETOWN_EX from a bad pointer", fcntl(p[0], F_SETOWN_EX, (void *)8));
	report("F_SETSIG 65", fcntl(p[0], F_SETSIG, 65));
	report("F_SETSIG -1", fcntl(p[0], F_SETSIG, -1));
	report("F_SETSIG 64", fcntl(p[0], F_SETSIG, 64));
	fcntl(p[0], F_SETSIG, 0);
	setpgid(0, 0);
	fcntl(p[0], F_SETOWN, -getpgrp());
	printf("F_GETOWN after F_SETOWN(-pgrp) is -pgrp: %s\n", fcntl(p[0], F_GETOWN) == -getpgrp() ? "yes" : "no");
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("F_GETOWN_EX: type %d, pid is pgrp: %s\n", ex.type, ex.pid == getpgrp() ? "yes" : "no");
	report("F_SETOWN_EX F_OWNER_PID self", fcntl(p[0], F_SETOWN_EX, &(struct f_owner_ex){ F_OWNER_PID, getpid() }));
	printf("F_GETOWN is the pid: %s\n", fcntl(p[0], F_GETOWN) == getpid() ? "yes" : "no");

	/* O_ASYNC on a pipe: SIGIO at each write, before write returns. */
	report("F_SETFL O_ASYNC on the read end", fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK));
	printf("F_GETFL has O_ASYNC: %s\n", fcntl(p[0], F_GETFL) & O_ASYNC ? "yes" : "no");
	write(p[1], "a", 1);
	printf("SIGIO after a write: %d\n", sigio_count);
	write(p[1], "b", 1);
	printf("SIGIO after another write: %d\n", sigio_count);
	char buf[16];
	read(p[0], buf, sizeof buf);
	printf("SIGIO after reading (the read end's owner): %d\n", sigio_count);

	/* F_SETSIG: the signal carries the fd, the event and its band. */
	fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
	printf("F_GETSIG: %s\n", fcntl(p[0], F_GETSIG) == SIGRTMIN + 1 ? "SIGRTMIN+1" : "other");
	write(p[1], "c", 1);
	show_info("write with F_SETSIG", p[0]);
	read(p[0], buf, sizeof buf);
	fcntl(p[1], F_SETOWN, getpid());
	fcntl(p[1], F_SETSIG, SIGRTMIN + 1);
	fcntl(p[1], F_SETFL, O_ASYNC);
	write(p[1], "d", 1);
	show_info("a write, the write end watched too", p[0]);
	read(p[0], buf, sizeof buf);
	show_info("a read, for the write end", p[1]);
	fcntl(p[1], F_SETFL, 0);
	fcntl(p[0], F_SETSIG, SIGUSR1);
	write(p[1], "e", 1);
	show_info("F_SETSIG SIGUSR1", p[0]);
	read(p[0], buf, sizeof buf);
	/* A signal with codes of its own carries SI_SIGIO. */
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	fcntl(p[0], F_SETSIG, SIGSEGV);
	write(p[1], "f", 1);
	show_info("F_SETSIG SIGSEGV", p[0]);
	read(p[0], buf, sizeof buf);
	signal(SIGSEGV, SIG_DFL);
	fcntl(p[0], F_SETSIG, 0);
	report("F_SETFL without O_ASYNC", fcntl(p[0], F_SETFL, O_NONBLOCK));
	int before = sigio_count;
	write(p[1], "g", 1);
	printf("SIGIO after O_ASYNC is off: %d more\n", sigio_count - before);
	read(p[0], buf, sizeof buf);
	/* The last writer's close. */
	fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
	fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
	close(p[1]);
	show_info("the writer closes", p[0]);
	close(p[0]);

	/* A regular file keeps no O_ASYNC. */
	int f = open("/tmp/fasync-file", O_CREAT | O_RDWR, 0600);
	fcntl(f, F_SETFL, O_ASYNC);
	printf("a regular file's F_GETFL has O_ASYNC: %s\n", fcntl(f, F_GETFL) & O_ASYNC ? "yes" : "no");
	int on = 1;
	report("FIOASYNC on a regular file", ioctl(f, FIOASYNC, &on));
	report("F_SETOWN on a regular file", fcntl(f, F_SETOWN, getpid()));
	close(f);
	unlink("/tmp/fasync-file");

	/* Sockets: the owner by ioctl, O_ASYNC by FIOASYNC. */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int pid = getpid();
	report("SIOCSPGRP", ioctl(sv[0], SIOCSPGRP, &pid));
	int got = 0;
	ioctl(sv[0], FIOGETOWN, &got);
	printf("FIOGETOWN is the pid: %s\n", got == pid ? "yes" : "no");
	report("FIOASYNC on", ioctl(sv[0], FIOASYNC, &on));
	printf("F_GETFL has O_ASYNC: %s\n", fcntl(sv[0], F_GETFL) & O_ASYNC ? "yes" : "no");
	fcntl(sv[0], F_SETSIG, SIGRTMIN + 1);
	write(sv[1], "x", 1);
	show_info("data on a socket", sv[0]);
	read(sv[0], buf, sizeof buf);
	int off = 0;
	ioctl(sv[0], FIOASYNC, &off);
	write(sv[1], "y", 1);
	show_info("after FIOASYNC off", sv[0]);
	close(sv[0]);
	close(sv[1]);

	/* A pseudo-terminal's replica. */
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	grantpt(m);
	unlockpt(m);
	int r = open(ptsname(m), O_RDWR | O_NOCTTY);
	fcntl(r, F_SETOWN, getpid());
	fcntl(r, F_SETSIG, SIGRTMIN + 1);
	fcntl(r, F_SETFL, O_ASYNC);
	write(m, "line\n", 5);
	/* The terminal takes its input in asynchronously: wait for it. */
	poll(&(struct pollfd){ .fd = r, .events = POLLIN }, 1, 2000);
	show_info("a line typed on the terminal", r);
	close(r);
	close(m);

	/* A thread owner: the signal is that thread's. */
	pipe(p);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t tid = syscall(SYS_gettid);
	report("F_SETOWN_EX F_OWNER_TID", fcntl(p[0], F_SETOWN_EX, &(struct f_owner_ex){ F_OWNER_TID, tid }));
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("F_GETOWN_EX: type %d, the thread: %s\n", ex.type, ex.pid == tid ? "yes" : "no");
	fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
	fcntl(p[0], F_SETFL, O_ASYNC);
	pthread_t th;
	pthread_create(&th, NULL, thread_main, NULL);
	pthread_join(th, NULL);
	write(p[1], "t", 1);
	sigset_t pending;
	sigpending(&pending);
	printf("pending for the thread: %s\n", sigismember(&pending, SIGRTMIN + 1) ? "yes" : "no");
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int sig = sigtimedwait(&set, &si, &zero);
	printf("sigtimedwait: %s, code %s, si_fd %s\n", sig == SIGRTMIN + 1 ? "SIGRTMIN+1" : "none", code_name(si.si_code),
	       si.si_fd == p[0] ? "the fd" : "another");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	close(p[0]);
	close(p[1]);

	/* The owner's permission: set by uid 65534, it cannot signal root. */
	pipe(p);
	fcntl(p[0], F_SETFL, O_ASYNC);
	fcntl(p[0], F_SETSIG, SIGRTMIN + 1);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		if (setuid(65534) != 0)
			_exit(1);
		fcntl(p[0], F_SETOWN, getppid());
		_exit(0);
	}
	waitpid(child, NULL, 0);
	printf("F_GETOWN is the parent: %s\n", fcntl(p[0], F_GETOWN) == getpid() ? "yes" : "no");
	write(p[1], "u", 1);
	show_info("owner set by uid 65534, the target root", p[0]);
	read(p[0], buf, sizeof buf);
	fcntl(p[0], F_SETOWN, getpid());
	write(p[1], "v", 1);
	show_info("owner set by root", p[0]);
	close(p[0]);
	close(p[1]);

	/* dnotify: F_SETSIG's signal, with the directory's fd; a rename within
	 * the directory is DN_RENAME, a move out of it DN_DELETE. */
	mkdir("/tmp/dn", 0755);
	mkdir("/tmp/dn/sub", 0755);
	close(open("/tmp/dn/a", O_CREAT | O_WRONLY, 0644));
	int d = open("/tmp/dn", O_RDONLY);
	printf("F_GETOWN of a directory: %d\n", fcntl(d, F_GETOWN));
	fcntl(d, F_SETSIG, SIGRTMIN + 1);
	fcntl(d, F_NOTIFY, DN_RENAME | DN_MULTISHOT);
	printf("F_GETOWN after F_NOTIFY is the pid: %s\n", fcntl(d, F_GETOWN) == getpid() ? "yes" : "no");
	rename("/tmp/dn/a", "/tmp/dn/b");
	show_info("DN_RENAME, rename within", d);
	rename("/tmp/dn/b", "/tmp/dn/sub/b");
	show_info("DN_RENAME, move into a subdirectory", d);
	fcntl(d, F_NOTIFY, DN_DELETE | DN_CREATE | DN_MULTISHOT);
	rename("/tmp/dn/sub/b", "/tmp/dn/b");
	show_info("DN_CREATE, a move in", d);
	int sd = open("/tmp/dn/sub", O_RDONLY);
	fcntl(sd, F_SETSIG, SIGRTMIN + 1);
	fcntl(sd, F_NOTIFY, DN_ATTRIB);
	chmod("/tmp/dn/sub", 0700);
	show_info("DN_ATTRIB on the directory itself", sd);
	close(sd);
	close(d);
	unlink("/tmp/dn/b");
	rmdir("/tmp/dn/sub");
	rmdir("/tmp/dn");
	return 0;
}
