/* The writable sysctls that no other kernel object holds, across a
 * checkpoint: vm.max_map_count, fs.lease-break-time and two of
 * kernel.keys. Each is moved up by one before "ready" and read again after
 * the restore (SIGUSR1); then each is put back as it was, since natively
 * they are the host's. */
#include <stdio.h>

#include "ckpt_wait.h"

static const char *const paths[] = {
	"/proc/sys/vm/max_map_count",
	"/proc/sys/fs/lease-break-time",
	"/proc/sys/kernel/keys/maxkeys",
	"/proc/sys/kernel/keys/gc_delay",
};
#define N (sizeof(paths) / sizeof(paths[0]))

static long get(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int set(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int wrote = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && wrote ? 0 : -1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	long old[N];
	for (unsigned i = 0; i < N; i++) {
		old[i] = get(paths[i]);
		if (old[i] < 0 || set(paths[i], old[i] + 1) != 0) {
			printf("%s: cannot move it\n", paths[i]);
			return 2;
		}
	}
	printf("ready\n");
	ckpt_wait_usr1();
	for (unsigned i = 0; i < N; i++) {
		printf("%s: moved by %ld\n", paths[i], get(paths[i]) - old[i]);
		set(paths[i], old[i]);
	}
	return 0;
}
