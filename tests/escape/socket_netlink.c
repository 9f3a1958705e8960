/* Netlink (routes, firewall, audit, device events). Husk serves
 * NETLINK_ROUTE read-only (interfaces, addresses and routes, for
 * getifaddrs and ip): every change it refuses (EPERM, in an NLMSG_ERROR),
 * even as root with every capability. NETFILTER, AUDIT, KOBJECT_UEVENT
 * and GENERIC do not exist: EPROTONOSUPPORT. */
#include "escape.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

/* Sends one request of `type` with `body` and returns the errno of the
 * NLMSG_ERROR answering it (0: acknowledged), or -1 for anything else. */
static int request(int s, int type, const void *body, size_t len)
{
	struct {
		struct nlmsghdr h;
		char body[64];
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(len), .nlmsg_type = type,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, .nlmsg_seq = 1 } };
	memcpy(req.body, body, len);
	if (send(s, &req, req.h.nlmsg_len, 0) < 0)
		return -1;
	char buf[4096];
	long n = recv(s, buf, sizeof buf, 0);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (n < (long)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
		return -1;
	return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}

int main(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	EXPECT_OK("NETLINK_ROUTE socket", s);
	struct {
		struct ifaddrmsg ifa;
		struct rtattr rta;
		unsigned char addr[4];
	} addr = { .ifa = { .ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 1 },
		   .rta = { .rta_len = RTA_LENGTH(4), .rta_type = IFA_LOCAL },
		   .addr = { 192, 0, 2, 1 } };
	int e = request(s, RTM_NEWADDR, &addr, sizeof addr);
	esc_check("RTM_NEWADDR (add an address to lo)", e == EPERM, "answer %s", e < 0 ? "none" : esc_errname(e));
	struct ifinfomsg down = { .ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_change = IFF_UP };
	e = request(s, RTM_NEWLINK, &down, sizeof down);
	esc_check("RTM_NEWLINK (take lo down)", e == EPERM, "answer %s", e < 0 ? "none" : esc_errname(e));
	struct rtmsg route = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_type = RTN_UNICAST };
	e = request(s, RTM_DELROUTE, &route, sizeof route);
	esc_check("RTM_DELROUTE", e == EPERM, "answer %s", e < 0 ? "none" : esc_errname(e));
	EXPECT_ERR("NETLINK_NETFILTER", socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER), EPROTONOSUPPORT);
	EXPECT_ERR("NETLINK_AUDIT", socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT), EPROTONOSUPPORT);
	EXPECT_ERR("NETLINK_KOBJECT_UEVENT", socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT), EPROTONOSUPPORT);
	EXPECT_ERR("NETLINK_GENERIC", socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC), EPROTONOSUPPORT);
	return esc_finish();
}
