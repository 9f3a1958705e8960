/* The host's loopback services: the test runner listens on a TCP and a
 * UDP port of the host's 127.0.0.1; the sandbox's loopback is its own, so
 * a TCP connect is refused and a UDP datagram goes nowhere on the host
 * (the test checks its listeners got nothing). Binding the same port
 * inside works: it is the sandbox's port. */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
	int port = ESC_HOST_PORT();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_ERR("TCP connect to the host's 127.0.0.1:PORT", connect(s, (struct sockaddr *)&a, sizeof a), ECONNREFUSED);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	EXPECT_OK("UDP send to 127.0.0.1:PORT (lost: nobody in the sandbox)",
		  sendto(u, "husk-escape", 11, 0, (struct sockaddr *)&a, sizeof a));
	int l = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_OK("bind 127.0.0.1:PORT inside", bind(l, (struct sockaddr *)&a, sizeof a));
	EXPECT_OK("listen", listen(l, 1));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_OK("connect to it: the sandbox's own listener", connect(c, (struct sockaddr *)&a, sizeof a));
	struct sockaddr_in any = a;
	any.sin_addr.s_addr = htonl(0x0a000001); /* 10.0.0.1 */
	int o = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_ERR("TCP connect to 10.0.0.1 (default-deny egress: refused)",
		   connect(o, (struct sockaddr *)&any, sizeof any), ECONNREFUSED);
	/* The NAT gateway is the host: never reached through the relay. */
	any.sin_addr.s_addr = htonl(0x0a000202); /* 10.0.2.2 */
	int g = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_ERR("TCP connect to the NAT gateway 10.0.2.2:PORT",
		   connect(g, (struct sockaddr *)&any, sizeof any), ENETUNREACH);
	int gu = socket(AF_INET, SOCK_DGRAM, 0);
	EXPECT_ERR("UDP connect to the NAT gateway 10.0.2.2:PORT",
		   connect(gu, (struct sockaddr *)&any, sizeof any), ENETUNREACH);
	return esc_finish();
}
