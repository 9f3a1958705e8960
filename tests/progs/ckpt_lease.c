/* A file lease and a directory notification across a checkpoint: a read
 * lease on /tmp/ckpt-lease (its break signal set to SIGRTMIN+2), and
 * F_NOTIFY for creations in /tmp/ckpt-dn, multishot, with SIGRTMIN+3. The
 * program says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between). Then F_GETLEASE still says F_RDLCK, a child's
 * non-blocking open for writing is refused (EWOULDBLOCK) and breaks the
 * lease (its signal comes, with the fd, and F_GETLEASE says F_UNLCK), the
 * child's open succeeds once the lease is let go, and a file made in the
 * directory twice brings the directory's signal twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define FILE_PATH "/tmp/ckpt-lease"
#define DIR_PATH "/tmp/ckpt-dn"

static volatile sig_atomic_t lease_fd = -1, dir_signals, dir_fd_seen = -1;

static void on_lease(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	lease_fd = si->si_fd;
}

static void on_dir(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	dir_signals++;
	dir_fd_seen = si->si_fd;
}

static const char *lease_name(int l)
{
	return l == F_RDLCK ? "F_RDLCK" : l == F_WRLCK ? "F_WRLCK" : l == F_UNLCK ? "F_UNLCK" : "?";
}

static int child_open(void)
{
	pid_t c = fork();
	if (c == 0) {
		int fd = open(FILE_PATH, O_WRONLY | O_NONBLOCK);
		_exit(fd >= 0 ? 0 : errno == EWOULDBLOCK ? 11 : 1);
	}
	int status;
	waitpid(c, &status, 0);
	return WEXITSTATUS(status);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_sigaction = on_lease, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigaction(SIGRTMIN + 2, &sa, NULL);
	sa.sa_sigaction = on_dir;
	sigaction(SIGRTMIN + 3, &sa, NULL);
	unlink(FILE_PATH);
	unlink(DIR_PATH "/a");
	unlink(DIR_PATH "/b");
	rmdir(DIR_PATH);
	int w = open(FILE_PATH, O_CREAT | O_WRONLY, 0644);
	if (w < 0 || mkdir(DIR_PATH, 0755) != 0)
		return 2;
	close(w);
	int fd = open(FILE_PATH, O_RDONLY);
	int dir = open(DIR_PATH, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || dir < 0 || fcntl(fd, F_SETSIG, SIGRTMIN + 2) != 0 || fcntl(fd, F_SETLEASE, F_RDLCK) != 0 ||
	    fcntl(dir, F_SETSIG, SIGRTMIN + 3) != 0 || fcntl(dir, F_NOTIFY, DN_CREATE | DN_MULTISHOT) != 0) {
		perror("lease or notify");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	printf("the lease: %s\n", lease_name(fcntl(fd, F_GETLEASE)));
	int r = child_open();
	printf("a writer's open: %s\n", r == 11 ? "EWOULDBLOCK" : r == 0 ? "opened" : "failed");
	for (int tries = 0; tries < 2000 && lease_fd < 0; tries++)
		usleep(1000);
	printf("the break's signal: %s\n", lease_fd == fd ? "with the lease's fd" : "missing");
	printf("the lease while it breaks: %s\n", lease_name(fcntl(fd, F_GETLEASE)));
	fcntl(fd, F_SETLEASE, F_UNLCK);
	printf("a writer's open once let go: %s\n", child_open() == 0 ? "opened" : "refused");

	close(open(DIR_PATH "/a", O_CREAT | O_WRONLY, 0644));
	close(open(DIR_PATH "/b", O_CREAT | O_WRONLY, 0644));
	for (int tries = 0; tries < 2000 && dir_signals < 2; tries++)
		usleep(1000);
	printf("the directory's signals: %d, with its fd: %s\n", (int)dir_signals, dir_fd_seen == dir ? "yes" : "no");
	unlink(DIR_PATH "/a");
	unlink(DIR_PATH "/b");
	rmdir(DIR_PATH);
	unlink(FILE_PATH);
	return 0;
}
