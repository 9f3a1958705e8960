/* Ancillary data of UDP on the loopback (RFC 3542 for IPv6, and IPv4's
 * equivalents): what recvmsg's control messages say of a datagram
 * (IPV6_HOPLIMIT, IPV6_TCLASS, IPV6_PKTINFO; IP_TTL, IP_TOS, IP_PKTINFO)
 * with the socket options that set them and with those a sendmsg gives;
 * dual stack; truncation into a small control buffer (MSG_CTRUNC); and
 * the errors of bad control messages and option values. Ports are never
 * printed (they are ephemeral). */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

static int bound(int family, const char *ip)
{
	int s = socket(family, SOCK_DGRAM, 0);
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &a->sin_addr);
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		len = sizeof *a;
	}
	if (bind(s, (struct sockaddr *)&ss, len)) {
		printf("bind %s: %s\n", ip, errname(errno));
		exit(1);
	}
	return s;
}

/* The address to reach `s` at: `ip` (in its family) and its port. */
static socklen_t dest(int s, const char *ip, struct sockaddr_storage *to)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	getsockname(s, (struct sockaddr *)&ss, &len);
	int port = ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					   : ((struct sockaddr_in6 *)&ss)->sin6_port;
	memset(to, 0, sizeof *to);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)to;
		a->sin6_family = AF_INET6;
		a->sin6_port = port;
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		return sizeof *a;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)to;
	a->sin_family = AF_INET;
	a->sin_port = port;
	inet_pton(AF_INET, ip, &a->sin_addr);
	return sizeof *a;
}

static void opt(int s, int level, int name, int val, const char *label)
{
	if (setsockopt(s, level, name, &val, sizeof val))
		printf("%s: setsockopt: %s\n", label, errname(errno));
}

/* A control message to send: `len` bytes of `data`. */
struct cm {
	int level, type;
	const void *data;
	size_t len;
};

static char ctl[512];
/* recvmsg's flags in show(). */
static int show_flags;

/* Lays out control messages in `ctl`; returns the control length. */
static size_t layout(const struct cm *cms, int n)
{
	size_t at = 0;
	memset(ctl, 0, sizeof ctl);
	for (int i = 0; i < n; i++) {
		struct cmsghdr *c = (struct cmsghdr *)(ctl + at);
		c->cmsg_level = cms[i].level;
		c->cmsg_type = cms[i].type;
		c->cmsg_len = CMSG_LEN(cms[i].len);
		memcpy(CMSG_DATA(c), cms[i].data, cms[i].len);
		at += CMSG_SPACE(cms[i].len);
	}
	return at;
}

/* sendmsg of "ping" to `to` with the control data in `ctl`. */
static long send_ctl(int s, struct sockaddr_storage *to, socklen_t tolen, size_t controllen)
{
	struct iovec iov = { .iov_base = "ping", .iov_len = 4 };
	struct msghdr m = { .msg_name = to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = controllen ? ctl : NULL, .msg_controllen = controllen };
	return sendmsg(s, &m, 0);
}

static long send_cms(int s, struct sockaddr_storage *to, socklen_t tolen, const struct cm *cms, int n)
{
	return send_ctl(s, to, tolen, layout(cms, n));
}

static void sent(const char *label, long r)
{
	if (r == -1)
		printf("%s: send: %s\n", label, errname(errno));
}

/* Receives one datagram into a control buffer of `room` bytes (none with
 * room -1: a null pointer with a length) and prints what came with it. */
static void show(int s, const char *label, long room)
{
	char buf[16], cbuf[512];
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1) {
		printf("%s: nothing came\n", label);
		return;
	}
	memset(cbuf, 0xaa, sizeof cbuf);
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = room < 0 ? NULL : cbuf,
			    .msg_controllen = room < 0 ? 64 : room };
	long n = recvmsg(s, &m, MSG_DONTWAIT | show_flags);
	if (n < 0) {
		printf("%s: recvmsg: %s\n", label, errname(errno));
		return;
	}
	printf("%s: %ld bytes, controllen %zu%s", label, n, (size_t)m.msg_controllen,
	       m.msg_flags & MSG_CTRUNC ? ", MSG_CTRUNC" : "");
	if (room < 0)
		m.msg_controllen = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t len = c->cmsg_len >= CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
		printf("; %d/%d len %zu:", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len);
		for (size_t i = 0; i < len; i++)
			printf("%s%02x", i % 4 ? "" : " ", CMSG_DATA(c)[i]);
		if (c->cmsg_len < CMSG_LEN(0) || (char *)c + c->cmsg_len > cbuf + m.msg_controllen)
			break;
	}
	printf("\n");
}

