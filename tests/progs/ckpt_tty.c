/* The console across a checkpoint: the program puts its terminal (its
 * stdin, the sandbox's console) in non-canonical mode without echo,
 * says "ready" and blocks reading one key. A checkpoint and a restore on
 * a new terminal come in between: the key typed on the new one must reach
 * it at once (no line to wait for), not echoed, and the terminal must
 * still be its controlling one with its group in the foreground, by the
 * same name (/dev/pts/0: the sandbox's own pty, bridged to the terminal). */
#include <fcntl.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

int main(void)
{
	struct termios t;
	if (tcgetattr(0, &t) < 0) {
		perror("tcgetattr");
		return 2;
	}
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(0, TCSANOW, &t) < 0) {
		perror("tcsetattr");
		return 2;
	}
	close(open("/tmp/ready", O_CREAT | O_WRONLY, 0644));
	printf("ready\n");
	fflush(stdout);
	char c;
	if (read(0, &c, 1) != 1) {
		perror("read");
		return 2;
	}
	if (tcgetattr(0, &t) < 0) {
		perror("tcgetattr");
		return 2;
	}
	const char *name = ttyname(0);
	printf("got %c, canonical %s, echo %s, foreground %s, on %s\n", c, t.c_lflag & ICANON ? "on" : "off",
	       t.c_lflag & ECHO ? "on" : "off", tcgetpgrp(0) == getpgrp() ? "mine" : "other", name ? name : "?");
	return 0;
}
