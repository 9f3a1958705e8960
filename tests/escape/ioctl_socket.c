/* Network ioctls on sockets (TCP, UDP, Unix): listing the interfaces
 * (SIOCGIFCONF: the sandbox's own, never the host's), taking lo down
 * (SIOCSIFFLAGS), changing an address or the MTU (SIOCSIFADDR,
 * SIOCSIFMTU), adding a route (SIOCADDRT): EPERM, the sandbox's network
 * is fixed; making a bridge (SIOCBRADDBR), ethtool, and 0xdeadbeef:
 * ENOTTY. (The test checks the host's lo is still up.) FIONREAD is
 * served. */
#include "escape.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static void on(const char *what, int s)
{
	char label[128], buf[1024];
	struct ifconf ifc = { .ifc_len = sizeof buf, .ifc_buf = buf };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	const struct {
		const char *name;
		unsigned long cmd;
		void *arg;
		int want;
	} cmds[] = {
		{ "SIOCSIFFLAGS", SIOCSIFFLAGS, &ifr, EPERM },	 { "SIOCSIFADDR", SIOCSIFADDR, &ifr, EPERM },
		{ "SIOCADDRT", SIOCADDRT, buf, EPERM },		 { "SIOCSIFMTU", SIOCSIFMTU, &ifr, EPERM },
		{ "SIOCBRADDBR", SIOCBRADDBR, "husk0", ENOTTY }, { "SIOCETHTOOL", SIOCETHTOOL, &ifr, ENOTTY },
		{ "0xdeadbeef", 0xdeadbeef, buf, ENOTTY },
	};
	for (unsigned i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		snprintf(label, sizeof label, "%s: %s", what, cmds[i].name);
		EXPECT_ERR(label, ioctl(s, cmds[i].cmd, cmds[i].arg), cmds[i].want);
	}
	/* Only the sandbox's addresses: 127.0.0.1, and 10.0.2.15 under NAT. */
	snprintf(label, sizeof label, "%s: SIOCGIFCONF", what);
	int r = ioctl(s, SIOCGIFCONF, &ifc), sandbox_only = r == 0;
	for (int i = 0; r == 0 && i < ifc.ifc_len / (int)sizeof(struct ifreq); i++) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ifc.ifc_req[i].ifr_addr;
		unsigned ip = ntohl(a->sin_addr.s_addr);
		sandbox_only &= ip == 0x7f000001 || ip == 0x0a00020f;
	}
	esc_check(label, sandbox_only, "%d interfaces, all the sandbox's: %d", r == 0 ? ifc.ifc_len / (int)sizeof(struct ifreq) : -1, sandbox_only);
	int n;
	snprintf(label, sizeof label, "%s: FIONREAD", what);
	EXPECT_OK(label, ioctl(s, FIONREAD, &n));
}

int main(void)
{
	on("TCP", socket(AF_INET, SOCK_STREAM, 0));
	on("UDP", socket(AF_INET, SOCK_DGRAM, 0));
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	on("Unix", sv[0]);
	return esc_finish();
}
