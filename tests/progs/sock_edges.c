/* Socket edge cases LTP checks (socket01, socketpair01, sendto01,
 * shutdown02, recv01, recvfrom01, recvmsg01, sockioctl01), each against
 * Linux:
 * - socket: raw IP with protocol 0 is EPROTONOSUPPORT; socketpair of an
 *   Internet family checks the socket first (EPROTONOSUPPORT for TCP as a
 *   datagram or ICMP as a stream), then EOPNOTSUPP;
 * - a send on a TCP socket never connected is EPIPE with SIGPIPE (none
 *   with MSG_NOSIGNAL); on a Unix stream, ENOTCONN without a signal;
 * - shutdown: a bad how is EINVAL; a TCP socket before connect and an
 *   unconnected UDP socket are ENOTCONN; an unconnected Unix socket is not;
 * - MSG_ERRQUEUE with nothing queued: EAGAIN on TCP and UDP;
 * - recvfrom on TCP names no sender: the length comes back 0 and the
 *   buffer is not touched (a bad one is fine); a negative length is EINVAL;
 * - sendmsg and recvmsg with more than UIO_MAXIOV pieces: EMSGSIZE;
 * - MSG_MORE (send02) holds TCP and UDP data back until a send without
 *   it, which sends it all as one; a TCP close sends what was held;
 * - SIOCATMARK: 0 on a TCP stream (a listener too), EFAULT for a bad
 *   pointer, ENOTTY on UDP; SIOCSIFFLAGS with a bad ifreq: EFAULT.
 * Each check prints its result or the errno name. */
#include "common.h"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

static volatile int pipes;

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* A connected TCP pair over loopback: *client and *server; returns the
 * listener. */
static int tcp_pair(int *client, int *server)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*client, (struct sockaddr *)&a, sizeof a) < 0)
		return -1;
	*server = accept(l, NULL, NULL);
	return l;
}

static void creation(void)
{
	int sv[2];
	report("socket(AF_INET, SOCK_RAW, 0)", socket(AF_INET, SOCK_RAW, 0));
	report("socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP)", socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP, sv));
	report("socketpair(AF_INET, SOCK_STREAM, IPPROTO_ICMP)", socketpair(AF_INET, SOCK_STREAM, IPPROTO_ICMP, sv));
	report("socketpair(AF_INET, SOCK_STREAM, 0)", socketpair(AF_INET, SOCK_STREAM, 0, sv));
	report("socketpair(AF_INET6, SOCK_DGRAM, 0)", socketpair(AF_INET6, SOCK_DGRAM, 0, sv));
}

static void unconnected_sends(void)
{
	signal(SIGPIPE, on_pipe);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	report("send on a new TCP socket, MSG_NOSIGNAL", send(s, "x", 1, MSG_NOSIGNAL));
	printf("SIGPIPEs: %d\n", pipes);
	report("send on a new TCP socket", send(s, "x", 1, 0));
	printf("SIGPIPEs: %d\n", pipes);
	report("write on a new TCP socket", write(s, "x", 1));
	printf("SIGPIPEs: %d\n", pipes);
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("send on a new Unix stream", send(s, "x", 1, 0));
	printf("SIGPIPEs: %d\n", pipes);
	close(s);
	signal(SIGPIPE, SIG_DFL);
}

static void shutdowns(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	bind(s, (struct sockaddr *)&a, sizeof a);
	report("shutdown how -1", shutdown(s, -1));
	report("shutdown how 3", shutdown(s, 3));
	report("shutdown of a bound TCP socket", shutdown(s, SHUT_RDWR));
	close(s);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	report("shutdown of an unconnected UDP socket", shutdown(s, SHUT_WR));
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("shutdown of an unconnected Unix stream", shutdown(s, SHUT_RDWR));
	close(s);
	int c, d, l = tcp_pair(&c, &d);
	report("shutdown of a connected TCP socket", shutdown(c, SHUT_WR));
	close(c);
	close(d);
	close(l);
}

