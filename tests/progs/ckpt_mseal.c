/* Memory state kept across a checkpoint: a sealed mapping (munmap and
 * mprotect of it are EPERM after the restore too, and the pages beside
 * it, not sealed, may still go) and membarrier's registrations (the
 * private expedited barrier needs one). Says "ready" and waits for
 * SIGUSR1 (a checkpoint and a restore come in between). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define PG 4096L

static const char *res(long r)
{
	return r == -1 ? strerrorname_np(errno) : "ok";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	strcpy(p + PG, "sealed data");
	/* The first line is "ready": what was done before is told after. */
	const char *sealed = res(syscall(462, p + PG, PG, 0));
	const char *registered = res(syscall(SYS_membarrier, 16 /* REGISTER_PRIVATE_EXPEDITED */, 0, 0));
	printf("ready\n");
	ckpt_wait_usr1();
	printf("mseal: %s\n", sealed);
	printf("membarrier register: %s\n", registered);
	printf("the sealed page reads: %s\n", p + PG);
	printf("munmap of the sealed page: %s\n", res(munmap(p + PG, PG)));
	printf("mprotect of the sealed page: %s\n", res(mprotect(p + PG, PG, PROT_READ)));
	printf("munmap of the page before it: %s\n", res(munmap(p, PG)));
	printf("membarrier registrations: %ld\n", syscall(SYS_membarrier, 512 /* GET_REGISTRATIONS */, 0, 0));
	printf("membarrier private expedited: %s\n", res(syscall(SYS_membarrier, 8 /* PRIVATE_EXPEDITED */, 0, 0)));
	return 0;
}
