/* Internet sockets on the loopback: TCP (bind, ephemeral ports, listen,
 * connect, accept, names, data both ways, shutdown and EOF, a reset on
 * close with unread data, non-blocking accept, epoll), UDP (sendto and
 * recvfrom with names, connect, lost datagrams), IPv6 and dual stack,
 * the bind rules (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY),
 * options, and the errors. Only loopback addresses: off the sandbox,
 * connect and bind fail. Ports are never printed (they are ephemeral). */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

static struct sockaddr_in v4(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static struct sockaddr_in6 v6(const char *ip, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return a;
}

/* The port a socket is bound to. */
static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A name as text, without its port: "AF_INET 127.0.0.1 (len 16)". */
static const char *name_str(struct sockaddr_storage *ss, socklen_t len)
{
	static char out[128];
	char ip[64] = "?";
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
	snprintf(out, sizeof out, "%s %s (len %u)", ss->ss_family == AF_INET ? "AF_INET" : "AF_INET6", ip, len);
	return out;
}

/* A listening TCP socket on 127.0.0.1 and an ephemeral port. */
static int listener4(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = v4("127.0.0.1", 0);
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8))
		return -1;
	return s;
}

static int connect4(int port)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = v4("127.0.0.1", port);
	return connect(c, (struct sockaddr *)&a, sizeof a) ? -1 : c;
}

