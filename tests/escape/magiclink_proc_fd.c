/* /proc/self/fd/N: magic links to open files. A directory fd's link, then
 * `..` beyond it, stays in the sandbox; an fd that is not open is not
 * there (no fd of the Sentry's or the Gofer's shows through); reopening
 * a pipe's link gives the sandbox's own pipe; a deleted file's link
 * reopens the file inside. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char buf[PATH_MAX], path[PATH_MAX + 64];
	mkdir("/tmp/fd-dir", 0755);
	int dir = open("/tmp/fd-dir", O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof path, "/proc/self/fd/%d", dir);
	long n = readlink(path, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	esc_check("readlink /proc/self/fd/DIR", strcmp(buf, "/tmp/fd-dir") == 0, "\"%s\"", buf);
	snprintf(path, sizeof path, "/proc/self/fd/%d/../../../../..", dir);
	esc_is_sandbox_root("/proc/self/fd/DIR/../../../../..", path);
	snprintf(path, sizeof path, "/proc/self/fd/%d/../../host-marker.txt", dir);
	esc_no_host_file("/proc/self/fd/DIR/../../host-marker.txt", path, ENOENT);

	/* Fds that are not open: 3..63 and a few high ones. */
	int missing = 0, open_ = 0;
	for (int fd = 3; fd < 1100; fd += (fd < 64 ? 1 : 97)) {
		if (fd == dir)
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		if (open(path, O_RDONLY) == -1 && errno == ENOENT)
			missing++;
		else
			open_++;
	}
	esc_check("/proc/self/fd/N for fds not open", open_ == 0, "%d of them ENOENT, %d opened", missing, open_);

	/* A pipe of the sandbox's: reopening its write end through the link
	 * gives a new end of the same pipe. */
	int p[2];
	pipe(p);
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
	int w = open(path, O_WRONLY);
	EXPECT_OK("reopen a pipe's write end by its link", w);
	char c = 0;
	esc_check("write through it, read from the pipe", write(w, "p", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'p',
		  "the same pipe");

	/* A deleted file's link reopens the file, in the sandbox. */
	int f = open("/tmp/fd-dir/gone", O_CREAT | O_RDWR, 0600);
	write(f, "kept", 4);
	unlink("/tmp/fd-dir/gone");
	snprintf(path, sizeof path, "/proc/self/fd/%d", f);
	long r = esc_read(path, buf, sizeof buf);
	esc_check("reopen a deleted file through its link", r == 4 && memcmp(buf, "kept", 4) == 0, "read %ld bytes", r);
	return esc_finish();
}
