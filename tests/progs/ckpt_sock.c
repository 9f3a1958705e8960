/* Sockets across a checkpoint: a TCP listener on the loopback with one
 * accepted connection holding unread data each way and one connection
 * not yet accepted; a Unix stream listener bound to a path with a
 * connection holding data; an abstract-named Unix datagram socket and a
 * UDP socket, each with a datagram from a bound sender queued. The
 * program says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between); then everything queued must still be there, every
 * name must still be bound (new connections reach the listeners, and
 * addresses read back the same), and it prints what it found. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ckpt_wait.h"

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int tcp_connect(int port)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("tcp connect");
	return c;
}

static int unix_connect(const char *path)
{
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, path);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("unix connect");
	return c;
}

static void expect(int fd, const char *what, const char *want)
{
	char buf[64] = { 0 };
	ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
	printf("%s: %s\n", what, n == (ssize_t)strlen(want) && !memcmp(buf, want, n) ? "ok" : buf);
}

static int port_of(int fd, int peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	return ntohs(a.sin_port);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();

	/* TCP on the loopback. */
	int lis = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(lis, (struct sockaddr *)&la, sizeof la) < 0 || listen(lis, 8) < 0)
		die("tcp listen");
	int port = port_of(lis, 0);
	int cli = tcp_connect(port);
	int srv = accept(lis, NULL, NULL);
	if (srv < 0)
		die("accept");
	int cli_port = port_of(cli, 0);
	send(cli, "hello", 5, 0);
	send(srv, "welcome", 7, 0);
	int waiting = tcp_connect(port);
	send(waiting, "pending", 7, 0);

	/* A Unix stream listener on a path. */
	unlink("/tmp/ckpt.sock");
	int ulis = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un ua = { .sun_family = AF_UNIX, .sun_path = "/tmp/ckpt.sock" };
	if (bind(ulis, (struct sockaddr *)&ua, sizeof ua) < 0 || listen(ulis, 4) < 0)
		die("unix listen");
	int ucli = unix_connect("/tmp/ckpt.sock");
	int usrv = accept(ulis, NULL, NULL);
	send(ucli, "over unix", 9, 0);

	/* Abstract Unix datagrams, from a bound sender. */
	int dr = socket(AF_UNIX, SOCK_DGRAM, 0), ds = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un ra = { .sun_family = AF_UNIX }, sa2 = { .sun_family = AF_UNIX };
	memcpy(ra.sun_path, "\0ckpt-recv", 10);
	memcpy(sa2.sun_path, "\0ckpt-send", 10);
	socklen_t rlen = offsetof(struct sockaddr_un, sun_path) + 10;
	if (bind(dr, (struct sockaddr *)&ra, rlen) < 0 || bind(ds, (struct sockaddr *)&sa2, rlen) < 0)
		die("abstract bind");
	sendto(ds, "gram", 4, 0, (struct sockaddr *)&ra, rlen);

	/* UDP on the loopback. */
	int ur = socket(AF_INET, SOCK_DGRAM, 0), us = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(ur, (struct sockaddr *)&la, sizeof la) < 0 || bind(us, (struct sockaddr *)&la, sizeof la) < 0)
		die("udp bind");
	struct sockaddr_in uaddr = { .sin_family = AF_INET, .sin_port = htons(port_of(ur, 0)), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sendto(us, "datagram", 8, 0, (struct sockaddr *)&uaddr, sizeof uaddr);
	int us_port = port_of(us, 0);

	printf("ready\n");
	ckpt_wait_usr1();

	expect(srv, "tcp server reads", "hello");
	expect(cli, "tcp client reads", "welcome");
	printf("tcp addresses kept: %s\n",
	       port_of(cli, 0) == cli_port && port_of(srv, 1) == cli_port && port_of(cli, 1) == port ? "yes" : "no");
	int late = accept(lis, NULL, NULL);
	expect(late, "the connection accepted after the restore reads", "pending");
	int fresh = tcp_connect(port);
	int fresh_srv = accept(lis, NULL, NULL);
	send(fresh, "new", 3, 0);
	expect(fresh_srv, "a new tcp connection to the old listener", "new");

	expect(usrv, "unix server reads", "over unix");
	int ufresh = unix_connect("/tmp/ckpt.sock");
	int ufresh_srv = accept(ulis, NULL, NULL);
	send(ufresh, "again", 5, 0);
	expect(ufresh_srv, "a new unix connection to the old path", "again");

	struct sockaddr_un from;
	socklen_t flen = sizeof from;
	char buf[32] = { 0 };
	ssize_t n = recvfrom(dr, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	printf("abstract datagram: %.*s from %s\n", (int)n, buf,
	       flen == rlen && !memcmp(from.sun_path, "\0ckpt-send", 10) ? "its sender" : "elsewhere");
	sendto(ds, "more", 4, 0, (struct sockaddr *)&ra, rlen);
	expect(dr, "an abstract datagram after the restore", "more");

	struct sockaddr_in uf;
	socklen_t uflen = sizeof uf;
	memset(buf, 0, sizeof buf);
	n = recvfrom(ur, buf, sizeof buf, 0, (struct sockaddr *)&uf, &uflen);
	printf("udp datagram: %.*s from %s\n", (int)n, buf, ntohs(uf.sin_port) == us_port ? "its sender" : "elsewhere");
	sendto(us, "udp again", 9, 0, (struct sockaddr *)&uaddr, sizeof uaddr);
	expect(ur, "a udp datagram after the restore", "udp again");
	return 0;
}
