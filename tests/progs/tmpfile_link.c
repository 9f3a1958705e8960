/* An O_TMPFILE file given a name through its /proc/self/fd link
 * (linkat with AT_SYMLINK_FOLLOW), and one made with O_EXCL, which may
 * never have one (ENOENT). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *err(int r)
{
	return r < 0 ? strerror(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("/tmp/d", 0755);
	int fd = open("/tmp/d", O_TMPFILE | O_RDWR, 0600);
	if (fd < 0 || write(fd, "hello", 5) != 5) {
		perror("O_TMPFILE");
		return 2;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = linkat(AT_FDCWD, path, AT_FDCWD, "/tmp/d/named", AT_SYMLINK_FOLLOW);
	printf("linkat through /proc/self/fd: %s\n", err(r));
	struct stat st;
	r = stat("/tmp/d/named", &st);
	printf("the new name: %s, size %lld, links %ld\n", err(r), (long long)st.st_size, (long)st.st_nlink);
	int ex = open("/tmp/d", O_TMPFILE | O_RDWR | O_EXCL, 0600);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ex);
	printf("an O_EXCL one: %s\n", err(linkat(AT_FDCWD, path, AT_FDCWD, "/tmp/d/never", AT_SYMLINK_FOLLOW)));
	printf("without AT_SYMLINK_FOLLOW: %s\n", err(linkat(AT_FDCWD, path, AT_FDCWD, "/tmp/d/link", 0)));
	unlink("/tmp/d/named");
	unlink("/tmp/d/link");
	rmdir("/tmp/d");
	return 0;
}
