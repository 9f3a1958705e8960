/* A TCP connection to a server outside the sandbox across a checkpoint:
 * connected and echoed once, then "ready" and a wait for SIGUSR1 (a
 * checkpoint and a restore come in between). A restore cannot bring such
 * a connection back, so, as gVisor's does, it brings it back reset: the
 * next receive fails with ECONNRESET, a send with EPIPE, and the socket
 * has no peer. A new connection to the server works. The server is
 * $NAT_SERVER, port 9000 (an echo server). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt_wait.h"

static int dial(void)
{
	const char *server = getenv("NAT_SERVER");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9000) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (!server || inet_pton(AF_INET, server, &a.sin_addr) != 1 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		exit(2);
	}
	return s;
}

static const char *echo(int s)
{
	char buf[8];
	if (send(s, "ping", 4, MSG_NOSIGNAL) != 4)
		return strerror(errno);
	ssize_t n = recv(s, buf, sizeof buf, 0);
	return n == 4 && !memcmp(buf, "ping", 4) ? "echoed" : n < 0 ? strerror(errno) : "short";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int s = dial();
	printf("before: %s\n", echo(s));
	printf("ready\n");
	ckpt_wait_usr1();
	char buf[8];
	ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
	printf("after: recv %s\n", n < 0 ? strerror(errno) : "got data");
	n = send(s, "x", 1, MSG_NOSIGNAL);
	printf("after: send %s\n", n < 0 ? strerror(errno) : "sent");
	struct sockaddr_in peer;
	socklen_t len = sizeof peer;
	printf("after: getpeername %s\n", getpeername(s, (struct sockaddr *)&peer, &len) < 0 ? strerror(errno) : "ok");
	int again = dial();
	printf("a new connection: %s\n", echo(again));
	return 0;
}