static void receives(void)
{
	int c, d, l = tcp_pair(&c, &d);
	char buf[16];
	report("MSG_ERRQUEUE on TCP", recv(c, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT));
	report("MSG_ERRQUEUE on TCP, blocking", recv(c, buf, sizeof buf, MSG_ERRQUEUE));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	report("MSG_ERRQUEUE on UDP", recv(u, buf, sizeof buf, MSG_ERRQUEUE));
	close(u);

	send(d, "abcdef", 6, 0);
	sleep_ms(50);
	struct sockaddr_in from;
	memset(&from, 0x55, sizeof from);
	socklen_t len = sizeof from;
	long n = recvfrom(c, buf, 2, 0, (struct sockaddr *)&from, &len);
	printf("recvfrom on TCP: %ld bytes, length %u, buffer untouched %d\n", n, len,
	       ((unsigned char *)&from)[0] == 0x55);
	len = sizeof from;
	report("recvfrom on TCP into a bad address", recvfrom(c, buf, 2, 0, (struct sockaddr *)-1, &len));
	len = (socklen_t)-1;
	report("recvfrom on TCP with a negative length", recvfrom(c, buf, 1, 0, (struct sockaddr *)&from, &len));
	printf("what is left: %ld bytes\n", (long)recv(c, buf, sizeof buf, MSG_DONTWAIT));

	static struct iovec iov[1025];
	for (int i = 0; i < 1025; i++)
		iov[i] = (struct iovec){buf, 1};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 1025};
	report("recvmsg with 1025 pieces", recvmsg(c, &m, MSG_DONTWAIT));
	report("sendmsg with 1025 pieces", sendmsg(c, &m, 0));
	m.msg_iovlen = 1024;
	report("sendmsg with 1024 pieces", sendmsg(d, &m, 0));
	close(c);
	close(d);
	close(l);
}

static void corked(void)
{
	char buf[64];
	int c, d, l = tcp_pair(&c, &d);
	send(c, "0123456789abcdef", 16, MSG_MORE);
	sleep_ms(50);
	report("TCP: recv after 16 bytes with MSG_MORE", recv(d, buf, sizeof buf, MSG_DONTWAIT));
	send(c, "!", 1, 0);
	sleep_ms(50);
	printf("TCP: recv after 1 more without it: %ld bytes\n", (long)recv(d, buf, sizeof buf, MSG_DONTWAIT));
	send(c, "tail", 4, MSG_MORE);
	close(c);
	sleep_ms(50);
	long n = recv(d, buf, sizeof buf, MSG_DONTWAIT);
	printf("TCP: after 4 bytes with MSG_MORE and a close: %ld bytes, then %ld\n", n,
	       (long)recv(d, buf, sizeof buf, MSG_DONTWAIT));
	close(d);
	close(l);

	int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	bind(v, (struct sockaddr *)&a, sizeof a);
	getsockname(v, (struct sockaddr *)&a, &len);
	connect(u, (struct sockaddr *)&a, sizeof a);
	send(u, "abc", 3, MSG_MORE);
	report("UDP: recv after 3 bytes with MSG_MORE", recv(v, buf, sizeof buf, MSG_DONTWAIT));
	send(u, "de", 2, 0);
	printf("UDP: recv after 2 more without it: %ld bytes\n", (long)recv(v, buf, sizeof buf, MSG_DONTWAIT));
	report("UDP: then", recv(v, buf, sizeof buf, MSG_DONTWAIT));
	close(u);
	close(v);
}

static void ioctls(void)
{
	int c, d, l = tcp_pair(&c, &d);
	int mark = -1;
	long r = ioctl(c, SIOCATMARK, &mark);
	if (r < 0)
		report("SIOCATMARK on TCP", r);
	else
		printf("SIOCATMARK on TCP: %d\n", mark);
	report("SIOCATMARK on TCP, NULL", ioctl(c, SIOCATMARK, NULL));
	report("SIOCATMARK on a listener", ioctl(l, SIOCATMARK, &mark));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	report("SIOCATMARK on UDP", ioctl(u, SIOCATMARK, &mark));
	report("SIOCSIFFLAGS, NULL", ioctl(u, SIOCSIFFLAGS, NULL));
	report("SIOCGIFFLAGS, NULL", ioctl(u, SIOCGIFFLAGS, NULL));
	close(u);
	close(c);
	close(d);
	close(l);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	creation();
	unconnected_sends();
	shutdowns();
	receives();
	corked();
	ioctls();
	printf("done\n");
	return 0;
}
