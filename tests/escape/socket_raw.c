/* Raw IP sockets (forged packets, sniffing): AF_INET and AF_INET6
 * SOCK_RAW with ICMP, TCP and IPPROTO_RAW. The sandbox's network stack
 * has no raw sockets: ESOCKTNOSUPPORT. */
#include "escape.h"

#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, ICMP)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), ESOCKTNOSUPPORT);
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, TCP)", socket(AF_INET, SOCK_RAW, IPPROTO_TCP), ESOCKTNOSUPPORT);
	EXPECT_ERR("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_RAW), ESOCKTNOSUPPORT);
	EXPECT_ERR("socket(AF_INET6, SOCK_RAW, ICMPV6)", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), ESOCKTNOSUPPORT);
	return esc_finish();
}
