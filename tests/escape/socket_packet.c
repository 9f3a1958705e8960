/* Packet sockets (every frame on an interface): AF_PACKET SOCK_RAW and
 * SOCK_DGRAM, and the old SOCK_PACKET: EPERM, whatever the app's
 * capabilities, as Linux answers without CAP_NET_RAW. */
#include "escape.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

int main(void)
{
	EXPECT_ERR("socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), EPERM);
	EXPECT_ERR("socket(AF_PACKET, SOCK_DGRAM, ETH_P_IP)", socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)), EPERM);
	EXPECT_ERR("socket(AF_INET, SOCK_PACKET)", socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)), EPERM);
	return esc_finish();
}
