/* inotify's IN_EXCL_UNLINK (a directory's watch hears nothing of an entry
 * unlinked from it, though still open) against a watch without it, and
 * /proc/self/fdinfo's "inotify wd: ... mask:" lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_events(int in)
{
	char buf[4096];
	int n = 0;
	ssize_t len;
	while ((len = read(in, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->mask & IN_MODIFY)
				n++;
			p += sizeof(*e) + e->len;
		}
	}
	return n;
}

static void run(unsigned extra)
{
	mkdir("/tmp/watched", 0755);
	int in = inotify_init1(IN_NONBLOCK);
	int fd = open("/tmp/watched/f", O_CREAT | O_RDWR, 0644);
	int wd = inotify_add_watch(in, "/tmp/watched", IN_MODIFY | extra);
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", in);
	FILE *fi = fopen(path, "r");
	unsigned mask = 0;
	int found = 0;
	while (fi && fgets(line, sizeof(line), fi))
		if (sscanf(line, "inotify wd:%*x ino:%*x sdev:%*x mask:%x", &mask) == 1)
			found = 1;
	if (fi)
		fclose(fi);
	printf("%s: fdinfo line %s, mask %#x, wd %d\n", extra ? "IN_EXCL_UNLINK" : "plain", found ? "found" : "missing",
	       mask, wd);
	if (write(fd, "1", 1) != 1)
		return;
	printf("  IN_MODIFY events: %d", count_events(in));
	unlink("/tmp/watched/f");
	if (write(fd, "2", 1) != 1)
		return;
	printf(", after the unlink: %d\n", count_events(in));
	close(fd);
	close(in);
	rmdir("/tmp/watched");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	run(0);
	run(IN_EXCL_UNLINK);
	return 0;
}
