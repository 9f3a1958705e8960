/* Holds what a checkpoint does not cover yet, a key in the process
 * keyring, so that the test can see the checkpoint refused by name and the
 * sandbox run on. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEY_SPEC_PROCESS_KEYRING -2

int main(void)
{
	if (syscall(SYS_add_key, "user", "ckpt", "x", 1, KEY_SPEC_PROCESS_KEYRING) < 0) {
		perror("add_key");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	sleep(60);
	return 0;
}
