/* O_NOATIME only for the file's owner (open and F_SETFL: EPERM for
 * another user, as uid 65534), any ioctl on an O_PATH fd (EBADF, FIOCLEX
 * too), and /proc/sys/kernel/version as uname's version. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *err(int r)
{
	return r < 0 ? strerror(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open("/tmp/noatime", O_CREAT | O_RDWR, 0644);
	close(fd);
	fd = open("/tmp/noatime", O_RDONLY | O_NOATIME);
	printf("O_NOATIME by the owner: %s\n", err(fd));
	close(fd);
	int p = open("/tmp/noatime", O_PATH);
	printf("FIONREAD on an O_PATH fd: %s\n", err(ioctl(p, FIONREAD, &fd)));
	printf("FIOCLEX on an O_PATH fd: %s\n", err(ioctl(p, FIOCLEX)));
	struct utsname u;
	uname(&u);
	FILE *v = fopen("/proc/sys/kernel/version", "r");
	char line[256] = { 0 };
	if (v && fgets(line, sizeof(line), v))
		line[strcspn(line, "\n")] = 0;
	printf("/proc/sys/kernel/version is uname's: %s\n", strcmp(line, u.version) == 0 ? "yes" : "no");
	if (setuid(65534) != 0)
		return 2;
	printf("O_NOATIME by another user: %s\n", err(open("/tmp/noatime", O_RDONLY | O_NOATIME)));
	fd = open("/tmp/noatime", O_RDONLY);
	printf("F_SETFL O_NOATIME by another user: %s\n", err(fcntl(fd, F_SETFL, O_NOATIME)));
	printf("F_SETFL without it: %s\n", err(fcntl(fd, F_SETFL, 0)));
	return 0;
}
