/* Internet sockets to a server outside the sandbox (`--network nat`): run
 * natively from the host and under Husk against the same servers in a
 * test network namespace, and compared. NAT_SERVER names the server's
 * address; it runs a TCP echo server on port 9000, a UDP echo server on
 * 9001, a DNS server on 53 (UDP), and nothing on 9002 (natively refused; under Husk the egress
 * policy does not name it, so it is refused there too). Addresses on the
 * client's side differ (the host's veth, or the sandbox's 10.0.2.15), so
 * only their family and whether the port is set are printed.
 * `nat_client connect PORT` makes one blocking TCP connect. */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static struct sockaddr_in server(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	const char *ip = getenv("NAT_SERVER");
	if (!ip || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		printf("NAT_SERVER: bad (unset or not an IPv4 address)\n");
		exit(1);
	}
	return a;
}

static int tcp_to(int port, int flags)
{
	struct sockaddr_in a = server(port);
	int s = socket(AF_INET, SOCK_STREAM | flags, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof a) == -1 && errno != EINPROGRESS) {
		printf("connect to %d: %s\n", port, errname(errno));
		return -1;
	}
	return s;
}

static void names(const char *label, int s)
{
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	getsockname(s, (struct sockaddr *)&me, &ml);
	int r = getpeername(s, (struct sockaddr *)&peer, &pl);
	struct sockaddr_in want = server(9000);
	printf("%s: local AF_INET %d, port set %d; peer %s, the server %d\n", label, me.sin_family == AF_INET,
	       me.sin_port != 0, r == 0 ? "known" : errname(errno), r == 0 && peer.sin_addr.s_addr == want.sin_addr.s_addr);
}

/* Reads exactly n bytes (a blocking socket). */
static long read_n(int s, char *buf, long n)
{
	long got = 0;
	while (got < n) {
		long r = read(s, buf + got, n - got);
		if (r <= 0)
			return got;
		got += r;
	}
	return got;
}

