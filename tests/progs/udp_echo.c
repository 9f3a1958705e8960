/* A UDP echo server for published UDP ports (`husk run -p
 * HOSTPORT:PORT/udp`): `udp_echo 4|6 PORT N` binds the any address of
 * that family to PORT, says "ready", then answers N datagrams with
 * "echo:" and what came, printing each sender as the app sees it. Then it
 * sends one datagram to the gateway at a port no client stands for
 * (which must go nowhere) and says "done". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: udp_echo 4|6 PORT N\n");
        return 2;
    }
    int v6 = atoi(argv[1]) == 6;
    int port = atoi(argv[2]), n = atoi(argv[3]);
    int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage me = {0};
    if (v6) {
        struct sockaddr_in6 *a = (void *)&me;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
    } else {
        struct sockaddr_in *a = (void *)&me;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
    }
    if (s < 0 || bind(s, (void *)&me, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in))) {
        perror("bind");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        char buf[2048], out[2100], name[INET6_ADDRSTRLEN];
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t got = recvfrom(s, buf, sizeof buf, 0, (void *)&from, &len);
        if (got < 0) {
            perror("recvfrom");
            return 1;
        }
        int from_port;
        if (from.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (void *)&from;
            inet_ntop(AF_INET6, &a->sin6_addr, name, sizeof name);
            from_port = ntohs(a->sin6_port);
        } else {
            struct sockaddr_in *a = (void *)&from;
            inet_ntop(AF_INET, &a->sin_addr, name, sizeof name);
            from_port = ntohs(a->sin_port);
        }
        printf("from %s %d: %.*s\n", name, from_port, (int)got, buf);
        fflush(stdout);
        int m = snprintf(out, sizeof out, "echo:%.*s", (int)got, buf);
        if (sendto(s, out, m, 0, (void *)&from, len) != m) {
            perror("sendto");
            return 1;
        }
    }
    /* Port 9 of the gateway stands for no client: lost (on Linux too, a
     * datagram to a host that does not answer goes without an error). */
    struct sockaddr_in gw = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "10.0.2.2", &gw.sin_addr);
    int r = v6 ? 0 : (int)sendto(s, "x", 1, 0, (void *)&gw, sizeof gw);
    printf("done %d\n", r);
    return 0;
}
