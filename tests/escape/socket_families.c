/* Other socket families, each a kernel attack surface of its own: VSOCK
 * (to the hypervisor), ALG (kernel crypto), KEY (IPsec), XDP, CAN,
 * Bluetooth, TIPC, RDS, X.25, AppleTalk, SMC. EAFNOSUPPORT. */
#include "escape.h"

#include <sys/socket.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef AF_SMC
#define AF_SMC 43
#endif

int main(void)
{
	const struct {
		const char *name;
		int family, type;
	} f[] = {
		{ "AF_VSOCK", AF_VSOCK, SOCK_STREAM },	 { "AF_ALG", AF_ALG, SOCK_SEQPACKET },
		{ "AF_KEY", AF_KEY, SOCK_RAW },		 { "AF_XDP", AF_XDP, SOCK_RAW },
		{ "AF_CAN", AF_CAN, SOCK_RAW },		 { "AF_BLUETOOTH", AF_BLUETOOTH, SOCK_RAW },
		{ "AF_TIPC", AF_TIPC, SOCK_RDM },	 { "AF_RDS", AF_RDS, SOCK_SEQPACKET },
		{ "AF_X25", AF_X25, SOCK_SEQPACKET },	 { "AF_APPLETALK", AF_APPLETALK, SOCK_DGRAM },
		{ "AF_SMC", AF_SMC, SOCK_STREAM },
	};
	char label[64];
	for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++) {
		snprintf(label, sizeof label, "socket(%s)", f[i].name);
		EXPECT_ERR(label, socket(f[i].family, f[i].type, 0), EAFNOSUPPORT);
	}
	return esc_finish();
}
