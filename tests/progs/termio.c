/* The old termio ioctls on a pseudo-terminal: TCGETA gives the low 16
 * bits of termios' flags and its first 8 control characters; TCSETA sets
 * only those (the high bits and the other characters stay); TCSETAW and
 * TCSETAF too; EFAULT for a bad address, ENOTTY on a regular file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termio.h>
#include <termios.h>
#include <unistd.h>

static const char *err(int r)
{
	return r < 0 ? strerror(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
		perror("posix_openpt");
		return 2;
	}
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	struct termios tios;
	struct termio tio;
	tcgetattr(s, &tios);
	int r = ioctl(s, TCGETA, &tio);
	printf("TCGETA: %s\n", err(r));
	printf("flags match termios' low halves: %s\n",
	       tio.c_iflag == (unsigned short)tios.c_iflag && tio.c_oflag == (unsigned short)tios.c_oflag &&
			       tio.c_cflag == (unsigned short)tios.c_cflag && tio.c_lflag == (unsigned short)tios.c_lflag
		       ? "yes"
		       : "no");
	printf("c_cc matches: %s\n", memcmp(tio.c_cc, tios.c_cc, 8) == 0 ? "yes" : "no");
	tio.c_lflag &= ~ECHO;
	tio.c_cc[VINTR] = 'X';
	tios.c_cc[VEOL2] = 'Q';
	tcsetattr(s, TCSANOW, &tios);
	r = ioctl(s, TCSETA, &tio);
	printf("TCSETA: %s\n", err(r));
	struct termios after;
	tcgetattr(s, &after);
	printf("ECHO now: %s, VINTR %c, VEOL2 kept %c\n", after.c_lflag & ECHO ? "on" : "off", after.c_cc[VINTR],
	       after.c_cc[VEOL2]);
	tio.c_lflag |= ECHO;
	printf("TCSETAW: %s\n", err(ioctl(s, TCSETAW, &tio)));
	tcgetattr(s, &after);
	printf("ECHO now: %s\n", after.c_lflag & ECHO ? "on" : "off");
	printf("TCSETAF: %s\n", err(ioctl(s, TCSETAF, &tio)));
	printf("TCGETA to a bad address: %s\n", err(ioctl(s, TCGETA, (void *)1)));
	printf("TCSETA from NULL: %s\n", err(ioctl(s, TCSETA, NULL)));
	int f = open("/tmp/termio-file", O_CREAT | O_RDWR, 0600);
	printf("TCGETA on a regular file: %s\n", err(ioctl(f, TCGETA, &tio)));
	unlink("/tmp/termio-file");
	return 0;
}
