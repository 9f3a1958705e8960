/* Named Unix sockets: abstract names, paths in /tmp and autobind; listen,
 * connect and accept (blocking, non-blocking, the backlog); names as
 * getsockname, getpeername, accept and recvfrom report them; datagram
 * sockets with and without a default peer; ECONNRESET for connections
 * never accepted; and the errors of each call. A child process is the
 * client where a blocking accept needs one. Each check prints "NAME: ok"
 * or "NAME: bad", or the errno name for error cases. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* An abstract address "\0husk-NAME", and its length. */
static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(a->sun_path + 1, name, n);
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static socklen_t path(struct sockaddr_un *a, const char *p)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, p);
	return offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1;
}

static void print_name(const char *what, int fd, int peer)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	socklen_t len = sizeof a;
	int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len);
	if (r < 0) {
		printf("%s: %s\n", what, errname(errno));
		return;
	}
	if (len <= offsetof(struct sockaddr_un, sun_path))
		printf("%s: unnamed (len %u)\n", what, len);
	else if (a.sun_path[0] == 0)
		printf("%s: abstract \"%.*s\" (len %u)\n", what, (int)(len - 3), a.sun_path + 1, len);
	else
		printf("%s: path %s (len %u)\n", what, a.sun_path, len);
}

static short revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	poll(&p, 1, 0);
	return p.revents;
}

static void stream_server(int type, const char *label)
{
	struct sockaddr_un a;
	char buf[64], what[96];
	int srv = socket(AF_UNIX, type, 0);
	socklen_t alen = abstract(&a, label);
	snprintf(what, sizeof what, "%s: bind", label);
	report(what, bind(srv, (struct sockaddr *)&a, alen));
	snprintf(what, sizeof what, "%s: listen", label);
	report(what, listen(srv, 4));
	int v = -1;
	socklen_t vl = sizeof v;
	getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	printf("%s: SO_ACCEPTCONN %d\n", label, v);
	printf("%s: poll on the listener, idle %#x\n", label, revents(srv));
	fcntl(srv, F_SETFL, O_NONBLOCK);
	snprintf(what, sizeof what, "%s: accept with none waiting", label);
	report(what, accept(srv, NULL, NULL));
	fcntl(srv, F_SETFL, 0);

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, type, 0);
		if (connect(c, (struct sockaddr *)&a, alen) < 0)
			_exit(1);
		send(c, "from the client", 15, 0);
		char b[8];
		recv(c, b, sizeof b, 0);
		_exit(memcmp(b, "bye", 3) == 0 ? 0 : 2);
	}
	struct sockaddr_un peer;
	socklen_t plen = sizeof peer;
	int conn = accept4(srv, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	printf("%s: accept4: %s, peer address len %u, cloexec %s\n", label, conn >= 0 ? "ok" : errname(errno), plen,
	       fcntl(conn, F_GETFD) == FD_CLOEXEC ? "yes" : "no");
	long n = recv(conn, buf, sizeof buf, 0);
	printf("%s: got %.*s\n", label, (int)n, buf);
	send(conn, "bye", 3, 0);
	print_name("  listener's name", srv, 0);
	print_name("  accepted socket's name", conn, 0);
	print_name("  accepted socket's peer", conn, 1);
	int st;
	waitpid(pid, &st, 0);
	printf("%s: client %s\n", label, status_str(st));
	close(conn);

	/* The client's view, in this process. */
	int c = socket(AF_UNIX, type, 0);
	report("  connect", connect(c, (struct sockaddr *)&a, alen));
	print_name("  client's name", c, 0);
	print_name("  client's peer", c, 1);
	printf("  poll on the listener, one waiting %#x\n", revents(srv));
	report("  connect again", connect(c, (struct sockaddr *)&a, alen));
	/* The listener closes with the connection never accepted. */
	close(srv);
	printf("  poll on the client after the listener closed %#x\n", revents(c));
	report("  recv after the listener closed", recv(c, buf, sizeof buf, 0));
	report("  then", recv(c, buf, sizeof buf, 0));
	close(c);
}