static void tcp_basics(void)
{
	int s = tcp_to(9000, 0);
	if (s < 0)
		return;
	names("tcp", s);
	CHECK("tcp: send", send(s, "hello", 5, 0) == 5);
	char buf[64] = { 0 };
	CHECK("tcp: echo", read_n(s, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
	send(s, "abcdef", 6, 0);
	int n = recv(s, buf, 3, MSG_PEEK | MSG_WAITALL);
	printf("tcp: peek %d '%.*s'\n", n, n, buf);
	int avail = 0;
	ioctl(s, FIONREAD, &avail);
	printf("tcp: FIONREAD at least 3: %d\n", avail >= 3);
	n = recv(s, buf, 6, MSG_WAITALL);
	printf("tcp: waitall %d '%.*s'\n", n, n, buf);
	n = recv(s, buf, 6, MSG_DONTWAIT);
	printf("tcp: recv MSG_DONTWAIT with nothing there: %s\n", n == -1 ? errname(errno) : "data");
	int one = 1;
	report("tcp: setsockopt TCP_NODELAY", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
	report("tcp: shutdown SHUT_WR", shutdown(s, SHUT_WR));
	printf("tcp: then read %ld (the server closes after EOF)\n", (long)read(s, buf, sizeof buf));
	report("tcp: send after SHUT_WR", send(s, "x", 1, MSG_NOSIGNAL));
	close(s);
}

static void tcp_nonblocking(void)
{
	int s = tcp_to(9000, SOCK_NONBLOCK);
	struct pollfd p = { .fd = s, .events = POLLOUT };
	int r = poll(&p, 1, 10000);
	int err = -1;
	socklen_t el = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
	printf("nonblocking: poll %d POLLOUT %d, SO_ERROR %s\n", r, !!(p.revents & POLLOUT), errname(err));
	struct sockaddr_in a = server(9000);
	int c1 = connect(s, (struct sockaddr *)&a, sizeof a);
	int e1 = errno;
	int c2 = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("nonblocking: connect again %s, and again %s\n", c1 == 0 ? "0" : errname(e1), c2 == 0 ? "0" : errname(errno));
	close(s);
}

static void refused(void)
{
	int s = tcp_to(9002, 0);
	if (s >= 0)
		printf("refused: bad (connected)\n");
	s = tcp_to(9002, SOCK_NONBLOCK);
	struct pollfd p = { .fd = s, .events = POLLOUT };
	poll(&p, 1, 10000);
	int err = -1;
	socklen_t el = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
	printf("refused, non-blocking: POLLOUT %d POLLERR %d, SO_ERROR %s\n", !!(p.revents & POLLOUT),
	       !!(p.revents & POLLERR), errname(err));
	close(s);
}

/* A megabyte through the echo server with one non-blocking socket and
 * poll: both directions fill and drain, so reads and writes would block. */
static void bulk(void)
{
	enum { TOTAL = 1 << 20 };
	static char out[TOTAL], in[TOTAL];
	for (int i = 0; i < TOTAL; i++)
		out[i] = (char)(i * 7 + i / 4096);
	int s = tcp_to(9000, SOCK_NONBLOCK);
	long sent = 0, got = 0;
	while (got < TOTAL) {
		struct pollfd p = { .fd = s, .events = POLLIN | (sent < TOTAL ? POLLOUT : 0) };
		if (poll(&p, 1, 10000) <= 0)
			break;
		if (p.revents & POLLOUT) {
			long n = send(s, out + sent, TOTAL - sent, 0);
			if (n > 0)
				sent += n;
		}
		if (p.revents & POLLIN) {
			long n = recv(s, in + got, TOTAL - got, 0);
			if (n <= 0)
				break;
			got += n;
		}
	}
	printf("bulk: %ld of %d bytes echoed, intact %d\n", got, TOTAL, got == TOTAL && memcmp(in, out, TOTAL) == 0);
	close(s);
}

/* Edge-triggered epoll: readiness comes again after a read drained it. */
static void epoll_edges(void)
{
	int s = tcp_to(9000, SOCK_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = s };
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	struct epoll_event got;
	int n = epoll_wait(ep, &got, 1, 10000);
	printf("epoll: connected %d EPOLLOUT %d\n", n, n == 1 && (got.events & EPOLLOUT));
	for (int round = 0; round < 3; round++) {
		send(s, "ping", 4, 0);
		int in = 0;
		for (int tries = 0; tries < 5 && !in; tries++) {
			n = epoll_wait(ep, &got, 1, 10000);
			in = n == 1 && (got.events & EPOLLIN);
		}
		char buf[16];
		long total = 0, r;
		while ((r = recv(s, buf, sizeof buf, 0)) > 0)
			total += r;
		printf("epoll: round %d EPOLLIN %d, read %ld then %s\n", round, in, total, errname(errno));
	}
	close(ep);
	close(s);
}

static void udp(void)
{
	struct sockaddr_in a = server(9001);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	report("udp: connect", connect(u, (struct sockaddr *)&a, sizeof a));
	send(u, "ping", 4, 0);
	char buf[16];
	struct pollfd p = { .fd = u, .events = POLLIN };
	poll(&p, 1, 10000);
	int n = recv(u, buf, 2, MSG_TRUNC);
	printf("udp: echo, MSG_TRUNC %d '%.*s'\n", n, n < 2 ? n : 2, buf);
	close(u);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	report("udp: sendto unconnected", sendto(u, "pong", 4, 0, (struct sockaddr *)&a, sizeof a));
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	p.fd = u;
	poll(&p, 1, 10000);
	n = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	printf("udp: recvfrom %d '%.*s' from the server %d port %d\n", n, n > 0 ? n : 0, buf,
	       from.sin_addr.s_addr == a.sin_addr.s_addr, ntohs(from.sin_port));
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	report("udp: getpeername of the unconnected socket", getpeername(u, (struct sockaddr *)&peer, &pl));
	close(u);
}

/* A DNS query (id 0x4b21) for NAME's A record, as the test's DNS server
 * on port 53 answers it; its length. */
static int dns_query(unsigned char *q)
{
	static const unsigned char head[12] = { 0x4b, 0x21, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const char name[] = "\3pkg\4husk\4test";
	memcpy(q, head, sizeof head);
	memcpy(q + 12, name, sizeof name);
	int n = 12 + sizeof name;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	return n;
}

/* One unconnected UDP socket talking to two outside peers (the echo
 * server and the DNS server), then connected to one: Linux still sends
 * to the other by address, but hears only the connected peer. */
static void udp_peers(void)
{
	struct sockaddr_in echo = server(9001), dns = server(53);
	unsigned char q[64], buf[512];
	int qn = dns_query(q);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	report("udp peers: sendto echo", sendto(u, "one", 3, 0, (struct sockaddr *)&echo, sizeof echo));
	report("udp peers: sendto dns", sendto(u, q, qn, 0, (struct sockaddr *)&dns, sizeof dns));
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	getsockname(u, (struct sockaddr *)&me, &ml);
	printf("udp peers: local port set %d, any address %d\n", me.sin_port != 0, me.sin_addr.s_addr == htonl(INADDR_ANY));
	/* Two replies, in either order: printed by their sender. */
	int heard_echo = 0, heard_dns = 0;
	for (int i = 0; i < 2; i++) {
		struct pollfd p = { .fd = u, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1) {
			printf("udp peers: a reply missing\n");
			break;
		}
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		int n = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
		if (from.sin_addr.s_addr != echo.sin_addr.s_addr)
			printf("udp peers: a reply from elsewhere\n");
		else if (ntohs(from.sin_port) == 9001)
			heard_echo = n == 3 && memcmp(buf, "one", 3) == 0;
		else if (ntohs(from.sin_port) == 53)
			heard_dns = n > 12 && buf[0] == 0x4b && buf[1] == 0x21 && ((buf[6] << 8) | buf[7]) >= 1;
	}
	printf("udp peers: the echo %d, the DNS answer %d\n", heard_echo, heard_dns);
	report("udp peers: connect to the echo", connect(u, (struct sockaddr *)&echo, sizeof echo));
	report("udp peers: sendto dns while connected", sendto(u, q, qn, 0, (struct sockaddr *)&dns, sizeof dns));
	report("udp peers: send two", send(u, "two", 3, 0));
	struct pollfd p = { .fd = u, .events = POLLIN };
	poll(&p, 1, 10000);
	int n = recv(u, buf, sizeof buf, 0);
	printf("udp peers: connected, got %d '%.*s'\n", n, n == 3 ? 3 : 0, buf);
	/* The DNS answer to the connected socket is not for it. */
	printf("udp peers: anything more in 500 ms %d\n", poll(&p, 1, 500));
	close(u);
}

int main(int argc, char **argv)
{
	/* "connect PORT": one blocking TCP connect, and its result. */
	if (argc == 3 && strcmp(argv[1], "connect") == 0) {
		int s = tcp_to(atoi(argv[2]), 0);
		if (s >= 0)
			printf("connect to %s: ok\n", argv[2]);
		return 0;
	}
	/* "churn PORT N": N connections made and closed at once, one after
	 * another (each echoes one byte first on every 10th). */
	if (argc == 4 && strcmp(argv[1], "churn") == 0) {
		int n = atoi(argv[3]), ok = 0;
		for (int i = 0; i < n; i++) {
			int s = tcp_to(atoi(argv[2]), 0);
			if (s < 0)
				return 1;
			char c = 'x';
			if (i % 10 == 0 && (write(s, &c, 1) != 1 || read(s, &c, 1) != 1 || c != 'x'))
				return 1;
			close(s);
			ok++;
		}
		printf("churn: %d connections\n", ok);
		return 0;
	}
	tcp_basics();
	tcp_nonblocking();
	refused();
	bulk();
	epoll_edges();
	udp();
	udp_peers();
	printf("done\n");
	return 0;
}
