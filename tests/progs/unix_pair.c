/* Unix socket pairs: stream, datagram and seqpacket; message boundaries,
 * truncation, peeking, MSG_WAITALL, shutdown and close in each direction
 * with poll's view of them, EPIPE and SIGPIPE, files and credentials
 * passed with SCM_RIGHTS and SCM_CREDENTIALS, socket options and names,
 * and the errors of socketpair and the socket calls. Each check prints
 * "NAME: ok" or "NAME: bad", or the errno name for error cases. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int pair(int type, int sv[2])
{
	return socketpair(AF_UNIX, type, 0, sv);
}

static short revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	poll(&p, 1, 0);
	return p.revents;
}

static volatile int sigpipes;
static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static int late_fd;
static void *send_later(void *arg)
{
	sleep_ms(80);
	send(late_fd, arg, strlen(arg), 0);
	return NULL;
}

/* Sends fds over `sock` in one SCM_RIGHTS message with one data byte. */
static long send_fds(int sock, const int *fds, int n)
{
	char byte = 'f';
	struct iovec iov = { &byte, 1 };
	char buf[CMSG_SPACE(sizeof(int) * 8)];
	memset(buf, 0, sizeof buf);
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &m, 0);
}

static void stream_cases(void)
{
	int sv[2];
	report("socketpair(SOCK_STREAM)", pair(SOCK_STREAM, sv));
	char buf[64] = { 0 };
	write(sv[0], "hello", 5);
	CHECK("stream: write, then read", read(sv[1], buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5));
	send(sv[1], "back", 4, 0);
	CHECK("stream: the other way", recv(sv[0], buf, sizeof buf, 0) == 4 && !memcmp(buf, "back", 4));
	send(sv[0], "ab", 2, 0);
	send(sv[0], "cd", 2, 0);
	CHECK("stream: sends run together", recv(sv[1], buf, 4, 0) == 4 && !memcmp(buf, "abcd", 4));
	send(sv[0], "peek", 4, 0);
	CHECK("stream: MSG_PEEK leaves the data", recv(sv[1], buf, 2, MSG_PEEK) == 2 && !memcmp(buf, "pe", 2));
	CHECK("stream: then it is read", recv(sv[1], buf, 4, 0) == 4 && !memcmp(buf, "peek", 4));
	report("stream: MSG_DONTWAIT when empty", recv(sv[1], buf, 4, MSG_DONTWAIT));
	int n = -1;
	send(sv[0], "12345", 5, 0);
	ioctl(sv[1], FIONREAD, &n);
	printf("stream: FIONREAD %d\n", n);
	recv(sv[1], buf, 5, 0);
	printf("stream: poll when idle %#x\n", revents(sv[0], POLLIN | POLLOUT | POLLRDHUP));

	/* MSG_WAITALL waits for all of it. */
	late_fd = sv[0];
	pthread_t th;
	send(sv[0], "abc", 3, 0);
	pthread_create(&th, NULL, send_later, "def");
	long got = recv(sv[1], buf, 6, MSG_WAITALL);
	CHECK("stream: MSG_WAITALL gets all 6", got == 6 && !memcmp(buf, "abcdef", 6));
	pthread_join(th, NULL);

	/* A blocking read woken by another thread's send. */
	pthread_create(&th, NULL, send_later, "wake");
	CHECK("stream: a blocking read wakes for a send", recv(sv[1], buf, 64, 0) == 4);
	pthread_join(th, NULL);

	/* Shutting the write side: EOF for the peer, EPIPE for us. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	shutdown(sv[0], SHUT_WR);
	CHECK("shutdown(SHUT_WR): the peer reads EOF", read(sv[1], buf, 4) == 0);
	printf("shutdown(SHUT_WR): poll on the peer %#x\n", revents(sv[1], POLLIN | POLLOUT | POLLRDHUP));
	printf("shutdown(SHUT_WR): poll on this end %#x\n", revents(sv[0], POLLIN | POLLOUT | POLLRDHUP));
	report("shutdown(SHUT_WR): a send", send(sv[0], "x", 1, 0));
	printf("sigpipes: %d\n", sigpipes);
	report("shutdown(SHUT_WR): with MSG_NOSIGNAL", send(sv[0], "x", 1, MSG_NOSIGNAL));
	printf("sigpipes: %d\n", sigpipes);
	CHECK("shutdown(SHUT_WR): the peer can still send", send(sv[1], "ok", 2, 0) == 2);
	CHECK("shutdown(SHUT_WR): and this end read", recv(sv[0], buf, 2, 0) == 2);
	report("shutdown: a bad how", shutdown(sv[0], 7));
	close(sv[0]);
	close(sv[1]);

	/* Closing one end. */
	pair(SOCK_STREAM, sv);
	send(sv[0], "left", 4, 0);
	close(sv[0]);
	printf("close: poll on the survivor %#x\n", revents(sv[1], POLLIN | POLLOUT | POLLRDHUP));
	CHECK("close: queued data is still read", read(sv[1], buf, 64) == 4);
	CHECK("close: then EOF", read(sv[1], buf, 64) == 0);
	report("close: a send to the closed end", send(sv[1], "x", 1, MSG_NOSIGNAL));
	close(sv[1]);

	/* A megabyte through, with a writer thread. */
	pair(SOCK_STREAM, sv);
	static char big[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	pid_t pid = fork();
	if (pid == 0) {
		size_t off = 0;
		while (off < sizeof big) {
			long w = write(sv[0], big + off, sizeof big - off);
			if (w <= 0)
				_exit(1);
			off += w;
		}
		_exit(0);
	}
	close(sv[0]);
	static char in[1 << 20];
	size_t total = 0;
	long r;
	while ((r = read(sv[1], in + total, sizeof in - total)) > 0)
		total += r;
	int st;
	waitpid(pid, &st, 0);
	CHECK("stream: 1 MiB from a child arrives whole", total == sizeof big && !memcmp(in, big, sizeof big));
	close(sv[1]);
}

static void message_cases(int type, const char *name)
{
	int sv[2];
	char buf[64] = { 0 }, label[96];
	pair(type, sv);
	send(sv[0], "one", 3, 0);
	send(sv[0], "three", 5, 0);
	send(sv[0], "", 0, 0);
	snprintf(label, sizeof label, "%s: boundaries kept", name);
	CHECK(label, recv(sv[1], buf, 64, 0) == 3 && recv(sv[1], buf, 64, 0) == 5 && !memcmp(buf, "three", 5));
	snprintf(label, sizeof label, "%s: an empty message", name);
	CHECK(label, recv(sv[1], buf, 64, MSG_DONTWAIT) == 0);
	send(sv[0], "abcdef", 6, 0);
	struct iovec iov = { buf, 3 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	long n = recvmsg(sv[1], &m, 0);
	printf("%s: truncated read %ld, MSG_TRUNC %s\n", name, n, m.msg_flags & MSG_TRUNC ? "set" : "clear");
	send(sv[0], "abcdef", 6, 0);
	printf("%s: recv with MSG_TRUNC %ld\n", name, (long)recv(sv[1], buf, 2, MSG_TRUNC));
	int v = -1;
	send(sv[0], "four", 4, 0);
	ioctl(sv[1], FIONREAD, &v);
	printf("%s: FIONREAD %d\n", name, v);
	recv(sv[1], buf, 64, 0);
	static char huge[300000];
	snprintf(label, sizeof label, "%s: a message over SO_SNDBUF", name);
	report(label, send(sv[0], huge, sizeof huge, MSG_DONTWAIT));
	close(sv[0]);
	printf("%s: poll after the peer closed %#x\n", name, revents(sv[1], POLLIN | POLLOUT | POLLRDHUP));
	snprintf(label, sizeof label, "%s: recv after the peer closed", name);
	long r = recv(sv[1], buf, 64, MSG_DONTWAIT);
	if (r < 0)
		report(label, r);
	else
		printf("%s: %ld\n", label, r);
	snprintf(label, sizeof label, "%s: send after the peer closed", name);
	report(label, send(sv[1], "x", 1, MSG_NOSIGNAL));
	close(sv[1]);
}

static void rights_and_credentials(void)
{
	int sv[2], p[2];
	pair(SOCK_STREAM, sv);
	pipe(p);
	CHECK("SCM_RIGHTS: sendmsg", send_fds(sv[0], &p[0], 1) == 1);
	write(p[1], "via fd", 6);
	char byte, buf[CMSG_SPACE(sizeof(int) * 8)], data[16] = { 0 };
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf };
	long n = recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int got = -1;
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&got, CMSG_DATA(c), sizeof got);
	printf("SCM_RIGHTS: recvmsg %ld, controllen %zu, cmsg_len %zu\n", n, (size_t)m.msg_controllen, c ? (size_t)c->cmsg_len : 0);
	CHECK("SCM_RIGHTS: the received fd reads the pipe", got >= 0 && read(got, data, 6) == 6 && !memcmp(data, "via fd", 6));
	CHECK("SCM_RIGHTS: MSG_CMSG_CLOEXEC", got >= 0 && fcntl(got, F_GETFD) == FD_CLOEXEC);
	close(got);

	/* Too small a control buffer: MSG_CTRUNC, and the files are closed. */
	int three[3] = { p[0], p[1], sv[0] };
	send_fds(sv[0], three, 3);
	char small[CMSG_SPACE(sizeof(int))];
	struct msghdr m2 = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = small, .msg_controllen = sizeof small };
	n = recvmsg(sv[1], &m2, 0);
	printf("SCM_RIGHTS: into room for one: %ld, MSG_CTRUNC %s, controllen %zu\n", n,
	       m2.msg_flags & MSG_CTRUNC ? "set" : "clear", (size_t)m2.msg_controllen);
	c = CMSG_FIRSTHDR(&m2);
	if (c) {
		memcpy(&got, CMSG_DATA(c), sizeof got);
		close(got);
	}
	int bad = 999;
	report("SCM_RIGHTS: a bad fd", send_fds(sv[0], &bad, 1));

	/* Credentials, with SO_PASSCRED on the receiver. */
	int on = 1;
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	send(sv[0], "c", 1, 0);
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct msghdr m3 = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	recvmsg(sv[1], &m3, 0);
	c = CMSG_FIRSTHDR(&m3);
	struct ucred uc = { 0 };
	if (c && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&uc, CMSG_DATA(c), sizeof uc);
	CHECK("SO_PASSCRED: the sender's pid, uid and gid", uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());
	socklen_t len = sizeof uc;
	struct ucred peer = { 0 };
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &peer, &len);
	CHECK("SO_PEERCRED", len == sizeof peer && peer.pid == getpid() && peer.uid == getuid());
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void options_names_and_errors(void)
{
	int sv[2], v;
	socklen_t len;
	pair(SOCK_DGRAM, sv);
	int opts[] = { SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED };
	const char *names[] = { "SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ACCEPTCONN", "SO_ERROR", "SO_SNDBUF", "SO_RCVBUF", "SO_PASSCRED" };
	for (int i = 0; i < 8; i++) {
		len = sizeof v;
		v = -1;
		getsockopt(sv[0], SOL_SOCKET, opts[i], &v, &len);
		printf("getsockopt %s: %d (len %u)\n", names[i], v, len);
	}
	v = 1000;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	len = sizeof v;
	getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len);
	printf("SO_SNDBUF after setting 1000: %d\n", v);
	report("setsockopt: a short value", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, 2));
	/* Options Linux takes on any socket, and reads back. */
	int kept[] = { SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST, SO_RCVLOWAT };
	const char *kept_names[] = { "SO_REUSEADDR", "SO_KEEPALIVE", "SO_BROADCAST", "SO_RCVLOWAT" };
	for (int i = 0; i < 4; i++) {
		int before = -1, set = i == 3 ? 0 : 5, after = -1;
		len = sizeof before;
		getsockopt(sv[0], SOL_SOCKET, kept[i], &before, &len);
		setsockopt(sv[0], SOL_SOCKET, kept[i], &set, sizeof set);
		len = sizeof after;
		getsockopt(sv[0], SOL_SOCKET, kept[i], &after, &len);
		printf("%s: %d, set to %d reads %d\n", kept_names[i], before, set, after);
	}
	struct linger lg = { 1, 7 }, lg2 = { -1, -1 };
	setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	len = sizeof lg2;
	getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg2, &len);
	printf("SO_LINGER: %d %d (len %u)\n", lg2.l_onoff, lg2.l_linger, len);
	report("getsockopt: an unknown option", getsockopt(sv[0], SOL_SOCKET, 9999, &v, &len));
	report("getsockopt: another level", getsockopt(sv[0], 6, 1, &v, &len));
	struct timeval tv = { 0, 50000 };
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char b[8];
	long t0 = now_ms();
	report("SO_RCVTIMEO: recv on an empty socket", recv(sv[0], b, 8, 0));
	CHECK("SO_RCVTIMEO: waited about 50 ms", now_ms() - t0 >= 40);
	struct sockaddr_un sun;
	memset(&sun, 0x55, sizeof sun);
	len = sizeof sun;
	getsockname(sv[0], (struct sockaddr *)&sun, &len);
	printf("getsockname: len %u, family %d\n", len, sun.sun_family);
	len = sizeof sun;
	getpeername(sv[0], (struct sockaddr *)&sun, &len);
	printf("getpeername: len %u, family %d\n", len, sun.sun_family);
	struct sockaddr_un to = { .sun_family = AF_UNIX, .sun_path = "\0nobody" };
	report("sendto: an abstract name nobody has", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&to, sizeof to));
	struct sockaddr_un path = { .sun_family = AF_UNIX, .sun_path = "/nonexistent.sock" };
	report("sendto: a path nobody has", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&path, sizeof path));
	struct stat st;
	fstat(sv[0], &st);
	CHECK("fstat: S_ISSOCK", S_ISSOCK(st.st_mode));
	report("lseek on a socket", lseek(sv[0], 0, SEEK_SET));
	char link[64] = { 0 }, proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", sv[0]);
	readlink(proc, link, sizeof link - 1);
	CHECK("fd link is socket:[...]", !strncmp(link, "socket:[", 8));
	close(sv[0]);
	close(sv[1]);

	report("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, sv));
	report("socketpair(AF 99)", socketpair(99, SOCK_STREAM, 0, sv));
	report("socketpair(type 99)", socketpair(AF_UNIX, 99, 0, sv));
	report("socketpair(SOCK_RDM)", socketpair(AF_UNIX, SOCK_RDM, 0, sv));
	report("socketpair(protocol 7)", socketpair(AF_UNIX, SOCK_STREAM, 7, sv));
	report("socketpair(a bad pointer)", socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)8));
	report("socketpair(SOCK_RAW)", socketpair(AF_UNIX, SOCK_RAW, 0, sv));
	close(sv[0]);
	close(sv[1]);
	pair(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, sv);
	CHECK("SOCK_NONBLOCK", fcntl(sv[0], F_GETFL) & O_NONBLOCK);
	CHECK("SOCK_CLOEXEC", fcntl(sv[0], F_GETFD) == FD_CLOEXEC);
	report("stream: sendto with an address", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&to, sizeof to));
	int p[2];
	pipe(p);
	report("recv on a pipe", recv(p[0], b, 1, MSG_DONTWAIT));
	report("getsockopt on a bad fd", getsockopt(999, SOL_SOCKET, SO_TYPE, &v, &len));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void mmsg_cases(void)
{
	int sv[2];
	pair(SOCK_DGRAM, sv);
	char a[] = "one", b[] = "three", c[] = "fifth";
	struct iovec out_iov[3] = { { a, 3 }, { b, 5 }, { c, 5 } };
	struct mmsghdr out[3];
	memset(out, 0, sizeof out);
	for (int i = 0; i < 3; i++) {
		out[i].msg_hdr.msg_iov = &out_iov[i];
		out[i].msg_hdr.msg_iovlen = 1;
	}
	int n = sendmmsg(sv[0], out, 3, 0);
	printf("sendmmsg: %d, lengths %u %u %u\n", n, out[0].msg_len, out[1].msg_len, out[2].msg_len);
	printf("sendmmsg of none: %d\n", sendmmsg(sv[0], out, 0, 0));
	char bufs[4][16];
	struct iovec in_iov[4];
	struct mmsghdr in[4];
	memset(in, 0, sizeof in);
	for (int i = 0; i < 4; i++) {
		in_iov[i].iov_base = bufs[i];
		in_iov[i].iov_len = sizeof bufs[i];
		in[i].msg_hdr.msg_iov = &in_iov[i];
		in[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(sv[1], in, 4, MSG_WAITFORONE, NULL);
	printf("recvmmsg (MSG_WAITFORONE): %d, lengths %u %u %u\n", n, in[0].msg_len, in[1].msg_len, in[2].msg_len);
	CHECK("recvmmsg: in order", n == 3 && !memcmp(bufs[1], "three", 5) && !memcmp(bufs[2], "fifth", 5));
	report("recvmmsg: nothing, MSG_DONTWAIT", recvmmsg(sv[1], in, 4, MSG_DONTWAIT, NULL));
	send(sv[0], "x", 1, 0);
	struct timespec ts = { 0, 1000000000 };
	report("recvmmsg: a bad timeout", recvmmsg(sv[1], in, 4, 0, &ts));
	int p[2];
	pipe(p);
	report("sendmmsg on a pipe", sendmmsg(p[1], out, 1, 0));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	mmsg_cases();
	stream_cases();
	message_cases(SOCK_DGRAM, "dgram");
	message_cases(SOCK_SEQPACKET, "seqpacket");
	rights_and_credentials();
	options_names_and_errors();
	printf("done\n");
	return 0;
}
