/* What the syscall fuzzer (tests/fuzz/sysfuzz.c) found Husk doing wrong,
 * each case as Linux does it: the tests that keep those bugs fixed.
 *
 * With no argument, the cases that native and Husk must agree on. With
 * "bigcow", cases for a Husk-only test run under a memory limit: a read
 * whose count spans a large copy-on-write mapping must not copy that
 * mapping ahead of the data (nor at all, when it fails with EFAULT). */
#include "common.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <pthread.h>

#define PAGE 4096UL
/* Linux's TASK_SIZE_MAX on x86_64: the first address past user space. */
#define USER_TOP 0x7ffffffff000UL

static void on_alarm(int sig)
{
	(void)sig;
}

static void *read_later(void *arg)
{
	int fd = *(int *)arg;
	sleep_ms(100);
	uint64_t v;
	if (read(fd, &v, 8) != 8)
		printf("reader: %s\n", errname(errno));
	return NULL;
}

/* An eventfd write waits for room for its value, not for POLLOUT; a write
 * of any length but 8 is EINVAL (Linux 6.8 and later), and a vectored
 * write is one write per buffer. */
static void eventfd_cases(void)
{
	int fd = eventfd(0, EFD_NONBLOCK);
	uint64_t two[2] = {5, 7}, v = 0;
	report("eventfd 16-byte write", write(fd, two, 16));
	struct iovec halves[2] = {{two, 4}, {(char *)two + 4, 4}};
	report("eventfd write of 8 bytes in two iovecs", writev(fd, halves, 2));
	struct iovec values[3] = {{&two[0], 8}, {&two[1], 8}, {two, 4}};
	long r = writev(fd, values, 3);
	uint64_t got[2] = {0, 0};
	long n = read(fd, got, 16);
	printf("eventfd writev of two values and a short one: %ld, then a 16-byte read: %ld, count %lu\n", r, n,
	       (unsigned long)got[0]);

	uint64_t big = UINT64_MAX - 2; /* the maximum is UINT64_MAX - 1 */
	report("eventfd write to the maximum - 1", write(fd, &big, 8));
	uint64_t two_more = 2;
	report("eventfd non-blocking write past the maximum", write(fd, &two_more, 8));
	report("eventfd write of UINT64_MAX", write(fd, &(uint64_t){UINT64_MAX}, 8));

	/* Blocking: the count is below the maximum (so POLLOUT), but the value
	 * does not fit; the write waits, and a signal ends the wait. */
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {.it_value = {.tv_usec = 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	report("eventfd blocking write past the maximum, interrupted", write(fd, &two_more, 8));

	/* And a reader taking the count lets it through. */
	pthread_t th;
	pthread_create(&th, NULL, read_later, &fd);
	report("eventfd blocking write once a reader makes room", write(fd, &two_more, 8));
	pthread_join(th, NULL);
	read(fd, &v, 8);
	printf("eventfd count then: %lu\n", (unsigned long)v);

	/* splice and sendfile have no eventfd end. */
	int p[2];
	pipe(p);
	write(p[1], two, 16);
	report("splice from a pipe into an eventfd", splice(p[0], NULL, fd, NULL, 16, 0));
	close(p[0]);
	close(p[1]);
	close(fd);
}

static int child_fn(void *arg)
{
	(void)arg;
	return 7;
}

/* clone(2) itself, flags and pointers as given; a child exits with
 * `code` at once. Prints "label: ok" (or "made a child", when `expect_fail`)
 * or the errno, and the child's status. */
static void try_clone(const char *label, unsigned long flags, void *ptid, void *ctid, unsigned long tls, int code,
		      int expect_fail)
{
	fflush(stdout);
	long pid = syscall(SYS_clone, flags, NULL, ptid, ctid, tls);
	if (pid == 0)
		_exit(code);
	printf("%s: %s\n", label, pid > 0 ? (expect_fail ? "made a child" : "ok") : errname(errno));
	int st;
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		printf("  and its child: %s\n", status_str(st));
}

/* clone's tid stores may fault without failing it; a bad pidfd pointer
 * fails it before any child exists; a TLS base past user space is EPERM;
 * CLONE_PARENT gives the child the caller's exit signal. */
static void clone_cases(void)
{
	void *bad = (void *)16;
	int st;
	try_clone("clone with a bad parent tid pointer", CLONE_PARENT_SETTID | SIGCHLD, bad, NULL, 0, 3, 0);
	try_clone("clone with a bad child tid pointer", CLONE_CHILD_SETTID | SIGCHLD, NULL, bad, 0, 4, 0);
	try_clone("clone with a bad pidfd pointer", CLONE_PIDFD | SIGCHLD, bad, NULL, 0, 5, 1);
	report("  and then wait", waitpid(-1, &st, WNOHANG));
	try_clone("clone with a TLS base past user space", CLONE_SETTLS | SIGCHLD, NULL, NULL, USER_TOP, 6, 1);

	/* A child clones with CLONE_PARENT and exit signal SIGUSR1: the new
	 * process, this one's child too, must end with the caller's SIGCHLD
	 * (SIGUSR1 would kill this process). */
	static char stack[64 * 1024];
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		long sib = clone(child_fn, stack + sizeof stack, CLONE_PARENT | SIGUSR1, NULL);
		_exit(sib > 0 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	printf("CLONE_PARENT caller: %s\n", status_str(st));
	long sib = waitpid(-1, &st, 0);
	printf("CLONE_PARENT sibling: %s\n", sib > 0 ? status_str(st) : errname(errno));
}

/* mmap ignores prot bits other than read, write and exec; the mapping
 * then survives a fork's write protection and a write. */
static void mmap_cases(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_GROWSDOWN, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap with PROT_GROWSDOWN: %s\n", p == MAP_FAILED ? errname(errno) : "ok");
	char *q = mmap(NULL, PAGE, PROT_READ | 0x10, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap with an unknown prot bit: %s\n", q == MAP_FAILED ? errname(errno) : "ok");
	if (p == MAP_FAILED)
		return;
	p[0] = 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(p[0]);
	p[0] = 2;
	int st;
	waitpid(pid, &st, 0);
	printf("after a fork: parent sees %d, child saw %s\n", p[0], status_str(st));

	/* mremap to the same number of pages keeps the mapping. */
	char *r = mremap(p, 2 * PAGE, 2 * PAGE - 100, 0);
	printf("mremap to the same page count: %s\n", r == p ? "same address" : errname(errno));
	p[PAGE] = 3;
	printf("  and its second page: %d\n", p[PAGE]);
	/* ... and to a fixed range past user space is EINVAL. */
	r = mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)USER_TOP);
	printf("mremap to the top of user space: %s\n", r == MAP_FAILED ? errname(errno) : "ok");
	r = mremap(p, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(USER_TOP - PAGE));
	printf("mremap across the top of user space: %s\n", r == MAP_FAILED ? errname(errno) : "ok");
	printf("  the mapping is still there: %d\n", p[0]);
}

/* Writes of nothing at a page-aligned address of a copy-on-write mapping
 * (a select with no fds, say), and advice on nothing there, change
 * nothing. */
static void zero_write_cases(void)
{
	char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 9, 4 * PAGE);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	struct timeval tv = {0, 0};
	report("select of no fds into a copy-on-write page", select(0, (fd_set *)(p + PAGE), NULL, NULL, &tv));
	report("madvise(MADV_DONTNEED) of nothing in it", madvise(p + PAGE, 0, MADV_DONTNEED));
	report("madvise of nothing with unknown advice", madvise(p + PAGE, 0, 12345));
	int fd = open("/proc/self/stat", O_RDONLY);
	report("read of nothing into it", read(fd, p + 2 * PAGE, 0));
	close(fd);
	p[PAGE] = 1;
	p[3 * PAGE] = 2;
	printf("the mapping then: %d %d %d\n", p[0], p[PAGE], p[3 * PAGE]);
	int st;
	waitpid(pid, &st, 0);
	munmap(p, 4 * PAGE);
}

/* A read into an unmapped page whose count reaches over a 1 GiB mapping
 * shared copy-on-write with a child: EFAULT, with nothing copied; and
 * reads of a few bytes with a 1 GiB count into that mapping. */
static int bigcow(void)
{
	size_t len = 1UL << 30;
	char *p = mmap(NULL, len + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	munmap(p, PAGE);
	for (size_t i = PAGE; i < len + PAGE; i += 16 * PAGE * 1024)
		p[i] = 1;
	int pipefd[2];
	pipe(pipefd);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(pipefd[0], &c, 1);
		_exit(0);
	}
	int fd = open("/proc/self/stat", O_RDONLY);
	report("read into an unmapped page before a 1 GiB copy-on-write mapping", read(fd, p, len + PAGE));
	/* Reads with a 1 GiB count into the mapping itself copy what they
	 * fill, not the whole count. */
	long n = read(fd, p + PAGE, len);
	printf("read of a small file with a 1 GiB count into it: %s\n", n > 0 && n < 4096 ? "ok" : errname(errno));
	int q[2];
	pipe(q);
	write(q[1], "abc", 3);
	printf("read of a pipe with a 1 GiB count into it: %ld\n", (long)read(q[0], p + PAGE, len));
	write(pipefd[1], "x", 1);
	int st;
	waitpid(pid, &st, 0);
	printf("child: %s\n", status_str(st));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "bigcow") == 0)
		return bigcow();
	eventfd_cases();
	clone_cases();
	mmap_cases();
	zero_write_cases();
	printf("still running\n");
	return 0;
}
