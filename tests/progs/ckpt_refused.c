/* Holds what a checkpoint does not cover yet, so that the test can see
 * the checkpoint refused by name and the sandbox run on: with "ghost", a file of
 * the host tree (the root, written through) larger than 64 MiB, deleted
 * while open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "ghost") == 0) {
		/* Sparse: 65 MiB of holes, past the 64 MiB a checkpoint copies
		 * of a file deleted from a host tree. */
		int fd = open("/big-ghost", O_CREAT | O_RDWR | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, 65 << 20) != 0 || unlink("/big-ghost") != 0) {
			perror("/big-ghost");
			return 2;
		}
	} else {
		fprintf(stderr, "usage: ckpt_refused ghost\n");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	sleep(60);
	return 0;
}
