/* Sockets holding what a checkpoint must carry besides bytes. Before
 * "ready":
 * - a stream socketpair with a pipe's read end in flight (SCM_RIGHTS; the
 *   sender closed its own copy, so only the message holds it), the pipe
 *   holding data, and a datagram socketpair in flight on a second message,
 *   itself holding a tmpfs file in flight, opened at an offset;
 * - a netlink route socket with a link dump asked for and not yet read;
 * - a UDP socket on the loopback holding "held " back with MSG_MORE.
 * The program waits for SIGUSR1 (a checkpoint and a restore come in
 * between). Then the received fds work as the files they were, the dump's
 * answer is there to read, and the UDP send without MSG_MORE sends the
 * held bytes with its own as one datagram. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt_wait.h"

static int send_fd(int sock, int fd, const char *data)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = strlen(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

static int recv_fd(int sock, char *data, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = data, .iov_len = len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sock, &mh, 0);
	if (n < 0)
		return -1;
	data[n] = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int s[2], d[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, d) != 0 || pipe(p) != 0)
		return 2;
	if (write(p[1], "through the pipe", 16) != 16)
		return 2;
	unlink("/tmp/ckpt-scm");
	int file = open("/tmp/ckpt-scm", O_CREAT | O_RDWR, 0600);
	if (file < 0 || write(file, "0123456789", 10) != 10 || lseek(file, 6, SEEK_SET) != 6)
		return 2;
	unlink("/tmp/ckpt-scm");
	/* The file travels on d, and d's other end travels on s. */
	if (send_fd(s[0], p[0], "a pipe") != 0 || send_fd(d[0], file, "a file") != 0 || send_fd(s[0], d[1], "a socket") != 0) {
		perror("sendmsg");
		return 2;
	}
	close(p[0]);
	close(file);
	close(d[1]);

	int nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 7 } };
	if (nl < 0 || send(nl, &req, sizeof(req), 0) < 0) {
		perror("netlink");
		return 2;
	}

	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	if (bind(rx, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(rx, (struct sockaddr *)&a, &alen) != 0 ||
	    connect(tx, (struct sockaddr *)&a, sizeof(a)) != 0 || send(tx, "held ", 5, MSG_MORE) != 5) {
		perror("udp");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	char buf[64];
	int got = recv_fd(s[1], buf, sizeof(buf));
	char data[64] = { 0 };
	printf("%s: %zd [%s]\n", buf, got < 0 ? -1 : read(got, data, sizeof(data) - 1), data);
	int sock = recv_fd(s[1], buf, sizeof(buf));
	int inner = sock < 0 ? -1 : recv_fd(sock, buf + 20, sizeof(buf) - 20);
	memset(data, 0, sizeof(data));
	printf("%s, then %s on it: %zd [%s]\n", buf, buf + 20, inner < 0 ? -1 : read(inner, data, sizeof(data) - 1), data);

	struct sockaddr_nl me;
	socklen_t melen = sizeof(me);
	getsockname(nl, (struct sockaddr *)&me, &melen);
	printf("the netlink port id is the pid: %s\n", me.nl_pid == (unsigned)getpid() ? "yes" : "no");
	int done = 0, msgs = 0;
	while (!done) {
		char nbuf[16384];
		ssize_t n = recv(nl, nbuf, sizeof(nbuf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)nbuf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 7)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				done = 1;
			else if (h->nlmsg_type == RTM_NEWLINK)
				msgs++;
		}
	}
	printf("the link dump: %s, %s\n", msgs > 0 ? "links" : "no links", done ? "done" : "not done");

	if (send(tx, "back", 4, 0) != 4)
		perror("send");
	memset(data, 0, sizeof(data));
	ssize_t n = recv(rx, data, sizeof(data) - 1, 0);
	printf("one datagram: %zd [%s]\n", n, data);
	return 0;
}