static void tcp(void)
{
	int l = listener4();
	CHECK("tcp: listen on an ephemeral port", l >= 0 && port_of(l) >= 32768 && port_of(l) <= 60999);
	int port = port_of(l);
	int c = connect4(port);
	CHECK("tcp: connect", c >= 0);
	CHECK("tcp: the client got an ephemeral port", port_of(c) >= 32768 && port_of(c) != port);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	int s = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	CHECK("tcp: accept4", s >= 0 && fcntl(s, F_GETFD) == FD_CLOEXEC);
	printf("tcp: accepted from %s\n", name_str(&peer, plen));
	CHECK("tcp: the peer's port is the client's", ntohs(((struct sockaddr_in *)&peer)->sin_port) == port_of(c));
	CHECK("tcp: the accepted socket's port is the listener's", port_of(s) == port);
	plen = sizeof peer;
	getpeername(c, (struct sockaddr *)&peer, &plen);
	printf("tcp: the client's peer: %s\n", name_str(&peer, plen));

	char buf[64] = "";
	send(c, "hello", 5, 0);
	ssize_t n = recv(s, buf, sizeof buf, 0);
	printf("tcp: server got %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	send(s, "world!", 6, 0);
	n = recv(c, buf, sizeof buf, MSG_PEEK);
	printf("tcp: client peeked %zd\n", n);
	n = recv(c, buf, sizeof buf, 0);
	printf("tcp: client got %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);

	int one = 1, val = -1;
	socklen_t vlen = sizeof val;
	report("tcp: TCP_NODELAY on", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
	getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &val, &vlen);
	printf("tcp: TCP_NODELAY reads %d\n", val);
	getsockopt(c, SOL_SOCKET, SO_PROTOCOL, &val, &vlen);
	printf("tcp: SO_PROTOCOL %d\n", val);
	getsockopt(c, SOL_SOCKET, SO_DOMAIN, &val, &vlen);
	printf("tcp: SO_DOMAIN %d\n", val);
	getsockopt(c, IPPROTO_IP, IP_TTL, &val, &vlen);
	printf("tcp: IP_TTL %d\n", val);
	/* Levels TCP does not handle go down to IP, which refuses them:
	 * differently for get and set. Unknown names are ENOPROTOOPT. */
	report("tcp: recv(MSG_OOB) with no urgent data", recv(c, buf, sizeof buf, MSG_OOB | MSG_DONTWAIT));
	report("tcp: getsockopt at level 500", getsockopt(c, 500, 1, &val, &vlen));
	report("tcp: getsockopt at IPPROTO_UDP", getsockopt(c, IPPROTO_UDP, 1, &val, &vlen));
	report("tcp: setsockopt at level 500", setsockopt(c, 500, 1, &one, sizeof one));
	report("tcp: getsockopt of IP option -1", getsockopt(c, IPPROTO_IP, -1, &val, &vlen));
	report("tcp: setsockopt of TCP option -1", setsockopt(c, IPPROTO_TCP, -1, &one, sizeof one));

	shutdown(c, SHUT_WR);
	n = recv(s, buf, sizeof buf, 0);
	printf("tcp: after the client's SHUT_WR the server reads %zd\n", n);
	send(s, "bye", 3, 0);
	n = recv(c, buf, sizeof buf, 0);
	printf("tcp: the client still reads %zd\n", n);
	close(s);
	n = recv(c, buf, sizeof buf, 0);
	printf("tcp: after the server closed: %zd\n", n);
	close(c);

	/* CLOSE_WAIT: one more send goes out; the reset makes the next fail. */
	c = connect4(port);
	s = accept(l, NULL, NULL);
	close(s);
	n = recv(c, buf, sizeof buf, 0);
	printf("tcp: EOF after the peer closed: %zd\n", n);
	report("tcp: a send after the peer closed", send(c, "x", 1, MSG_NOSIGNAL));
	sleep_ms(20);
	report("tcp: and another", send(c, "x", 1, MSG_NOSIGNAL));
	close(c);

	/* A close with data unread resets the connection. */
	c = connect4(port);
	s = accept(l, NULL, NULL);
	send(c, "unread", 6, 0);
	sleep_ms(50);
	close(s);
	n = recv(c, buf, sizeof buf, 0);
	printf("tcp: recv after the peer closed with data unread: %s\n", n < 0 ? errname(errno) : "data");
	close(c);

	/* SO_LINGER on with 0 s: close resets at once. The peer is no longer
	 * connected (getpeername), yet reads what arrived, then ECONNRESET. */
	c = connect4(port);
	s = accept(l, NULL, NULL);
	struct linger zero = { 1, 0 };
	setsockopt(c, SOL_SOCKET, SO_LINGER, &zero, sizeof zero);
	send(c, "DATA", 4, 0);
	sleep_ms(20);
	close(c);
	sleep_ms(20);
	struct sockaddr_in gone;
	socklen_t gl = sizeof gone;
	report("tcp: getpeername after a linger-0 close", getpeername(s, (struct sockaddr *)&gone, &gl));
	n = recv(s, buf, sizeof buf, 0);
	printf("tcp: then recv %zd\n", n);
	report("tcp: and recv again", recv(s, buf, sizeof buf, 0));
	close(s);

	/* Non-blocking accept, then epoll sees the connection. */
	fcntl(l, F_SETFL, O_NONBLOCK);
	report("tcp: non-blocking accept with none waiting", accept(l, NULL, NULL));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	c = connect4(port);
	struct epoll_event got;
	int k = epoll_wait(ep, &got, 1, 1000);
	printf("tcp: epoll on the listener: %d, data %u\n", k, k > 0 ? got.data.u32 : 0);
	s = accept(l, NULL, NULL);
	CHECK("tcp: then accept", s >= 0);
	close(s);
	close(c);
	close(ep);

	/* A non-blocking connect is under way, then done: writable, SO_ERROR 0. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = v4("127.0.0.1", port);
	report("tcp: non-blocking connect", connect(c, (struct sockaddr *)&to, sizeof to));
	struct pollfd pw = { .fd = c, .events = POLLOUT };
	poll(&pw, 1, 1000);
	int err = -1;
	socklen_t elen = sizeof err;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen);
	printf("tcp: then POLLOUT %d, SO_ERROR %d\n", !!(pw.revents & POLLOUT), err);
	report("tcp: connect again", connect(c, (struct sockaddr *)&to, sizeof to));
	s = accept(l, NULL, NULL);
	close(s);
	close(c);

	/* The bind rules. */
	int b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = v4("127.0.0.1", port);
	report("bind: the listener's port", bind(b, (struct sockaddr *)&a, sizeof a));
	setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	report("bind: the listener's port with SO_REUSEADDR", bind(b, (struct sockaddr *)&a, sizeof a));
	a = v4("0.0.0.0", port);
	report("bind: the any address on the listener's port", bind(b, (struct sockaddr *)&a, sizeof a));
	a = v4("127.0.0.2", port);
	report("bind: another loopback address on that port", bind(b, (struct sockaddr *)&a, sizeof a));
	report("bind: again", bind(b, (struct sockaddr *)&a, sizeof a));
	close(b);
	close(l);

	int r1 = socket(AF_INET, SOCK_STREAM, 0), r2 = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(r1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(r2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	a = v4("127.0.0.1", 0);
	bind(r1, (struct sockaddr *)&a, sizeof a);
	a = v4("127.0.0.1", port_of(r1));
	report("bind: SO_REUSEPORT on both", bind(r2, (struct sockaddr *)&a, sizeof a));
	close(r1);
	close(r2);

	/* Errors. */
	b = socket(AF_INET, SOCK_STREAM, 0);
	a = v4("10.1.2.3", 0);
	report("bind: an address that is not the sandbox's", bind(b, (struct sockaddr *)&a, sizeof a));
	report("bind: a short address", bind(b, (struct sockaddr *)&a, 8));
	struct sockaddr_in6 six = v6("::1", 0);
	report("bind: an IPv6 address on an IPv4 socket", bind(b, (struct sockaddr *)&six, sizeof six));
	a = v4("127.0.0.1", port);
	report("connect: nobody listening", connect(b, (struct sockaddr *)&a, sizeof a));
	close(b);
	b = socket(AF_INET, SOCK_STREAM, 0);
	a = v4("10.1.2.3", 80);
	report("connect: off the sandbox", connect(b, (struct sockaddr *)&a, sizeof a));
	close(b);
	report("socket(AF_INET, SOCK_STREAM, IPPROTO_UDP)", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	report("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){ 0 }));
	b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	getsockname(b, (struct sockaddr *)&ss, &slen);
	printf("getsockname unbound: %s, port %d\n", name_str(&ss, slen), port_of(b));
	report("getpeername unconnected", getpeername(b, (struct sockaddr *)&ss, &slen));
	close(b);
}

static void udp(void)
{
	int r = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = v4("127.0.0.1", 0);
	bind(r, (struct sockaddr *)&a, sizeof a);
	int port = port_of(r);
	report("udp: accept", accept(r, NULL, NULL));
	{
		static char big[65508];
		struct sockaddr_in to = v4("127.0.0.1", port);
		report("udp: a 65508-byte datagram", sendto(r, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to));
		report("udp: a 65507-byte one", sendto(r, big, sizeof big - 1, 0, (struct sockaddr *)&to, sizeof to));
		char tmp[8];
		while (recv(r, tmp, sizeof tmp, MSG_DONTWAIT) > 0)
			;
		struct sockaddr_in nobody = v4("127.0.0.1", 9);
		report("udp: a bad buffer to a port nobody has", sendto(r, (void *)8, 16, 0, (struct sockaddr *)&nobody, sizeof nobody));
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	a = v4("127.0.0.1", port);
	ssize_t n = sendto(s, "ping", 4, 0, (struct sockaddr *)&a, sizeof a);
	printf("udp: sendto %zd\n", n);
	CHECK("udp: the sender got a port", port_of(s) >= 32768);
	char buf[64];
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	n = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	printf("udp: recvfrom %zd '%.*s' from %s\n", n, (int)(n > 0 ? n : 0), buf, name_str(&from, flen));
	CHECK("udp: from the sender's port", ntohs(((struct sockaddr_in *)&from)->sin_port) == port_of(s));
	n = sendto(r, "pong", 4, 0, (struct sockaddr *)&from, flen);
	n = recv(s, buf, sizeof buf, 0);
	printf("udp: the reply %zd\n", n);
	n = sendto(s, "0123456789", 10, 0, (struct sockaddr *)&a, sizeof a);
	n = recv(r, buf, 4, 0);
	printf("udp: a datagram read into 4 bytes: %zd\n", n);
	report("udp: nothing more", recv(r, buf, sizeof buf, MSG_DONTWAIT));
	close(r);
	/* Nothing bound there now: the datagram is lost, the send succeeds. */
	n = sendto(s, "lost", 4, 0, (struct sockaddr *)&a, sizeof a);
	printf("udp: sendto a port nobody has: %zd\n", n);
	close(s);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	report("udp: connect", connect(c, (struct sockaddr *)&a, sizeof a));
	report("udp: send on it", send(c, "x", 1, 0));
	/* The port unreachable that came back is the next call's error. */
	sleep_ms(20);
	report("udp: then recv", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	report("udp: then recv again", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	close(c);
}

static void ipv6(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = v6("::", 0);
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 4);
	int port = port_of(l);
	/* Dual stack: an IPv4 client reaches the IPv6 wildcard listener. */
	int c = connect4(port);
	CHECK("ipv6: an IPv4 client reaches [::]", c >= 0);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	int s = accept(l, (struct sockaddr *)&peer, &plen);
	printf("ipv6: accepted from %s\n", name_str(&peer, plen));
	close(s);
	close(c);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 to = v6("::1", port);
	report("ipv6: connect to ::1", connect(c, (struct sockaddr *)&to, sizeof to));
	plen = sizeof peer;
	s = accept(l, (struct sockaddr *)&peer, &plen);
	printf("ipv6: accepted from %s\n", name_str(&peer, plen));
	send(c, "six", 3, 0);
	char buf[8];
	ssize_t n = recv(s, buf, sizeof buf, 0);
	printf("ipv6: got %zd\n", n);
	close(s);
	close(c);
	close(l);

	/* IPV6_V6ONLY keeps IPv4 out; then IPv4 may bind the same port. */
	int one = 1;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	a = v6("::", 0);
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 4);
	port = port_of(l);
	report("ipv6: IPv4 connect to a V6ONLY listener", connect4(port));
	int b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a4 = v4("0.0.0.0", port);
	report("ipv6: IPv4 bind beside a V6ONLY socket", bind(b, (struct sockaddr *)&a4, sizeof a4));
	close(b);
	close(l);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	to = v6("2001:db8::1", 80);
	report("ipv6: connect off the sandbox", connect(c, (struct sockaddr *)&to, sizeof to));
	close(c);
}

/* A child process serves one connection: the usual fork server. */
/* UDP-Lite (IPPROTO_UDPLITE): datagrams as UDP's, its protocol number,
 * and its checksum-coverage options. */
static void udplite(void)
{
	int a = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE), b = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	report("udplite: socket", a);
	struct sockaddr_in any = v4("127.0.0.1", 0);
	bind(b, (struct sockaddr *)&any, sizeof any);
	struct sockaddr_in to = v4("127.0.0.1", port_of(b));
	int cov = 20, got = -1, proto = -1;
	socklen_t len = sizeof got;
	report("udplite: UDPLITE_SEND_CSCOV", setsockopt(a, IPPROTO_UDPLITE, 10, &cov, sizeof cov));
	getsockopt(a, IPPROTO_UDPLITE, 10, &got, &len);
	len = sizeof proto;
	getsockopt(a, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	printf("udplite: coverage %d, SO_PROTOCOL %d\n", got, proto);
	sendto(a, "lite", 4, 0, (struct sockaddr *)&to, sizeof to);
	char buf[8];
	long n = recv(b, buf, sizeof buf, 0);
	printf("udplite: received %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	report("udplite: a UDPLITE option on UDP", setsockopt(socket(AF_INET, SOCK_DGRAM, 0), IPPROTO_UDPLITE, 10, &cov, sizeof cov));
	close(a);
	close(b);
}

static void across_fork(void)
{
	int l = listener4();
	int port = port_of(l);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int s = accept(l, NULL, NULL);
		char buf[16];
		ssize_t n = recv(s, buf, sizeof buf, MSG_WAITALL);
		send(s, buf, n, 0);
		_exit(n == 16 ? 0 : 1);
	}
	close(l);
	int c = connect4(port);
	char out[16] = "0123456789abcdef", in[16];
	send(c, out, 8, 0);
	sleep_ms(20);
	send(c, out + 8, 8, 0);
	ssize_t n = recv(c, in, sizeof in, MSG_WAITALL);
	CHECK("fork server: the echo", n == 16 && !memcmp(in, out, 16));
	int st;
	waitpid(pid, &st, 0);
	printf("fork server: %s\n", status_str(st));
	close(c);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	tcp();
	udp();
	ipv6();
	udplite();
	across_fork();
	printf("done\n");
	return 0;
}
