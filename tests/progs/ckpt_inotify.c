/* inotify across a checkpoint, as a dev server's file watcher holds it:
 * watches on a tmpfs directory, on a file in it (one-shot) and on a root
 * file, with an event queued and not read. The program says "ready" and
 * waits for SIGUSR1 (a checkpoint and a restore come in between). Then it
 * reads the queued event, changes the files, and prints every event the
 * watches report, and the next watch descriptor. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_wait.h"

static void print_mask(unsigned m)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ IN_ACCESS, "ACCESS" },	{ IN_MODIFY, "MODIFY" },	 { IN_ATTRIB, "ATTRIB" },
		{ IN_CLOSE_WRITE, "CLOSE_WRITE" }, { IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" }, { IN_OPEN, "OPEN" },
		{ IN_CREATE, "CREATE" },	{ IN_DELETE, "DELETE" },	 { IN_IGNORED, "IGNORED" },
		{ IN_ISDIR, "ISDIR" },
	};
	const char *sep = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (m & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = "|";
		}
}

/* Prints the events queued on `fd` now. */
static void drain(int fd, const char *when)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n;
	int count = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			printf("%s: wd %d ", when, e->wd);
			print_mask(e->mask);
			printf(" %s\n", e->len ? e->name : "-");
			p += sizeof *e + e->len;
			count++;
		}
	}
	printf("%s: %d events\n", when, count);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	mkdir("/tmp/w", 0755);
	int f = open("/tmp/w/f", O_WRONLY | O_CREAT, 0644);
	close(f);
	int fd = inotify_init1(IN_NONBLOCK);
	int dir = inotify_add_watch(fd, "/tmp/w", IN_CREATE | IN_DELETE | IN_MODIFY);
	int file = inotify_add_watch(fd, "/tmp/w/f", IN_MODIFY | IN_ONESHOT);
	int root = inotify_add_watch(fd, "/data.txt", IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE);
	if (fd < 0 || dir < 0 || file < 0 || root < 0) {
		perror("inotify");
		return 2;
	}
	close(open("/tmp/w/a", O_WRONLY | O_CREAT, 0644));
	printf("ready\n");
	ckpt_wait_usr1();

	drain(fd, "queued before");
	close(open("/tmp/w/b", O_WRONLY | O_CREAT, 0644));
	f = open("/tmp/w/f", O_WRONLY);
	if (write(f, "changed", 7) != 7)
		return 2;
	close(f);
	char buf[8];
	int r = open("/data.txt", O_RDONLY);
	if (read(r, buf, sizeof buf) != sizeof buf)
		return 2;
	close(r);
	unlink("/tmp/w/a");
	drain(fd, "after");
	printf("a new watch: wd %d\n", inotify_add_watch(fd, "/tmp", IN_CREATE));
	printf("the one-shot watch is gone: %s\n", inotify_rm_watch(fd, file) != 0 ? "yes" : "no");
	return 0;
}
