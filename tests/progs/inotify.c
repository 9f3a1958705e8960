/* inotify: the events of changes made by this process and a child, seen
 * by a watch on a directory and one on a file (separate instances, so
 * each one's order is Linux's): create, open, write (merged when
 * repeated), close, chmod, truncate, rename (a cookie pairing the two
 * halves, MOVE_SELF), link, unlink (ATTRIB, DELETE_SELF, IGNORED),
 * mkdir and rmdir; then IN_ONESHOT, IN_MASK_ADD, IN_MASK_CREATE,
 * IN_ONLYDIR, inotify_rm_watch, FIONREAD, poll, a read too small for an
 * event, a blocking read woken by a child, and the errors. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *mask_str(unsigned m)
{
	static char out[256];
	static const struct { unsigned bit; const char *name; } names[] = {
		{ IN_ACCESS, "ACCESS" }, { IN_MODIFY, "MODIFY" }, { IN_ATTRIB, "ATTRIB" },
		{ IN_CLOSE_WRITE, "CLOSE_WRITE" }, { IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" }, { IN_OPEN, "OPEN" },
		{ IN_MOVED_FROM, "MOVED_FROM" }, { IN_MOVED_TO, "MOVED_TO" }, { IN_CREATE, "CREATE" },
		{ IN_DELETE, "DELETE" }, { IN_DELETE_SELF, "DELETE_SELF" }, { IN_MOVE_SELF, "MOVE_SELF" },
		{ IN_Q_OVERFLOW, "Q_OVERFLOW" }, { IN_IGNORED, "IGNORED" }, { IN_ISDIR, "ISDIR" },
	};
	out[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (m & names[i].bit) {
			if (out[0])
				strcat(out, "|");
			strcat(out, names[i].name);
		}
	return out;
}

static unsigned last_cookie;

/* Prints and takes every queued event of `fd` (non-blocking). */
static void drain(const char *who, int fd)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			printf("  %s: wd %d %s%s%s%s\n", who, e->wd, mask_str(e->mask), e->len ? " '" : "",
			       e->len ? e->name : "", e->len ? "'" : "");
			if (e->mask & (IN_MOVED_FROM | IN_MOVED_TO)) {
				if (e->mask & IN_MOVED_FROM)
					last_cookie = e->cookie;
				else
					printf("  %s: the move's cookie pairs: %s\n", who,
					       e->cookie && e->cookie == last_cookie ? "ok" : "bad");
			} else if (e->cookie) {
				printf("  %s: a cookie on a non-move event: bad\n", who);
			}
			p += sizeof *e + e->len;
		}
	}
	if (errno != EAGAIN)
		printf("  %s: read: %s\n", who, errname(errno));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("/tmp/w", 0755);
	int dir = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	CHECK("inotify_init1", dir >= 0 && fcntl(dir, F_GETFD) == FD_CLOEXEC);
	/* The limits are where programs (and LTP) look for them. */
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "/proc/sys/fs/inotify/max_user_watches" : "/proc/sys/fs/inotify/max_queued_events";
		FILE *f = fopen(name, "r");
		long v = 0;
		printf("%s: %s\n", name, f && fscanf(f, "%ld", &v) == 1 && v > 0 ? "a positive number" : "missing");
		if (f)
			fclose(f);
	}
	int dwd = inotify_add_watch(dir, "/tmp/w", IN_ALL_EVENTS);
	printf("watch on the directory: wd %d\n", dwd);

	puts("create and write f:");
	int fd = open("/tmp/w/f", O_CREAT | O_WRONLY, 0644);
	write(fd, "a", 1);
	write(fd, "b", 1);
	close(fd);
	drain("dir", dir);

	int file = inotify_init1(IN_NONBLOCK);
	int fwd = inotify_add_watch(file, "/tmp/w/f", IN_ALL_EVENTS);
	printf("watch on the file: wd %d\n", fwd);
	puts("read f:");
	char c;
	fd = open("/tmp/w/f", O_RDONLY);
	read(fd, &c, 1);
	close(fd);
	drain("dir", dir);
	drain("file", file);
	puts("chmod, truncate:");
	chmod("/tmp/w/f", 0600);
	truncate("/tmp/w/f", 1);
	drain("dir", dir);
	drain("file", file);
	puts("rename f to g:");
	rename("/tmp/w/f", "/tmp/w/g");
	drain("dir", dir);
	drain("file", file);
	puts("link g to h, unlink g:");
	link("/tmp/w/g", "/tmp/w/h");
	unlink("/tmp/w/g");
	drain("dir", dir);
	drain("file", file);
	puts("unlink h (its last name):");
	unlink("/tmp/w/h");
	drain("dir", dir);
	drain("file", file);
	puts("mkdir and rmdir d:");
	mkdir("/tmp/w/d", 0755);
	rmdir("/tmp/w/d");
	drain("dir", dir);

	/* Watch options. */
	int o = inotify_init1(IN_NONBLOCK);
	int fd2 = open("/tmp/w/x", O_CREAT | O_WRONLY, 0644);
	close(fd2);
	int owd = inotify_add_watch(o, "/tmp/w/x", IN_MODIFY | IN_ONESHOT);
	fd2 = open("/tmp/w/x", O_WRONLY);
	write(fd2, "1", 1);
	write(fd2, "2", 1);
	puts("IN_ONESHOT, two writes:");
	drain("oneshot", o);
	printf("rm_watch of the spent one-shot watch: %s\n", inotify_rm_watch(o, owd) ? errname(errno) : "ok");
	int m1 = inotify_add_watch(o, "/tmp/w/x", IN_MODIFY);
	int m2 = inotify_add_watch(o, "/tmp/w/x", IN_ATTRIB | IN_MASK_ADD);
	CHECK("the same file: the same wd", m1 == m2);
	write(fd2, "3", 1);
	chmod("/tmp/w/x", 0644);
	puts("IN_MASK_ADD kept IN_MODIFY:");
	drain("add", o);
	report("IN_MASK_CREATE on a watched file", inotify_add_watch(o, "/tmp/w/x", IN_MODIFY | IN_MASK_CREATE));
	report("IN_ONLYDIR on a file", inotify_add_watch(o, "/tmp/w/x", IN_MODIFY | IN_ONLYDIR));
	report("a missing path", inotify_add_watch(o, "/tmp/w/nothing", IN_MODIFY));
	report("an empty mask", inotify_add_watch(o, "/tmp/w/x", 0));
	report("on a pipe's fd", inotify_add_watch(fd2, "/tmp/w/x", IN_MODIFY));
	report("rm_watch of a bad wd", inotify_rm_watch(o, 999));
	report("rm_watch", inotify_rm_watch(o, m1));
	drain("rm", o);
	report("inotify_init1 with a bad flag", inotify_init1(0x1));

	/* FIONREAD, poll, a short read, and a blocking read a child wakes. */
	int b = inotify_init();
	inotify_add_watch(b, "/tmp/w", IN_CREATE);
	int pending = -1;
	ioctl(b, FIONREAD, &pending);
	printf("FIONREAD with none: %d\n", pending);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(100);
		close(open("/tmp/w/from-child", O_CREAT | O_WRONLY, 0644));
		_exit(0);
	}
	struct pollfd p = { .fd = b, .events = POLLIN };
	int k = poll(&p, 1, 5000);
	printf("poll: %d, revents %#x\n", k, p.revents);
	ioctl(b, FIONREAD, &pending);
	printf("FIONREAD: %d\n", pending);
	char small[8];
	report("a read of 8 bytes", read(b, small, sizeof small));
	char big[256] __attribute__((aligned(8)));
	ssize_t n = read(b, big, sizeof big);
	struct inotify_event *e = (struct inotify_event *)big;
	printf("the blocking read: %zd bytes, %s '%s', len %u\n", n, mask_str(e->mask), e->name, e->len);
	waitpid(pid, NULL, 0);

	unlink("/tmp/w/x");
	unlink("/tmp/w/from-child");
	close(fd2);
	printf("done\n");
	return 0;
}
