/* Raw IP sockets (forged packets, sniffing): AF_INET and AF_INET6
 * SOCK_RAW with ICMP, TCP and IPPROTO_RAW. The sandbox has no raw
 * sockets, whatever the app's capabilities (CAP_NET_RAW included): EPERM,
 * as Linux answers without the capability. */
#include "escape.h"

#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, ICMP)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM);
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, TCP)", socket(AF_INET, SOCK_RAW, IPPROTO_TCP), EPERM);
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_RAW), EPERM);
	EXPECT_ERR("socket(AF_INET6, SOCK_RAW, ICMPV6)", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), EPERM);
	return esc_finish();
}