static void ipv6(void)
{
	int r = bound(AF_INET6, "::1"), s = bound(AF_INET6, "::1");
	struct sockaddr_storage to;
	socklen_t tolen = dest(r, "::1", &to);
	int hops = 2, tclass = -1;

	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v6 nothing asked", 64);

	opt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "v6");
	opt(r, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "v6");
	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v6 defaults", 64);

	opt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 7, "v6");
	opt(s, IPPROTO_IPV6, IPV6_TCLASS, 0x28, "v6");
	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v6 options", 64);

	struct cm both[] = { { IPPROTO_IPV6, IPV6_HOPLIMIT, &hops, 4 }, { IPPROTO_IPV6, IPV6_TCLASS, &tclass, 4 } };
	sent("v6 cmsgs", send_cms(s, &to, tolen, both, 2));
	show(r, "v6 cmsgs (hop limit 2, tclass -1)", 64);
	hops = -1, tclass = 0xb8;
	sent("v6 cmsgs", send_cms(s, &to, tolen, both, 2));
	show(r, "v6 cmsgs (hop limit -1, tclass 0xb8)", 64);

	/* IPv4's levels are ignored on an IPv6 datagram. */
	int ttl = 9;
	struct cm v4ttl[] = { { IPPROTO_IP, IP_TTL, &ttl, 4 } };
	sent("v6 IP_TTL", send_cms(s, &to, tolen, v4ttl, 1));
	show(r, "v6 IP_TTL cmsg", 64);

	/* A connected socket's write(2). */
	connect(s, (struct sockaddr *)&to, tolen);
	report("v6 write", write(s, "ping", 4));
	show(r, "v6 write", 64);

	opt(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "v6");
	send(s, "ping", 4, 0);
	show(r, "v6 pktinfo", 64);
	send(s, "ping", 4, 0);
	show_flags = MSG_PEEK;
	show(r, "v6 peeked", 64);
	show_flags = 0;
	show(r, "v6 after the peek", 64);

	/* Truncation: each message cut where the buffer ends. */
	for (long room = 0; room <= 76; room += room < 24 ? 1 : 4) {
		send(s, "ping", 4, 0);
		char label[64];
		snprintf(label, sizeof label, "v6 room %ld", room);
		show(r, label, room);
	}
	send(s, "ping", 4, 0);
	show(r, "v6 no buffer", -1);
	show(r, "v6 after all", 64);

	/* Bad control messages. */
	int v = 256;
	struct cm one[] = { { IPPROTO_IPV6, IPV6_HOPLIMIT, &v, 4 } };
	report("v6 hop limit 256", send_cms(s, NULL, 0, one, 1));
	v = -2;
	report("v6 hop limit -2", send_cms(s, NULL, 0, one, 1));
	v = 255;
	report("v6 hop limit 255", send_cms(s, NULL, 0, one, 1));
	show(r, "v6 hop limit 255", 128);
	one[0].len = 5;
	report("v6 hop limit of 5 bytes", send_cms(s, NULL, 0, one, 1));
	one[0].len = 4;
	one[0].type = IPV6_TCLASS, v = 256;
	report("v6 tclass 256", send_cms(s, NULL, 0, one, 1));
	one[0].type = 1234, v = 0;
	report("v6 an unknown type", send_cms(s, NULL, 0, one, 1));
	one[0].level = 1234;
	report("v6 an unknown level", send_cms(s, NULL, 0, one, 1));
	show(r, "v6 unknown level", 128);
	one[0].level = SOL_SOCKET, one[0].type = SCM_RIGHTS;
	report("v6 SCM_RIGHTS", send_cms(s, NULL, 0, one, 1));
	show(r, "v6 SCM_RIGHTS", 128);
	one[0].type = SO_MARK;
	report("v6 SO_MARK", send_cms(s, NULL, 0, one, 1));
	show(r, "v6 SO_MARK", 128);
	one[0].level = IPPROTO_IPV6, one[0].type = IPV6_HOPLIMIT;
	size_t len = layout(one, 1);
	((struct cmsghdr *)ctl)->cmsg_len = 100;
	report("v6 cmsg_len past the end", send_ctl(s, NULL, 0, len));
	report("v6 controllen 8", send_ctl(s, NULL, 0, 8));
	show(r, "v6 controllen 8", 128);
	struct in6_pktinfo pi = { .ipi6_addr = IN6ADDR_LOOPBACK_INIT, .ipi6_ifindex = 1 };
	struct cm info[] = { { IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi } };
	report("v6 pktinfo ::1 on lo", send_cms(s, NULL, 0, info, 1));
	show(r, "v6 pktinfo sent", 128);
	pi.ipi6_ifindex = 999;
	report("v6 pktinfo on interface 999", send_cms(s, NULL, 0, info, 1));
	pi.ipi6_ifindex = 0;
	inet_pton(AF_INET6, "2001:db8::1", &pi.ipi6_addr);
	report("v6 pktinfo from 2001:db8::1", send_cms(s, NULL, 0, info, 1));
	info[0].len = 16;
	report("v6 short pktinfo", send_cms(s, NULL, 0, info, 1));

	/* Option values. */
	socklen_t vlen = sizeof v;
	report("v6 IPV6_UNICAST_HOPS 256", setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &(int){ 256 }, 4));
	report("v6 IPV6_UNICAST_HOPS -2", setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &(int){ -2 }, 4));
	report("v6 IPV6_UNICAST_HOPS -1", setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &(int){ -1 }, 4));
	getsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, &vlen);
	printf("v6 IPV6_UNICAST_HOPS then reads %d\n", v);
	report("v6 IPV6_TCLASS 256", setsockopt(s, IPPROTO_IPV6, IPV6_TCLASS, &(int){ 256 }, 4));
	report("v6 IPV6_TCLASS -1", setsockopt(s, IPPROTO_IPV6, IPV6_TCLASS, &(int){ -1 }, 4));
	getsockopt(s, IPPROTO_IPV6, IPV6_TCLASS, &v, &vlen);
	printf("v6 IPV6_TCLASS then reads %d\n", v);
	report("v6 IPV6_MULTICAST_HOPS -1", setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &(int){ -1 }, 4));
	getsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &v, &vlen);
	printf("v6 IPV6_MULTICAST_HOPS then reads %d\n", v);
	getsockopt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &v, &vlen);
	printf("v6 IPV6_RECVHOPLIMIT reads %d\n", v);
	send(s, "ping", 4, 0);
	show(r, "v6 options reset", 128);
	close(r);
	close(s);
}

