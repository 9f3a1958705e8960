/* Echoes to an address outside the sandbox by an unprivileged ping socket
 * (`--network nat`: the relay's host ping socket carries them). Run
 * natively from the test's namespace and under Husk there, and compared:
 * `ping_outside ADDR` sends three echo requests to ADDR from one socket
 * and prints each reply (type, code, sequence, payload, sender); then
 * one socket pings ADDR and the loopback in turn. `ping_outside once
 * ADDR` sends one and prints what came of it (a refused destination). */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

static struct sockaddr_in addr_of(const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		printf("%s: bad (not an IPv4 address)\n", ip);
		exit(1);
	}
	return a;
}

/* One echo request with sequence `seq` to `to`; 0, or -1 with errno. */
static int request(int s, struct sockaddr_in to, int seq)
{
	unsigned char req[8 + 16] = { ICMP_ECHO, 0, 0, 0, 0, 0, seq >> 8, seq & 0xff };
	snprintf((char *)req + 8, 16, "husk-echo-%d", seq);
	return sendto(s, req, sizeof req, 0, (struct sockaddr *)&to, sizeof to) == sizeof req ? 0 : -1;
}

/* Waits (up to 5 s) for one reply and prints it, naming its sender by
 * whether it is `want`. */
static void reply(int s, struct sockaddr_in want, const char *label)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1) {
		printf("%s: no reply\n", label);
		return;
	}
	unsigned char rep[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(s, rep, sizeof rep, 0, (struct sockaddr *)&from, &fl);
	if (n < 8) {
		printf("%s: recvfrom %zd %s\n", label, n, n < 0 ? errname(errno) : "short");
		return;
	}
	printf("%s: %zd bytes, type %d code %d, seq %d, payload '%.*s', from it %d\n", label, n, rep[0], rep[1],
	       (rep[6] << 8) | rep[7], (int)(n - 8), (char *)rep + 8, from.sin_addr.s_addr == want.sin_addr.s_addr);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "once") == 0) {
		int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
		if (s < 0) {
			printf("socket: %s\n", errname(errno));
			return 0;
		}
		report("once: sendto", request(s, addr_of(argv[2]), 1));
		return 0;
	}
	if (argc != 2) {
		printf("usage: ping_outside ADDR | once ADDR\n");
		return 2;
	}
	struct sockaddr_in to = addr_of(argv[1]);
	int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (s < 0) {
		printf("socket: %s\n", errname(errno));
		return 0;
	}
	for (int seq = 1; seq <= 3; seq++) {
		char label[16];
		snprintf(label, sizeof label, "echo %d", seq);
		if (request(s, to, seq) < 0)
			printf("%s: sendto %s\n", label, errname(errno));
		else
			reply(s, to, label);
	}
	/* One socket, two destinations: outside, then the loopback. */
	struct sockaddr_in lo = addr_of("127.0.0.1");
	report("outside again: sendto", request(s, to, 4));
	reply(s, to, "outside again");
	report("loopback: sendto", request(s, lo, 5));
	reply(s, lo, "loopback");
	close(s);
	return 0;
}
