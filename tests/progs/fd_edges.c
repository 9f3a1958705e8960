/* Edges LTP found: pwrite/pwritev2 on a pipe's read end (ESPIPE before
 * the access mode's EBADF), readahead on an O_PATH fd (EBADF), readlinkat
 * of an empty path through an O_PATH | O_NOFOLLOW fd of a symlink, and
 * sched_setaffinity of another user's process (EPERM). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int p[2];
	if (pipe(p) != 0)
		return 2;
	struct iovec v = { .iov_base = "x", .iov_len = 1 };
	printf("pwritev2 on a pipe's read end: %s\n", err(pwritev2(p[0], &v, 1, 0, 0)));
	printf("pwrite on it: %s\n", err(pwrite(p[0], "x", 1, 0)));
	char b;
	printf("pread on the write end: %s\n", err(pread(p[1], &b, 1, 0)));
	symlink("target-of-link", "/tmp/lnk");
	int o = open("/tmp/lnk", O_PATH | O_NOFOLLOW);
	char buf[64] = { 0 };
	long n = readlinkat(o, "", buf, sizeof(buf));
	printf("readlinkat(O_PATH fd, \"\"): %s [%s]\n", err(n), n > 0 ? buf : "");
	printf("readahead on an O_PATH fd: %s\n", err(readahead(o, 0, 4096)));
	int f = open("/tmp", O_PATH | O_DIRECTORY);
	printf("readlinkat(a directory's O_PATH fd, \"\"): %s\n", err(readlinkat(f, "", buf, sizeof(buf))));
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	printf("splice from a directory: %s\n", err(splice(dir, NULL, p[1], NULL, 16, 0)));
	unlink("/tmp/lnk");
	pid_t c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	pid_t u = fork();
	if (u == 0) {
		if (setuid(65534) != 0)
			_exit(3);
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		printf("sched_setaffinity of root's process as uid 65534: %s\n",
		       err(sched_setaffinity(c, sizeof(set), &set)));
		_exit(0);
	}
	waitpid(u, NULL, 0);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	return 0;
}
