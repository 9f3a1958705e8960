/* Unprivileged ICMP echo ("ping") sockets on the loopback: an echo
 * request to 127.0.0.1 and to ::1 comes back as a reply with the same
 * sequence number and payload and the socket's identifier; the errors for
 * a request that is not an echo, one too short, an ICMP protocol of the
 * other family, and a send with no address. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EDESTADDRREQ: return "EDESTADDRREQ";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	default: return strerror(e);
	}
}

static unsigned short sum16(const unsigned char *p, int n)
{
	unsigned long s = 0;
	for (int i = 0; i + 1 < n; i += 2)
		s += (p[i] << 8) | p[i + 1];
	if (n & 1)
		s += p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (unsigned short)s;
}

static void echo(int family)
{
	int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	const char *name = family == AF_INET ? "v4" : "v6";
	int s = socket(family, SOCK_DGRAM, proto);
	if (s < 0) {
		printf("%s: socket: %s\n", name, errname(errno));
		return;
	}
	int p = -1;
	socklen_t pl = sizeof p;
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &p, &pl);
	printf("%s: SO_PROTOCOL %d, SO_TYPE dgram\n", name, p);
	unsigned char req[12] = {family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7,
				 'h', 'u', 's', 'k'};
	struct sockaddr_storage to = {0};
	socklen_t tl;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&to;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		tl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		tl = sizeof *a;
	}
	ssize_t n = sendto(s, req, sizeof req, 0, (struct sockaddr *)&to, tl);
	printf("%s: sendto %zd\n", name, n);
	unsigned char rep[64];
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	n = recvfrom(s, rep, sizeof rep, 0, (struct sockaddr *)&from, &fl);
	if (n < 0) {
		printf("%s: recvfrom: %s\n", name, errname(errno));
	} else {
		int lo = family == AF_INET ? ((struct sockaddr_in *)&from)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)
					   : memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr, &in6addr_loopback, 16) == 0;
		printf("%s: reply %zd bytes, type %d code %d, seq %d, payload %.4s, ident set %d, from the loopback %d",
		       name, n, rep[0], rep[1], (rep[6] << 8) | rep[7], (char *)rep + 8, (rep[4] | rep[5]) != 0, lo);
		if (family == AF_INET)
			printf(", checksum ok %d", sum16(rep, n) == 0xffff);
		printf("\n");
	}
	req[0] = family == AF_INET ? ICMP_TIMESTAMP : 1;
	printf("%s: not an echo: %s\n", name, sendto(s, req, sizeof req, 0, (struct sockaddr *)&to, tl) < 0 ? errname(errno) : "sent");
	req[0] = family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	printf("%s: 4 bytes: %s\n", name, sendto(s, req, 4, 0, (struct sockaddr *)&to, tl) < 0 ? errname(errno) : "sent");
	printf("%s: no address: %s\n", name, send(s, req, sizeof req, 0) < 0 ? errname(errno) : "sent");
	close(s);
}

int main(void)
{
	/* Natively the namespace's default range ("1 0") admits nobody: open
	 * it as Docker does. Under Husk the sandbox's is that already. */
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "w");
	if (f) {
		fputs("0 2147483647\n", f);
		fclose(f);
	}
	echo(AF_INET);
	echo(AF_INET6);
	int x = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMPV6);
	printf("AF_INET with ICMPv6: %s\n", x < 0 ? errname(errno) : "a socket");
	x = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMP);
	printf("AF_INET6 with ICMP: %s\n", x < 0 ? errname(errno) : "a socket");
	return 0;
}