static void ipv4(void)
{
	int r = bound(AF_INET, "0.0.0.0"), s = bound(AF_INET, "127.0.0.1");
	struct sockaddr_storage to;
	socklen_t tolen = dest(r, "127.0.0.1", &to);

	opt(r, IPPROTO_IP, IP_RECVTTL, 1, "v4");
	opt(r, IPPROTO_IP, IP_RECVTOS, 1, "v4");
	opt(r, IPPROTO_IP, IP_PKTINFO, 1, "v4");
	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v4 defaults", 128);
	tolen = dest(r, "127.0.0.2", &to);
	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v4 to 127.0.0.2", 128);
	opt(s, IPPROTO_IP, IP_TTL, 9, "v4");
	opt(s, IPPROTO_IP, IP_TOS, 0x10, "v4");
	sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "v4 options", 128);

	int ttl = 3;
	unsigned char tos = 0x20;
	struct cm both[] = { { IPPROTO_IP, IP_TTL, &ttl, 4 }, { IPPROTO_IP, IP_TOS, &tos, 1 } };
	sent("v4 cmsgs", send_cms(s, &to, tolen, both, 2));
	show(r, "v4 cmsgs (ttl 3, tos 0x20 as a byte)", 128);
	for (long room = 16; room <= 56; room += 4) {
		sendto(s, "ping", 4, 0, (struct sockaddr *)&to, tolen);
		char label[64];
		snprintf(label, sizeof label, "v4 room %ld", room);
		show(r, label, room);
	}

	int v = 0;
	struct cm one[] = { { IPPROTO_IP, IP_TTL, &v, 4 } };
	report("v4 ttl 0", send_cms(s, &to, tolen, one, 1));
	v = 256;
	report("v4 ttl 256", send_cms(s, &to, tolen, one, 1));
	v = -1;
	report("v4 ttl -1", send_cms(s, &to, tolen, one, 1));
	v = 5, one[0].len = 1;
	report("v4 ttl of a byte", send_cms(s, &to, tolen, one, 1));
	one[0].type = IP_TOS, one[0].len = 2;
	report("v4 tos of 2 bytes", send_cms(s, &to, tolen, one, 1));
	one[0].len = 4, v = 256;
	report("v4 tos 256", send_cms(s, &to, tolen, one, 1));
	one[0].type = 1234;
	report("v4 an unknown type", send_cms(s, &to, tolen, one, 1));
	one[0].level = IPPROTO_IPV6, one[0].type = IPV6_HOPLIMIT, v = 300;
	report("v4 an IPv6 hop limit", send_cms(s, &to, tolen, one, 1));
	show(r, "v4 IPv6 level", 128);
	struct in_pktinfo pi = { .ipi_ifindex = 1 };
	inet_pton(AF_INET, "127.0.0.1", &pi.ipi_spec_dst);
	struct cm info[] = { { IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi } };
	report("v4 pktinfo 127.0.0.1 on lo", send_cms(s, &to, tolen, info, 1));
	show(r, "v4 pktinfo sent", 128);
	info[0].len = 8;
	report("v4 short pktinfo", send_cms(s, &to, tolen, info, 1));

	socklen_t vlen = sizeof v;
	report("v4 IP_TTL 0", setsockopt(s, IPPROTO_IP, IP_TTL, &(int){ 0 }, 4));
	report("v4 IP_TTL 256", setsockopt(s, IPPROTO_IP, IP_TTL, &(int){ 256 }, 4));
	report("v4 IP_TTL -1", setsockopt(s, IPPROTO_IP, IP_TTL, &(int){ -1 }, 4));
	getsockopt(s, IPPROTO_IP, IP_TTL, &v, &vlen);
	printf("v4 IP_TTL then reads %d\n", v);
	report("v4 IP_TOS 0x1ff", setsockopt(s, IPPROTO_IP, IP_TOS, &(int){ 0x1ff }, 4));
	getsockopt(s, IPPROTO_IP, IP_TOS, &v, &vlen);
	printf("v4 IP_TOS then reads %#x\n", v);
	close(r);
	close(s);
}

