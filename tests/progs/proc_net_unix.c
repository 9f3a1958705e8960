/* /proc/net/unix as the sandbox's Unix sockets show in it: a stream
 * listener at a path with a connection not yet accepted (then accepted),
 * a bound datagram socket and an unnamed one connected to it, an abstract
 * seqpacket listener whose name holds a NUL, and a socketpair. Each
 * socket's line is found by its inode (fstat's st_ino) or its path, and
 * its fields printed, except the pointer (hashed or zeros, as
 * kptr_restrict says), which is only checked for its shape. */
#include "common.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

struct line {
	char ptr[64];
	unsigned refs, proto, flags, type, st;
	unsigned long ino;
	char path[128];
};

static struct line lines[256];
static int nlines;

static void load(void)
{
	FILE *f = fopen("/proc/net/unix", "r");
	if (!f) {
		printf("open: %s\n", errname(errno));
		exit(1);
	}
	char buf[512];
	nlines = 0;
	if (!fgets(buf, sizeof buf, f)) {
		printf("header: none\n");
		exit(1);
	}
	static int shown;
	int bad = 0;
	if (!shown++)
		printf("header: %s", buf);
	while (nlines < 256 && fgets(buf, sizeof buf, f)) {
		struct line *l = &lines[nlines];
		int n = 0;
		memset(l, 0, sizeof *l);
		if (sscanf(buf, "%63[^:]: %x %x %x %x %x %lu%n", l->ptr, &l->refs, &l->proto, &l->flags, &l->type,
			   &l->st, &l->ino, &n) != 7) {
			printf("unparsed line: %s", buf);
			continue;
		}
		if (buf[n] == ' ')
			snprintf(l->path, sizeof l->path, "%.*s", (int)strcspn(buf + n + 1, "\n"), buf + n + 1);
		bad += strlen(l->ptr) != 16 || strspn(l->ptr, "0123456789abcdef") != 16;
		nlines++;
	}
	fclose(f);
	CHECK("pointers are 16 hex digits", !bad);
}

static void show(const char *what, const struct line *l)
{
	if (!l) {
		printf("%s: no line\n", what);
		return;
	}
	printf("%s: refs %u proto %u flags %08X type %04X st %02X path '%s'\n", what, l->refs, l->proto, l->flags,
	       l->type, l->st, l->path);
}

static const struct line *by_inode(int fd)
{
	struct stat s;
	if (fstat(fd, &s) != 0)
		return NULL;
	for (int i = 0; i < nlines; i++)
		if (lines[i].ino == s.st_ino)
			return &lines[i];
	return NULL;
}

static int count_path(const char *p)
{
	int n = 0;
	for (int i = 0; i < nlines; i++)
		n += !strcmp(lines[i].path, p);
	return n;
}

static socklen_t path_addr(struct sockaddr_un *a, const char *p)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, p);
	return offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1;
}

int main(void)
{
	struct sockaddr_un a;
	socklen_t len;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	len = path_addr(&a, "/tmp/x.sock");
	report("bind the listener", bind(l, (struct sockaddr *)&a, len));
	report("listen", listen(l, 5));
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect", connect(c, (struct sockaddr *)&a, len));

	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	len = path_addr(&a, "/tmp/d.sock");
	report("bind the datagram socket", bind(d, (struct sockaddr *)&a, len));
	int d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("connect a datagram socket", connect(d2, (struct sockaddr *)&a, len));

	int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, "\0husk-proc\0x", 12);
	report("bind an abstract name", bind(q, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 12));
	report("listen on it", listen(q, 1));

	int sv[2];
	report("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

	load();
	printf("lines: %d\n", nlines);
	show("listener", by_inode(l));
	show("client", by_inode(c));
	show("datagram", by_inode(d));
	show("connected datagram", by_inode(d2));
	show("seqpacket", by_inode(q));
	show("pair 0", by_inode(sv[0]));
	show("pair 1", by_inode(sv[1]));
	const struct line *embryo = NULL;
	for (int i = 0; i < nlines; i++)
		if (!strcmp(lines[i].path, "/tmp/x.sock") && lines[i].ino == 0)
			embryo = &lines[i];
	show("not yet accepted (inode 0)", embryo);
	printf("lines at /tmp/x.sock: %d\n", count_path("/tmp/x.sock"));

	int s = accept(l, NULL, NULL);
	report("accept", s);
	load();
	printf("lines: %d\n", nlines);
	show("accepted", by_inode(s));
	printf("lines at /tmp/x.sock: %d\n", count_path("/tmp/x.sock"));

	close(l);
	close(q);
	load();
	printf("after closing the listeners, lines: %d, at /tmp/x.sock: %d, at @husk-proc@x: %d\n", nlines,
	       count_path("/tmp/x.sock"), count_path("@husk-proc@x"));
	printf("done\n");
	return 0;
}
