/* membarrier(2): the commands QUERY offers (less the RSEQ ones, which
 * depend on the kernel's CONFIG_RSEQ), bad commands and flags (EINVAL),
 * the private commands before registration (EPERM) and after, what
 * GET_REGISTRATIONS reports, whether a fork child keeps the
 * registrations, and barriers while another thread spins in app code
 * (the call must come back, and the thread must see the caller's store
 * once it has). */
#include "common.h"
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9) /* Linux 6.3; newer than the headers */
#endif
#define RSEQ_BITS (MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ)

static long mb(int cmd, unsigned flags)
{
	return syscall(SYS_membarrier, cmd, flags, 0);
}

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, r);
}

static volatile int data;
static atomic_int stop, seen;

static void *spinner(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		n++;
		if (data == 42)
			atomic_store_explicit(&seen, 1, memory_order_relaxed);
	}
	return (void *)n;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long q = mb(MEMBARRIER_CMD_QUERY, 0);
	show("query, less RSEQ", q < 0 ? q : (q & ~RSEQ_BITS));
	show("query with a flag", mb(MEMBARRIER_CMD_QUERY, 1));
	show("command -1", mb(-1, 0));
	show("command 1024", mb(1024, 0));
	show("global", mb(MEMBARRIER_CMD_GLOBAL, 0));
	show("global with a flag", mb(MEMBARRIER_CMD_GLOBAL, 1));
	show("global expedited", mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0));
	show("registrations at first", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	show("private expedited unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	show("sync core unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("register sync core", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("registrations after sync core", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	show("private expedited after sync core only", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	show("sync core", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("register private expedited", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0));
	show("register it again", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0));
	show("register global expedited", mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0));
	show("registrations", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
	show("private expedited", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));

	pid_t c = fork();
	if (c == 0) {
		show("a fork child's registrations", mb(MEMBARRIER_CMD_GET_REGISTRATIONS, 0));
		show("a fork child's private expedited", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);

	/* Barriers while another thread runs app code without a syscall. */
	pthread_t th;
	pthread_create(&th, NULL, spinner, NULL);
	sleep_ms(50);
	int ok = 1;
	for (int i = 0; i < 200; i++) {
		if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0)
			ok = 0;
		if (mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0) != 0)
			ok = 0;
	}
	data = 42;
	if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0)
		ok = 0;
	if (mb(MEMBARRIER_CMD_GLOBAL, 0) != 0)
		ok = 0;
	CHECK("barriers beside a spinning thread", ok);
	for (int i = 0; i < 1000 && !atomic_load(&seen); i++)
		sleep_ms(1);
	CHECK("the spinning thread saw the store", atomic_load(&seen));
	atomic_store(&stop, 1);
	void *n;
	pthread_join(th, &n);
	CHECK("the spinning thread ran", n != NULL);
	return 0;
}