/* IPv4 datagrams to an IPv6 socket, and an IPv6 socket's to a v4-mapped
 * address: IPv4 headers, whose options are the IP level's. */
static void dual_stack(void)
{
	int r = bound(AF_INET6, "::"), s4 = bound(AF_INET, "127.0.0.1"), s6 = bound(AF_INET6, "::");
	struct sockaddr_storage to;
	socklen_t tolen = dest(r, "127.0.0.1", &to);
	opt(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "dual");
	opt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "dual");
	opt(r, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "dual");
	opt(r, IPPROTO_IP, IP_RECVTTL, 1, "dual");
	opt(s4, IPPROTO_IP, IP_TTL, 11, "dual");
	sendto(s4, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "dual from IPv4", 128);

	tolen = dest(r, "::ffff:127.0.0.1", &to);
	opt(s6, IPPROTO_IP, IP_TTL, 12, "dual");
	opt(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 13, "dual");
	sendto(s6, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "dual v4-mapped", 128);
	int hops = 300, ttl = 4;
	struct cm cms[] = { { IPPROTO_IPV6, IPV6_HOPLIMIT, &hops, 4 }, { IPPROTO_IP, IP_TTL, &ttl, 4 } };
	sent("dual cmsgs", send_cms(s6, &to, tolen, cms, 2));
	show(r, "dual v4-mapped cmsgs", 128);
	struct in6_pktinfo pi = { .ipi6_addr = IN6ADDR_LOOPBACK_INIT };
	struct cm info[] = { { IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi } };
	report("dual v4-mapped with pktinfo ::1", send_cms(s6, &to, tolen, info, 1));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &pi.ipi6_addr);
	report("dual v4-mapped with pktinfo ::ffff:127.0.0.1", send_cms(s6, &to, tolen, info, 1));
	show(r, "dual pktinfo sent", 128);
	tolen = dest(r, "::1", &to);
	report("dual IPv6 with pktinfo ::ffff:127.0.0.1", send_cms(s6, &to, tolen, info, 1));
	sendto(s6, "ping", 4, 0, (struct sockaddr *)&to, tolen);
	show(r, "dual IPv6", 128);
	close(r);
	close(s4);
	close(s6);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ipv6();
	ipv4();
	dual_stack();
	printf("done\n");
	return 0;
}
