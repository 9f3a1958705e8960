/* The mmap and madvise edges LTP found: a file mapping's zero length and
 * unknown mapping type are EINVAL before the file's access mode is looked
 * at (EACCES); MADV_FREE is for private anonymous memory only (EINVAL);
 * advice on a range with a hole is ENOMEM; unknown advice is EINVAL. */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>

static void report_map(const char *label, void *p, size_t len)
{
	if (p == MAP_FAILED) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	printf("%s: ok\n", label);
	munmap(p, len);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long page = sysconf(_SC_PAGESIZE);
	int fd = open("/tmp/mm_edges", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[3 * 4096];
	memset(buf, 'A', sizeof buf);
	if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
		return 1;
	int wronly = open("/tmp/mm_edges", O_WRONLY);

	report_map("mmap, O_WRONLY fd, length 0", mmap(NULL, 0, PROT_READ, MAP_SHARED, wronly, 0), 0);
	report_map("mmap, O_WRONLY fd, no MAP_SHARED or MAP_PRIVATE", mmap(NULL, page, PROT_READ, 0, wronly, 0), page);
	report_map("mmap, O_WRONLY fd, MAP_PRIVATE", mmap(NULL, page, PROT_READ, MAP_PRIVATE, wronly, 0), page);
	report_map("mmap, O_WRONLY fd, MAP_SHARED", mmap(NULL, page, PROT_READ, MAP_SHARED, wronly, 0), page);
	report_map("mmap, O_RDWR fd, no type", mmap(NULL, page, PROT_READ, 0, fd, 0), page);
	report_map("mmap, a bad fd, length 0", mmap(NULL, 0, PROT_READ, MAP_SHARED, 99, 0), 0);

	char *priv = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *shared = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *file_priv = mmap(NULL, 3 * page, PROT_READ, MAP_PRIVATE, fd, 0);
	char *file_shared = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, fd, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED || file_priv == MAP_FAILED || file_shared == MAP_FAILED)
		return 1;
	priv[0] = 1;
	report("MADV_FREE, private anonymous", madvise(priv, 3 * page, MADV_FREE));
	report("MADV_FREE, shared anonymous", madvise(shared, 3 * page, MADV_FREE));
	report("MADV_FREE, a private file mapping", madvise(file_priv, 3 * page, MADV_FREE));
	report("MADV_FREE, a shared file mapping", madvise(file_shared, 3 * page, MADV_FREE));
	report("MADV_NORMAL, a file mapping", madvise(file_shared, 3 * page, MADV_NORMAL));
	report("advice 1212", madvise(file_shared, 3 * page, 1212));
	report("advice 1212, length 0", madvise(file_shared, 0, 1212));

	/* A hole in the middle, then one at the end. */
	munmap(file_shared + page, page);
	report("MADV_NORMAL over a hole", madvise(file_shared, 3 * page, MADV_NORMAL));
	report("MADV_WILLNEED over a hole", madvise(file_shared, 3 * page, MADV_WILLNEED));
	report("MADV_DONTFORK over a hole", madvise(file_shared, 3 * page, MADV_DONTFORK));
	report("MADV_DONTNEED over a hole", madvise(file_shared, 3 * page, MADV_DONTNEED));
	report("MADV_RANDOM, the page before the hole", madvise(file_shared, page, MADV_RANDOM));
	munmap(priv + 2 * page, page);
	report("MADV_SEQUENTIAL past the end", madvise(priv, 3 * page, MADV_SEQUENTIAL));
	report("MADV_FREE past the end", madvise(priv, 3 * page, MADV_FREE));
	CHECK("the advised pages still read", priv[page] == 0);
	unlink("/tmp/mm_edges");
	return 0;
}
