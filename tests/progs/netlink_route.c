/* NETLINK_ROUTE as programs read it: getifaddrs (links as AF_PACKET
 * entries, and addresses), if_nameindex, and the raw dumps of links,
 * addresses and routes that ip(8) makes; a netlink socket's names and its
 * errors. Compared with a native run in a network namespace whose only
 * interface is its loopback, up. Only the main routing table is printed
 * (Linux dumps the local table too). */
#include "common.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <stdlib.h>
#include <sys/socket.h>

static const char *fam(int f)
{
	return f == AF_INET ? "AF_INET" : f == AF_INET6 ? "AF_INET6" : f == AF_PACKET ? "AF_PACKET" : "other";
}

static void addr_str(const struct sockaddr *sa, char *out, size_t n)
{
	out[0] = 0;
	if (!sa)
		snprintf(out, n, "-");
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, n);
	else
		snprintf(out, n, "-");
}

static void ifaddrs(void)
{
	struct ifaddrs *list;
	if (getifaddrs(&list) != 0) {
		printf("getifaddrs: %s\n", errname(errno));
		return;
	}
	for (struct ifaddrs *i = list; i; i = i->ifa_next) {
		char a[64], m[64];
		addr_str(i->ifa_addr, a, sizeof a);
		addr_str(i->ifa_netmask, m, sizeof m);
		printf("getifaddrs: %s %s %s/%s up %d loopback %d running %d\n", i->ifa_name,
		       i->ifa_addr ? fam(i->ifa_addr->sa_family) : "none", a, m, !!(i->ifa_flags & IFF_UP),
		       !!(i->ifa_flags & IFF_LOOPBACK), !!(i->ifa_flags & IFF_RUNNING));
	}
	freeifaddrs(list);
	struct if_nameindex *names = if_nameindex();
	for (struct if_nameindex *n = names; n && n->if_index; n++)
		printf("if_nameindex: %u %s\n", n->if_index, n->if_name);
	if (names)
		if_freenameindex(names);
}

/* One dump: prints each message's type, and what `show` makes of it. */
static void dump(int s, int type, int family, void (*show)(struct nlmsghdr *))
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
	} req = { .h = { .nlmsg_len = sizeof req, .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			  .nlmsg_seq = 42 },
		  .r = { .rtm_family = family } };
	if (send(s, &req, sizeof req, 0) != sizeof req) {
		printf("dump %d: send %s\n", type, errname(errno));
		return;
	}
	for (;;) {
		static char buf[65536];
		struct sockaddr_nl from;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
		long n = recvmsg(s, &msg, 0);
		if (n <= 0) {
			printf("dump %d: recv %s\n", type, errname(errno));
			return;
		}
		if (msg.msg_namelen != sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
			printf("dump %d: bad (not from the kernel)\n", type);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 42)
				printf("dump %d: bad (seq %u)\n", type, h->nlmsg_seq);
			if (h->nlmsg_type == NLMSG_DONE) {
				printf("dump %d: done\n", type);
				return;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				printf("dump %d: error %s\n", type, errname(-((struct nlmsgerr *)NLMSG_DATA(h))->error));
				return;
			}
			show(h);
		}
	}
}

static void show_link(struct nlmsghdr *h)
{
	struct ifinfomsg *i = NLMSG_DATA(h);
	const char *name = "?";
	unsigned mtu = 0;
	int len = IFLA_PAYLOAD(h);
	for (struct rtattr *a = IFLA_RTA(i); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_IFNAME)
			name = RTA_DATA(a);
		if (a->rta_type == IFLA_MTU)
			mtu = *(unsigned *)RTA_DATA(a);
	}
	printf("link: %d %s type %u mtu %u up %d loopback %d\n", i->ifi_index, name, i->ifi_type, mtu,
	       !!(i->ifi_flags & IFF_UP), !!(i->ifi_flags & IFF_LOOPBACK));
}

static void show_addr(struct nlmsghdr *h)
{
	struct ifaddrmsg *i = NLMSG_DATA(h);
	char a[64] = "?";
	int len = IFA_PAYLOAD(h);
	for (struct rtattr *r = IFA_RTA(i); RTA_OK(r, len); r = RTA_NEXT(r, len))
		if (r->rta_type == IFA_ADDRESS)
			inet_ntop(i->ifa_family, RTA_DATA(r), a, sizeof a);
	printf("addr: %s %s/%u index %u scope %u\n", fam(i->ifa_family), a, i->ifa_prefixlen, i->ifa_index,
	       i->ifa_scope);
}

static void show_route(struct nlmsghdr *h)
{
	struct rtmsg *r = NLMSG_DATA(h);
	if (r->rtm_table != RT_TABLE_MAIN)
		return;
	char dst[64] = "default";
	int oif = 0, len = RTM_PAYLOAD(h);
	for (struct rtattr *a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_DST)
			inet_ntop(r->rtm_family, RTA_DATA(a), dst, sizeof dst);
		if (a->rta_type == RTA_OIF)
			oif = *(int *)RTA_DATA(a);
	}
	printf("route: %s %s/%u oif %d type %u\n", fam(r->rtm_family), dst, r->rtm_dst_len, oif, r->rtm_type);
}

int main(void)
{
	ifaddrs();
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	report("socket", s);
	struct sockaddr_nl me = { .nl_family = AF_NETLINK };
	report("bind", bind(s, (struct sockaddr *)&me, sizeof me));
	socklen_t ml = sizeof me;
	report("getsockname", getsockname(s, (struct sockaddr *)&me, &ml));
	printf("name: len %u family %d pid is ours %d\n", ml, me.nl_family, me.nl_pid == (unsigned)getpid());
	dump(s, RTM_GETLINK, AF_UNSPEC, show_link);
	dump(s, RTM_GETADDR, AF_INET, show_addr);
	dump(s, RTM_GETADDR, AF_INET6, show_addr);
	dump(s, RTM_GETROUTE, AF_INET, show_route);
	dump(s, RTM_GETROUTE, AF_INET6, show_route);
	report("a short bind", bind(s, (struct sockaddr *)&me, 4));
	report("SOCK_STREAM", socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE));
	report("protocol 31", socket(AF_NETLINK, SOCK_RAW, 31));
	printf("done\n");
	return 0;
}
