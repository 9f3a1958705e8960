/* cachestat(2) on a memfd (tmpfs, natively as under Husk): pages written, a sparse file's holes (not
 * cached), a range in pages, a length of 0 (to the end), a range past
 * the end, fallocate; a pipe and a directory (nothing cached); the
 * errors in Linux's order: EBADF, EFAULT for the range, EINVAL for
 * flags, EFAULT for the result; EPERM for a user who may not write the
 * file, as Linux 6.14's can_do_cachestat. */
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

struct range {
	unsigned long long off, len;
};
struct stat5 {
	unsigned long long cache, dirty, writeback, evicted, recently_evicted;
};

static long cs(int fd, unsigned long long off, unsigned long long len, struct stat5 *c, unsigned flags)
{
	struct range r = { off, len };
	memset(c, 0xff, sizeof *c);
	return syscall(451, fd, &r, c, flags);
}

static void show(const char *what, int fd, unsigned long long off, unsigned long long len)
{
	struct stat5 c;
	if (cs(fd, off, len, &c, 0) == -1)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: cache %llu dirty %llu writeback %llu evicted %llu recently %llu\n", what, c.cache, c.dirty,
		       c.writeback, c.evicted, c.recently_evicted);
}

/* show() for the whole of fd, in a child that is uid 65534. */
static void as_nobody(const char *what, int fd)
{
	pid_t child = fork();
	if (child == 0) {
		if (setuid(65534) != 0)
			_exit(1);
		show(what, fd, 0, 0);
		_exit(0);
	}
	waitpid(child, NULL, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char page[4096];
	memset(page, 'a', sizeof page);
	int fd = memfd_create("cs", 0);
	show("empty", fd, 0, 0);
	if (ftruncate(fd, 10 * 4096) != 0)
		return 1;
	show("truncated to 10 pages", fd, 0, 0);
	pwrite(fd, page, 4096, 0);
	pwrite(fd, page, 4096, 3 * 4096);
	pwrite(fd, page, 100, 5 * 4096 + 5);
	show("pages 0, 3 and 5 written", fd, 0, 0);
	show("pages 1-3", fd, 4096, 3 * 4096);
	show("bytes 4095-4096", fd, 4095, 2);
	show("from page 4 on", fd, 4 * 4096, 0);
	show("past the end", fd, 100 * 4096, 0);
	show("a range that wraps", fd, 4096, -1ULL);
	fallocate(fd, 0, 7 * 4096, 4096);
	show("page 7 allocated", fd, 0, 0);
	if (ftruncate(fd, 2 * 4096) != 0)
		return 1;
	show("cut to 2 pages", fd, 0, 0);

	int p[2];
	if (pipe(p) != 0)
		return 1;
	write(p[1], "x", 1);
	show("a pipe", p[0], 0, 0);
	int d = open("/tmp", O_RDONLY | O_DIRECTORY);
	show("a directory", d, 0, 0);

	struct stat5 c;
	struct range r = { 0, 0 };
	long ret = syscall(451, 999, &r, &c, 0);
	printf("a bad fd: %s\n", ret == -1 ? errname(errno) : "ok");
	ret = syscall(451, 999, NULL, &c, 1);
	printf("a bad fd, no range, flags: %s\n", ret == -1 ? errname(errno) : "ok");
	ret = syscall(451, fd, NULL, &c, 1);
	printf("no range, flags: %s\n", ret == -1 ? errname(errno) : "ok");
	ret = syscall(451, fd, &r, NULL, 1);
	printf("flags, no result: %s\n", ret == -1 ? errname(errno) : "ok");
	ret = syscall(451, fd, &r, NULL, 0);
	printf("no result: %s\n", ret == -1 ? errname(errno) : "ok");
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	int path = open(self, O_PATH);
	ret = syscall(451, path, &r, &c, 0);
	printf("an O_PATH fd: %s\n", ret == -1 ? errname(errno) : "ok");

	/* Another user, read-only: EPERM unless it may write the file (an
	 * empty file in /tmp, which caches nothing on any filesystem). */
	int ro = open("/tmp/cachestat", O_RDONLY | O_CREAT | O_TRUNC, 0644);
	fchmod(ro, 0644);
	as_nobody("uid 65534, a file of root's, mode 644", ro);
	fchmod(ro, 0666);
	as_nobody("uid 65534, mode 666", ro);
	unlink("/tmp/cachestat");
	return 0;
}
