/* fork while another thread keeps writing memory, without syscalls:
 *   - the child's memory is the parent's at the fork: the other thread's
 *     later writes do not show in it;
 *   - after the fork, the parent's threads still see each other's writes,
 *     also once a write by the forking thread has given the page a copy
 *     of its own (copy-on-write);
 *   - munmap and mprotect take effect for the other thread at once: it
 *     faults on its next touch.
 * Linux gets this from TLB shootdowns; a user-space kernel must stop the
 * other threads itself. */
#include "common.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define ROUNDS 10

/* One page: the spinner's counter, and a word the forking thread writes. */
static volatile uint64_t page[512] __attribute__((aligned(4096)));
static volatile int stop;

static void *spin(void *arg)
{
	(void)arg;
	while (!stop)
		page[0]++;
	return NULL;
}

/* A millisecond or so of work without a syscall. */
static void busy(void)
{
	for (volatile long i = 0; i < 1000000; i++)
		;
}

/* A thread that writes to `target` until stopped, and what ended it. */
static volatile uint64_t *volatile target;
static volatile int toucher_faulted;
static sigjmp_buf toucher_jmp;

static void on_segv(int sig)
{
	(void)sig;
	toucher_faulted = 1;
	siglongjmp(toucher_jmp, 1);
}

static void *touch(void *arg)
{
	(void)arg;
	if (sigsetjmp(toucher_jmp, 1) == 0) {
		while (!stop)
			(*target)++;
	}
	return NULL;
}

/* Starts a thread writing to a fresh page, lets it run, then takes the
 * page away with `revoke` and checks that the thread faults soon after. */
static void revoke_check(const char *what, int (*revoke)(void *))
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	target = p;
	stop = 0;
	toucher_faulted = 0;
	pthread_t th;
	pthread_create(&th, NULL, touch, NULL);
	while (*(volatile uint64_t *)p < 1000)
		;
	revoke(p);
	/* The thread's next write faults; give it time to run. */
	for (int i = 0; i < 2000 && !toucher_faulted; i++)
		busy();
	stop = 1;
	pthread_join(th, NULL);
	CHECK(what, toucher_faulted);
}

static int do_munmap(void *p)
{
	return munmap(p, 4096);
}

static int do_mprotect(void *p)
{
	return mprotect(p, 4096, PROT_READ);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);

	pthread_t th;
	pthread_create(&th, NULL, spin, NULL);
	while (page[0] < 1000)
		;
	int child_saw_writes = 0, parent_stale = 0, child_failed = 0;
	for (int round = 0; round < ROUNDS; round++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t before = page[0];
			for (int i = 0; i < 5; i++)
				busy();
			_exit(page[0] == before ? 0 : 1);
		}
		/* A write of ours: the page gets a copy of its own. */
		page[8] = round;
		/* The spinner may need a while to get a CPU again (up to seconds on a
		 * loaded machine; without coherence it never shows). */
		uint64_t before = page[0];
		int moved = 0;
		for (int i = 0; i < 2000 && !moved; i++) {
			busy();
			moved = page[0] != before;
		}
		if (!moved)
			parent_stale++;
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st))
			child_failed++;
		else if (WEXITSTATUS(st) != 0)
			child_saw_writes++;
	}
	stop = 1;
	pthread_join(th, NULL);
	CHECK("children kept their memory as at the fork", child_saw_writes == 0 && child_failed == 0);
	CHECK("the parent's threads kept seeing each other's writes", parent_stale == 0);

	revoke_check("munmap: the other thread faults on its next touch", do_munmap);
	revoke_check("mprotect: the other thread faults on its next write", do_mprotect);
	printf("done\n");
	return 0;
}
