/* The device filesystem (/dev) written to, across a checkpoint: a regular
 * file (held open at an offset), a directory with a symlink in it, a
 * device node made with mknod, and, where /dev has them (the sandbox's
 * /dev, not a native chroot's empty one), a boot node removed and one
 * given another mode. Says "ready" and waits for SIGUSR1 (a checkpoint
 * and a restore come in between). Then each reads back as it was, and
 * the program removes what it made. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ckpt_wait.h"

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int fd = open("/dev/a-note", O_CREAT | O_RDWR | O_TRUNC, 0640);
	if (fd < 0 || write(fd, "note\n", 5) != 5 || lseek(fd, 2, SEEK_SET) != 2 || mkdir("/dev/sub", 0750) != 0 ||
	    symlink("/dev/null", "/dev/sub/link") != 0 || mknod("/dev/my-null", S_IFCHR | 0666, makedev(1, 3)) != 0) {
		perror("/dev");
		return 2;
	}
	struct stat st;
	if (stat("/dev/full", &st) == 0)
		unlink("/dev/full");
	if (stat("/dev/zero", &st) == 0)
		chmod("/dev/zero", 0600);
	printf("ready\n");
	ckpt_wait_usr1();

	char buf[16] = "";
	printf("the open file reads on: %.*s", (int)read(fd, buf, sizeof buf), buf);
	int again = open("/dev/a-note", O_RDONLY);
	memset(buf, 0, sizeof buf);
	printf("by its path: %.*s", (int)read(again, buf, sizeof buf), buf);
	printf("its mode: %o\n", fstat(again, &st) == 0 ? st.st_mode & 07777 : 0);
	printf("the directory's mode: %o\n", stat("/dev/sub", &st) == 0 ? st.st_mode & 07777 : 0);
	char link[32] = "";
	printf("the symlink: %.*s\n", (int)readlink("/dev/sub/link", link, sizeof link), link);
	int null = open("/dev/my-null", O_WRONLY);
	printf("the made node: %s, writes %s\n",
	       stat("/dev/my-null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
			       minor(st.st_rdev) == 3 ?
		       "1:3" :
		       "another",
	       null >= 0 && write(null, "x", 1) == 1 ? "vanish" : "fail");
	printf("/dev/full still gone: %s\n", stat("/dev/full", &st) != 0 ? "yes" : "no");
	printf("/dev/zero's mode: %o\n", stat("/dev/zero", &st) == 0 ? st.st_mode & 0777 : 0600);
	unlink("/dev/a-note");
	unlink("/dev/sub/link");
	rmdir("/dev/sub");
	unlink("/dev/my-null");
	return 0;
}
