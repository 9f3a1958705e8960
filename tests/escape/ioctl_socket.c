/* Network ioctls on sockets (TCP, UDP, Unix): listing the interfaces
 * (SIOCGIFCONF), taking lo down (SIOCSIFFLAGS), changing an address
 * (SIOCSIFADDR), adding a route (SIOCADDRT), making a bridge
 * (SIOCBRADDBR), ethtool, and 0xdeadbeef. Husk's sockets answer none of
 * them: ENOTTY (so nothing of the host's network is seen or changed: the
 * test checks the host's lo is still up); FIONREAD is served. */
#include "escape.h"

#include <linux/sockios.h>
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
	} cmds[] = {
		{ "SIOCGIFCONF", SIOCGIFCONF, &ifc }, { "SIOCSIFFLAGS", SIOCSIFFLAGS, &ifr },
		{ "SIOCSIFADDR", SIOCSIFADDR, &ifr }, { "SIOCADDRT", SIOCADDRT, buf },
		{ "SIOCBRADDBR", SIOCBRADDBR, "husk0" }, { "SIOCETHTOOL", SIOCETHTOOL, &ifr },
		{ "SIOCSIFMTU", SIOCSIFMTU, &ifr },   { "0xdeadbeef", 0xdeadbeef, buf },
	};
	for (unsigned i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		snprintf(label, sizeof label, "%s: %s", what, cmds[i].name);
		EXPECT_ERR(label, ioctl(s, cmds[i].cmd, cmds[i].arg), ENOTTY);
	}
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