static void paths_and_errors(void)
{
	struct sockaddr_un a, b;
	char buf[32];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	socklen_t plen = path(&a, "/tmp/husk.sock");
	report("path: bind /tmp/husk.sock", bind(s, (struct sockaddr *)&a, plen));
	struct stat st;
	CHECK("path: a socket file", stat("/tmp/husk.sock", &st) == 0 && S_ISSOCK(st.st_mode));
	printf("path: mode %o\n", st.st_mode & 07777);
	report("path: bind again", bind(s, (struct sockaddr *)&b, path(&b, "/tmp/other.sock")));
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("path: another bind to the same path", bind(s2, (struct sockaddr *)&a, plen));
	report("path: connect before listen", connect(s2, (struct sockaddr *)&a, plen));
	listen(s, 0);
	print_name("path: listener's name", s, 0);
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	report("path: connect (backlog 0)", connect(c1, (struct sockaddr *)&a, plen));
	report("path: a second connect (backlog 0, one more is allowed)", connect(c2, (struct sockaddr *)&a, plen));
	report("path: a third connect (backlog full)", connect(c3, (struct sockaddr *)&a, plen));
	int ac = accept(s, NULL, NULL);
	send(c1, "hi", 2, 0);
	CHECK("path: accepted, data through", recv(ac, buf, sizeof buf, 0) == 2);
	close(ac);
	close(c1);
	close(c2);
	close(c3);
	unlink("/tmp/husk.sock");
	int c4 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("path: connect after unlink", connect(c4, (struct sockaddr *)&a, plen));
	int fd = open("/tmp/plain", O_CREAT | O_WRONLY, 0644);
	close(fd);
	report("path: connect to a regular file", connect(c4, (struct sockaddr *)&b, path(&b, "/tmp/plain")));
	report("path: bind where a file is", bind(c4, (struct sockaddr *)&b, path(&b, "/tmp/plain")));
	report("path: bind in a missing directory", bind(c4, (struct sockaddr *)&b, path(&b, "/tmp/no/such")));
	report("abstract: connect to a name nobody has", connect(c4, (struct sockaddr *)&b, abstract(&b, "nobody")));
	report("connect: a short address", connect(c4, (struct sockaddr *)&b, 1));
	b.sun_family = AF_INET;
	report("connect: another family", connect(c4, (struct sockaddr *)&b, sizeof b));
	report("getpeername: unconnected", getpeername(c4, (struct sockaddr *)&b, &plen));
	printf("unconnected stream: poll %#x\n", revents(c4));
	report("unconnected stream: recv", recv(c4, buf, 1, MSG_DONTWAIT));
	report("unconnected stream: send", send(c4, "x", 1, MSG_NOSIGNAL));
	report("listen: unbound", listen(c4, 1));
	report("accept: not listening", accept(c4, NULL, NULL));
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(d, (struct sockaddr *)&b, abstract(&b, "dgram-listen"));
	report("listen: a datagram socket", listen(d, 1));
	report("connect: a stream socket to a datagram one", connect(c4, (struct sockaddr *)&b, abstract(&b, "dgram-listen")));
	int pd = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(pd, (struct sockaddr *)&b, path(&b, "/tmp/dgram.sock"));
	report("connect: a stream socket to a datagram path", connect(c4, (struct sockaddr *)&b, path(&b, "/tmp/dgram.sock")));
	close(pd);
	close(d);
	report("socket(AF_UNIX, 99)", socket(AF_UNIX, 99, 0));
	report("socket(AF_UNIX, SOCK_STREAM, 5)", socket(AF_UNIX, SOCK_STREAM, 5));
	report("accept4: unknown flags", accept4(s, NULL, NULL, 0x1));
	close(c4);
	close(s);
	close(s2);
}

static void datagrams(void)
{
	struct sockaddr_un a, from;
	char buf[32];
	int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
	socklen_t alen = abstract(&a, "dgram-server");
	bind(srv, (struct sockaddr *)&a, alen);
	int cl = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("dgram: sendto the server, unbound", sendto(cl, "one", 3, 0, (struct sockaddr *)&a, alen));
	socklen_t flen = sizeof from;
	long n = recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	printf("dgram: recvfrom %ld, sender address len %u\n", n, flen);
	struct sockaddr_un auto_addr = { .sun_family = AF_UNIX };
	report("dgram: autobind", bind(cl, (struct sockaddr *)&auto_addr, sizeof(sa_family_t)));
	socklen_t l = sizeof auto_addr;
	getsockname(cl, (struct sockaddr *)&auto_addr, &l);
	printf("dgram: autobound name len %u, abstract %s\n", l, auto_addr.sun_path[0] == 0 ? "yes" : "no");
	sendto(cl, "two", 3, 0, (struct sockaddr *)&a, alen);
	flen = sizeof from;
	recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	CHECK("dgram: the sender's name comes with it", flen == l && !memcmp(&from, &auto_addr, l));
	report("dgram: send, no peer", send(cl, "x", 1, 0));
	report("dgram: connect", connect(cl, (struct sockaddr *)&a, alen));
	print_name("dgram: peer", cl, 1);
	report("dgram: send to the default peer", send(cl, "three", 5, 0));
	CHECK("dgram: received", recv(srv, buf, sizeof buf, 0) == 5);
	/* A third socket may not send to one connected elsewhere. */
	int other = socket(AF_UNIX, SOCK_DGRAM, 0);
	connect(srv, (struct sockaddr *)&auto_addr, l);
	report("dgram: sendto a socket connected to another", sendto(other, "x", 1, 0, (struct sockaddr *)&a, alen));
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	report("dgram: disconnect (AF_UNSPEC)", connect(cl, &unspec, sizeof unspec));
	report("dgram: send after disconnecting", send(cl, "x", 1, 0));
	struct sockaddr_un p;
	report("dgram: sendto a path nobody bound", sendto(other, "x", 1, 0, (struct sockaddr *)&p, path(&p, "/tmp/none")));
	close(other);
	close(cl);
	close(srv);
	/* Names are free again once their socket is closed. */
	int again = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("abstract: the name is free after close", bind(again, (struct sockaddr *)&a, alen));
	close(again);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	stream_server(SOCK_STREAM, "stream");
	stream_server(SOCK_SEQPACKET, "seqpacket");
	paths_and_errors();
	datagrams();
	printf("done\n");
	return 0;
}
