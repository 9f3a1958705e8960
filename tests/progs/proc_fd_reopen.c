/* Opening /proc/self/fd/N (and a symlink to it, as /dev/stdin is) opens the
 * file the descriptor has, whatever its link text says, as Linux's magic
 * links do: a pipe's end, a deleted file, a file renamed since; a socket
 * gives ENXIO, a closed descriptor ENOENT. */
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return open(path, flags);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int p[2];
	pipe(p);
	write(p[1], "through the pipe", 16);
	int r = reopen(p[0], O_RDONLY);
	char buf[64] = "";
	ssize_t n = read(r, buf, sizeof buf);
	printf("a pipe's read end, reopened: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	int w = reopen(p[1], O_WRONLY);
	write(w, "again", 5);
	n = read(p[0], buf, sizeof buf);
	printf("its write end, reopened: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	close(r);
	close(w);

	/* A symlink to /proc/self/fd/0 (what /dev/stdin is) in a child whose
	 * stdin is a pipe. */
	symlink("/proc/self/fd/0", "/tmp/stdin");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[0], 0);
		int in = open("/tmp/stdin", O_RDONLY);
		char b[16] = "";
		ssize_t k = read(in, b, sizeof b);
		printf("stdin by the link in a child: %zd '%.*s'\n", k, (int)(k > 0 ? k : 0), b);
		_exit(in >= 0 && k == 3 ? 0 : 1);
	}
	write(p[1], "3\n!", 3);
	int st;
	waitpid(pid, &st, 0);
	printf("the child: %s\n", status_str(st));

	int fd = open("/tmp/gone", O_CREAT | O_RDWR, 0600);
	write(fd, "kept", 4);
	unlink("/tmp/gone");
	int again = reopen(fd, O_RDONLY);
	n = read(again, buf, sizeof buf);
	printf("a deleted file, reopened: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	int f2 = open("/tmp/old-name", O_CREAT | O_RDWR, 0600);
	write(f2, "moved", 5);
	rename("/tmp/old-name", "/tmp/new-name");
	int moved = reopen(f2, O_RDONLY);
	n = read(moved, buf, sizeof buf);
	printf("a renamed file, reopened: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	unlink("/tmp/new-name");

	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	report("a socket, reopened", reopen(sv[0], O_RDWR));
	report("a closed descriptor", reopen(999, O_RDONLY));
	printf("done\n");
	return 0;
}
