/* process_vm_readv and process_vm_writev between processes: a fork
 * child's private (copy-on-write) memory read and written, scattered
 * iovecs on both sides, partial copies where either side's buffers stop
 * being accessible, a write seen by a thread of the other process that
 * spins without syscalls, and the errors in Linux's order (flags, the
 * local iovecs, an empty copy before the pid is looked at, ESRCH, EPERM,
 * EFAULT). */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

static long vm_readv(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
		     unsigned long flags)
{
	return syscall(SYS_process_vm_readv, pid, l, ln, r, rn, flags);
}

static long vm_writev(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
		      unsigned long flags)
{
	return syscall(SYS_process_vm_writev, pid, l, ln, r, rn, flags);
}

static void result(const char *label, long r)
{
	if (r < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %ld\n", label, r);
}

/* The child's memory: a page-aligned buffer, and a flag on a page of its
 * own that a thread spins on. */
static char data[3 * 4096] __attribute__((aligned(4096)));
static volatile int flag_page[1024] __attribute__((aligned(4096)));
static int to_child[2], to_parent[2];

static void *spinner(void *arg)
{
	(void)arg;
	/* No syscalls: only the memory tells it of the write. */
	for (long i = 0; i < 40L * 1000 * 1000 * 1000 && flag_page[0] == 0; i++)
		;
	return NULL;
}

static void child(void)
{
	/* Its own copy now differs from the parent's. */
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = 'a' + i % 26;
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t addrs[2] = { (uintptr_t)ro, (uintptr_t)none };
	write(to_parent[1], addrs, sizeof addrs);
	char c;
	read(to_child[0], &c, 1);
	printf("child's data after the writes: %.8s %.8s\n", data, data + 4096 + 100);
	fflush(stdout);
	pthread_t th;
	pthread_create(&th, NULL, spinner, NULL);
	write(to_parent[1], "s", 1);
	pthread_join(th, NULL);
	/* Printed after the parent's line about the write. */
	read(to_child[0], &c, 1);
	printf("the spinning thread saw the write: %s\n", flag_page[0] == 42 ? "ok" : "bad");
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(data, 'p', sizeof data);
	flag_page[0] = 0;
	pipe(to_child);
	pipe(to_parent);
	pid_t pid = fork();
	if (pid == 0)
		child();
	uintptr_t addrs[2];
	read(to_parent[0], addrs, sizeof addrs);
	char *ro = (char *)addrs[0], *none = (char *)addrs[1];

	/* Reads: the child's own copy, scattered on both sides. */
	char a[5] = { 0 }, b[7] = { 0 };
	struct iovec local[2] = { { a, 4 }, { b, 6 } };
	struct iovec remote[3] = { { data, 3 }, { data + 4095, 0 }, { data + 4094, 7 } };
	result("readv 10 bytes, 2 local and 3 remote iovecs", vm_readv(pid, local, 2, remote, 3, 0));
	printf("read: %s %s\n", a, b);
	char big[8192];
	struct iovec lbig = { big, sizeof big };
	struct iovec rlong = { data, 100 };
	result("readv with less remote than local", vm_readv(pid, &lbig, 1, &rlong, 1, 0));
	struct iovec lshort = { a, 4 };
	struct iovec rbig = { data, sizeof data };
	result("readv with less local than remote", vm_readv(pid, &lshort, 1, &rbig, 1, 0));

	/* Partial copies: a remote buffer that runs into a hole. */
	struct iovec rpart[2] = { { data + sizeof data - 100, 100 }, { none, 100 } };
	result("readv, the second remote iovec PROT_NONE", vm_readv(pid, &lbig, 1, rpart, 2, 0));
	struct iovec rnone = { none, 100 };
	result("readv of a PROT_NONE remote page", vm_readv(pid, &lbig, 1, &rnone, 1, 0));
	/* A local buffer that runs into a hole. */
	char *mine = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(mine + 4096, 4096, PROT_NONE);
	struct iovec lpart = { mine + 4096 - 50, 150 };
	result("readv into a local buffer that runs into PROT_NONE", vm_readv(pid, &lpart, 1, &rbig, 1, 0));
	struct iovec lnone = { mine + 4096, 10 };
	result("readv into a PROT_NONE local buffer", vm_readv(pid, &lnone, 1, &rbig, 1, 0));

	/* Writes into the child's copy-on-write memory. */
	char w1[] = "WRITTEN!", w2[] = "scatter!";
	struct iovec lw[2] = { { w1, 8 }, { w2, 8 } };
	struct iovec rw[2] = { { data, 8 }, { data + 4096 + 100, 8 } };
	result("writev 16 bytes", vm_writev(pid, lw, 2, rw, 2, 0));
	struct iovec rro = { ro, 8 };
	result("writev to a read-only remote page", vm_writev(pid, lw, 1, &rro, 1, 0));
	result("readv of a read-only remote page", vm_readv(pid, &lshort, 1, &rro, 1, 0));
	printf("the parent's data is its own: %.8s\n", data);

	/* Errors. */
	result("flags 1", vm_readv(pid, local, 1, remote, 1, 1));
	result("1025 local iovecs", vm_readv(pid, local, 1025, remote, 1, 0));
	struct iovec neg = { a, (size_t)-1 };
	result("a local length of -1", vm_readv(pid, &neg, 1, remote, 1, 0));
	struct iovec badbase = { (void *)-4096L, 10 };
	result("a local buffer past user space", vm_readv(pid, &badbase, 1, remote, 1, 0));
	result("local iovecs at a bad address", vm_readv(pid, (void *)8, 1, remote, 1, 0));
	struct iovec empty = { a, 0 };
	result("nothing to copy, pid -1", vm_readv(-1, &empty, 1, remote, 1, 0));
	struct iovec rzero = { data, 0 };
	result("remote lengths all 0, pid -1", vm_readv(-1, local, 1, &rzero, 1, 0));
	result("pid -1", vm_readv(-1, local, 1, remote, 1, 0));
	result("1025 remote iovecs", vm_readv(pid, local, 1, remote, 1025, 0));
	result("remote iovecs at a bad address", vm_readv(pid, local, 1, (void *)8, 1, 0));
	struct iovec rneg = { data, (size_t)-1 };
	result("a remote length of -1", vm_readv(pid, local, 1, &rneg, 1, 0));
	struct iovec self_r = { w1, 8 };
	char got[9] = { 0 };
	struct iovec self_l = { got, 8 };
	result("readv of the caller itself", vm_readv(getpid(), &self_l, 1, &self_r, 1, 0));
	printf("read from itself: %s\n", got);

	fflush(stdout);
	pid_t nobody = fork();
	if (nobody == 0) {
		setuid(65534);
		result("uid 65534 reading root's process", vm_readv(pid, local, 1, remote, 1, 0));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(nobody, &st, 0);

	write(to_child[1], "g", 1);
	char c;
	read(to_parent[0], &c, 1);
	/* The spinner is running (or about to): write its flag. */
	sleep_ms(100);
	int v = 42;
	struct iovec lf = { &v, sizeof v };
	struct iovec rf = { (void *)flag_page, sizeof v };
	result("writev of the spinning thread's flag", vm_writev(pid, &lf, 1, &rf, 1, 0));
	write(to_child[1], "d", 1);
	waitpid(pid, &st, 0);
	printf("child: %s\n", status_str(st));
	result("readv of a reaped child", vm_readv(pid, local, 1, remote, 1, 0));
	return 0;
}
