/* The writable sysctls that no other kernel object holds, across a
 * checkpoint: vm.max_map_count, fs.lease-break-time and two of
 * kernel.keys. Each is opened, and moved up by one through its open file,
 * before "ready"; the files stay open across the checkpoint, and after the
 * restore (SIGUSR1) each is read again through that file and put back as
 * it was (natively they are the host's). An open /proc/self/comm is read
 * again as well: procfs files are made afresh on each lookup, and come
 * back by their paths. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_wait.h"

static const char *const paths[] = {
	"/proc/sys/vm/max_map_count",
	"/proc/sys/fs/lease-break-time",
	"/proc/sys/kernel/keys/maxkeys",
	"/proc/sys/kernel/keys/gc_delay",
};
#define N (sizeof(paths) / sizeof(paths[0]))

static long get(int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static int set(int fd, long v)
{
	char buf[64];
	int len = snprintf(buf, sizeof(buf), "%ld\n", v);
	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	long old[N];
	int fds[N];
	for (unsigned i = 0; i < N; i++) {
		fds[i] = open(paths[i], O_RDWR);
		old[i] = fds[i] < 0 ? -1 : get(fds[i]);
		if (old[i] < 0 || set(fds[i], old[i] + 1) != 0) {
			printf("%s: cannot move it\n", paths[i]);
			return 2;
		}
	}
	int comm = open("/proc/self/comm", O_RDONLY);
	if (comm < 0) {
		printf("/proc/self/comm: cannot open it\n");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();
	for (unsigned i = 0; i < N; i++) {
		printf("%s: moved by %ld\n", paths[i], get(fds[i]) - old[i]);
		if (set(fds[i], old[i]) != 0)
			printf("%s: cannot put it back\n", paths[i]);
	}
	char name[32] = "";
	ssize_t n = read(comm, name, sizeof(name) - 1);
	printf("the open comm file reads %s", n > 0 ? name : "nothing\n");
	return 0;
}
