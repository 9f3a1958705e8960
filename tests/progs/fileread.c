/* Reading files and walking directories: open/read/pread/readv/lseek,
 * fstat/newfstatat/statx, getdents64, readlink(at), access/faccessat(2),
 * getcwd/chdir/fchdir, dup/fcntl, and the errnos of bad paths.
 *
 * Expects the tree that tests/progs_diff.rs builds under /data:
 *   hello.txt     "Hello, Husk!\nSecond line.\n" (mode 0644)
 *   medium.bin    100000 pseudo-random bytes
 *   dir/          files a, bb, ccc and subdirectory sub/
 *   link          -> hello.txt
 *   dirlink       -> dir
 *   dangling      -> nowhere */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>

static long sys_open(const char *path, int flags)
{
	return syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}

static void print_cwd(const char *label)
{
	char buf[256];
	long n = syscall(SYS_getcwd, buf, sizeof buf);
	if (n < 0)
		printf("%s: getcwd %s\n", label, errname(errno));
	else
		printf("%s: cwd=%s (ret %ld)\n", label, buf, n);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists a directory with getdents64 through a small buffer, so that the
 * listing takes several calls, and prints it sorted. */
static void list_dir(const char *path)
{
	int fd = sys_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		printf("list %s: %s\n", path, errname(errno));
		return;
	}
	char *names[64];
	int n = 0, calls = 0;
	char buf[80] __attribute__((aligned(8)));
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (got < 0) {
			printf("getdents64 %s: %s\n", path, errname(errno));
			break;
		}
		if (got == 0)
			break;
		calls++;
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			char type = d->d_type == DT_DIR ? 'd' : d->d_type == DT_REG ? 'f' : d->d_type == DT_LNK ? 'l' : '?';
			if (n < 64 && asprintf(&names[n], "%s %c", d->d_name, type) > 0)
				n++;
			off += d->d_reclen;
		}
	}
	qsort(names, n, sizeof names[0], cmp_names);
	printf("list %s: %d entries, %s\n", path, n, calls > 1 ? "several getdents64 calls" : "one getdents64 call");
	for (int i = 0; i < n; i++) {
		printf("  %s\n", names[i]);
		free(names[i]);
	}
	/* A zero-size buffer cannot hold an entry. */
	syscall(SYS_lseek, fd, 0L, SEEK_SET);
	report("getdents64 with a 1-byte buffer", syscall(SYS_getdents64, fd, buf, 1));
	close(fd);
}

static void reads(void)
{
	char buf[128];
	int fd = sys_open("/data/hello.txt", O_RDONLY);
	report("open /data/hello.txt", fd);

	/* read in 5-byte pieces until EOF */
	size_t total = 0;
	long n;
	while ((n = syscall(SYS_read, fd, buf + total, 5)) > 0)
		total += n;
	buf[total] = 0;
	printf("read: %zu bytes: %s", total, buf);
	printf("read at EOF: %ld\n", syscall(SYS_read, fd, buf, sizeof buf));

	struct stat st;
	report("fstat", syscall(SYS_fstat, fd, &st));
	printf("fstat: size=%lld regular=%d mode=%o nlink=%lu\n", (long long)st.st_size, S_ISREG(st.st_mode),
	       st.st_mode & 07777, (unsigned long)st.st_nlink);

	memset(buf, 0, sizeof buf);
	n = syscall(SYS_pread64, fd, buf, 4L, 7L);
	printf("pread(4 @ 7): %ld '%s'\n", n, buf);
	printf("pread past EOF: %ld\n", syscall(SYS_pread64, fd, buf, 4L, 1000L));
	printf("pread negative offset: %s\n", syscall(SYS_pread64, fd, buf, 4L, -1L) < 0 ? errname(errno) : "ok?");
	printf("offset after pread: %ld\n", syscall(SYS_lseek, fd, 0L, SEEK_CUR));

	printf("lseek SET 6: %ld\n", syscall(SYS_lseek, fd, 6L, SEEK_SET));
	printf("lseek CUR +1: %ld\n", syscall(SYS_lseek, fd, 1L, SEEK_CUR));
	char a[3] = {0}, b[6] = {0};
	struct iovec iov[2] = {{a, 2}, {b, 5}};
	n = syscall(SYS_readv, fd, iov, 2);
	printf("readv: %ld '%s' '%.3s'\n", n, a, b);
	printf("lseek END 0: %ld\n", syscall(SYS_lseek, fd, 0L, SEEK_END));
	printf("lseek END -5: %ld\n", syscall(SYS_lseek, fd, -5L, SEEK_END));
	memset(buf, 0, sizeof buf);
	n = syscall(SYS_read, fd, buf, sizeof buf);
	printf("read after END -5: %ld '%.4s'\n", n, buf);
	printf("lseek past END: %ld\n", syscall(SYS_lseek, fd, 100L, SEEK_END));
	printf("read past END: %ld\n", syscall(SYS_read, fd, buf, sizeof buf));
	printf("lseek negative: %s\n", syscall(SYS_lseek, fd, -1L, SEEK_SET) < 0 ? errname(errno) : "ok?");
	printf("lseek bad whence: %s\n", syscall(SYS_lseek, fd, 0L, 42) < 0 ? errname(errno) : "ok?");
	printf("write to O_RDONLY: %s\n", syscall(SYS_write, fd, "x", 1) < 0 ? errname(errno) : "ok?");

	/* fds: dup, dup2, dup3, fcntl */
	long d = syscall(SYS_dup, fd);
	CHECK("dup returns the lowest free fd", d == fd + 1);
	printf("dup shares the offset: %ld\n", syscall(SYS_lseek, d, 0L, SEEK_CUR));
	long d2 = syscall(SYS_dup2, fd, 10);
	printf("dup2 to 10: %ld\n", d2);
	long d3 = syscall(SYS_dup3, fd, 11, O_CLOEXEC);
	printf("dup3 to 11 O_CLOEXEC: %ld, FD_CLOEXEC=%ld\n", d3, syscall(SYS_fcntl, 11, F_GETFD) & FD_CLOEXEC);
	printf("dup3 same fd: %s\n", syscall(SYS_dup3, fd, fd, 0) < 0 ? errname(errno) : "ok?");
	printf("dup2 same fd: %ld\n", syscall(SYS_dup2, fd, fd));
	printf("F_GETFD on dup2 copy: %ld\n", syscall(SYS_fcntl, 10, F_GETFD));
	printf("F_SETFD: %ld\n", syscall(SYS_fcntl, 10, F_SETFD, FD_CLOEXEC));
	printf("F_GETFD after F_SETFD: %ld\n", syscall(SYS_fcntl, 10, F_GETFD));
	printf("F_GETFL accmode is O_RDONLY: %d\n", (syscall(SYS_fcntl, fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	printf("F_DUPFD >= 20: %ld\n", syscall(SYS_fcntl, fd, F_DUPFD, 20));
	long dc = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 20);
	printf("F_DUPFD_CLOEXEC >= 20: %ld, FD_CLOEXEC=%ld\n", dc, syscall(SYS_fcntl, dc, F_GETFD));
	close(d);
	close(10);
	close(11);
	close(20);
	close(21);
	close(fd);
	printf("read closed fd: %s\n", syscall(SYS_read, fd, buf, 1) < 0 ? errname(errno) : "ok?");
	printf("close closed fd: %s\n", syscall(SYS_close, fd) < 0 ? errname(errno) : "ok?");
	printf("fstat bad fd: %s\n", syscall(SYS_fstat, 999, &st) < 0 ? errname(errno) : "ok?");
}

/* FNV-1a over a bigger file read in odd-sized chunks, and its size three
 * ways (fstat, statx, lseek). */
static void medium(void)
{
	int fd = sys_open("/data/medium.bin", O_RDONLY | O_CLOEXEC);
	report("open /data/medium.bin", fd);
	uint64_t h = 0xcbf29ce484222325ull;
	static unsigned char buf[4099];
	long n, total = 0, calls = 0;
	while ((n = syscall(SYS_read, fd, buf, sizeof buf)) > 0) {
		for (long i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
		total += n;
		calls++;
	}
	printf("medium: %ld bytes in %ld reads, fnv1a=%016llx\n", total, calls, (unsigned long long)h);
	struct stat st;
	syscall(SYS_fstat, fd, &st);
	struct statx stx;
	long r = syscall(SYS_statx, AT_FDCWD, "/data/medium.bin", 0, STATX_SIZE | STATX_TYPE, &stx);
	printf("medium sizes: fstat=%lld statx=%s%llu lseek=%ld\n", (long long)st.st_size, r < 0 ? errname(errno) : "",
	       r < 0 ? 0ull : (unsigned long long)stx.stx_size, syscall(SYS_lseek, fd, 0L, SEEK_END));
	CHECK("statx reports a regular file", r == 0 && S_ISREG(stx.stx_mode));
	close(fd);
}

static void stats(void)
{
	struct stat st;
	long r = syscall(SYS_newfstatat, AT_FDCWD, "/data/link", &st, 0);
	printf("stat link (follow): %s size=%lld reg=%d\n", r < 0 ? errname(errno) : "0", (long long)st.st_size,
	       S_ISREG(st.st_mode));
	r = syscall(SYS_newfstatat, AT_FDCWD, "/data/link", &st, AT_SYMLINK_NOFOLLOW);
	printf("lstat link: %s size=%lld lnk=%d\n", r < 0 ? errname(errno) : "0", (long long)st.st_size,
	       S_ISLNK(st.st_mode));
	r = syscall(SYS_newfstatat, AT_FDCWD, "/data/dirlink", &st, 0);
	printf("stat dirlink: %s dir=%d\n", r < 0 ? errname(errno) : "0", S_ISDIR(st.st_mode));
	r = syscall(SYS_newfstatat, AT_FDCWD, "/data/dangling", &st, 0);
	printf("stat dangling: %s\n", r < 0 ? errname(errno) : "ok?");
	r = syscall(SYS_newfstatat, AT_FDCWD, "/data/dangling", &st, AT_SYMLINK_NOFOLLOW);
	printf("lstat dangling: %s\n", r < 0 ? errname(errno) : "0");
	int dfd = sys_open("/data", O_RDONLY | O_DIRECTORY);
	r = syscall(SYS_newfstatat, dfd, "hello.txt", &st, 0);
	printf("fstatat(dirfd, hello.txt): %s size=%lld\n", r < 0 ? errname(errno) : "0", (long long)st.st_size);
	r = syscall(SYS_newfstatat, dfd, "", &st, AT_EMPTY_PATH);
	printf("fstatat(dirfd, \"\", AT_EMPTY_PATH): %s dir=%d\n", r < 0 ? errname(errno) : "0", S_ISDIR(st.st_mode));
	r = syscall(SYS_newfstatat, dfd, "", &st, 0);
	printf("fstatat(dirfd, \"\", 0): %s\n", r < 0 ? errname(errno) : "ok?");
	close(dfd);
	struct statx stx;
	r = syscall(SYS_statx, AT_FDCWD, "/data/dir", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
	printf("statx /data/dir: %s dir=%d\n", r < 0 ? errname(errno) : "0", S_ISDIR(stx.stx_mode));
}

static void links(void)
{
	char buf[64];
	long n = syscall(SYS_readlink, "/data/link", buf, sizeof buf);
	printf("readlink link: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	n = syscall(SYS_readlink, "/data/link", buf, 3);
	printf("readlink link into 3 bytes: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	n = syscall(SYS_readlink, "/data/dangling", buf, sizeof buf);
	printf("readlink dangling: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	int dfd = sys_open("/data", O_RDONLY | O_DIRECTORY);
	n = syscall(SYS_readlinkat, dfd, "dirlink", buf, sizeof buf);
	printf("readlinkat(dirfd, dirlink): %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	close(dfd);
	printf("readlink regular file: %s\n", syscall(SYS_readlink, "/data/hello.txt", buf, sizeof buf) < 0 ? errname(errno) : "ok?");
	printf("readlink missing: %s\n", syscall(SYS_readlink, "/data/missing", buf, sizeof buf) < 0 ? errname(errno) : "ok?");
	printf("readlink zero size: %s\n", syscall(SYS_readlink, "/data/link", buf, 0) < 0 ? errname(errno) : "ok?");
}

static void accesses(void)
{
	report("access hello R_OK", syscall(SYS_access, "/data/hello.txt", R_OK));
	report("access hello F_OK", syscall(SYS_access, "/data/hello.txt", F_OK));
	report("access hello X_OK (mode 0644)", syscall(SYS_access, "/data/hello.txt", X_OK));
	report("access missing F_OK", syscall(SYS_access, "/data/missing", F_OK));
	report("access dir X_OK", syscall(SYS_access, "/data/dir", X_OK));
	report("access through a file", syscall(SYS_access, "/data/hello.txt/x", F_OK));
	report("access dangling", syscall(SYS_access, "/data/dangling", F_OK));
	report("access bad mode", syscall(SYS_access, "/data/hello.txt", 0100));
	int dfd = sys_open("/data", O_RDONLY | O_DIRECTORY);
	report("faccessat(dirfd, hello.txt, R_OK)", syscall(SYS_faccessat, dfd, "hello.txt", R_OK));
	report("faccessat(dirfd, missing)", syscall(SYS_faccessat, dfd, "missing", F_OK));
	report("faccessat2 AT_EACCESS", syscall(SYS_faccessat2, dfd, "hello.txt", R_OK, AT_EACCESS));
	report("faccessat2 dangling AT_SYMLINK_NOFOLLOW", syscall(SYS_faccessat2, dfd, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
	report("faccessat2 bad flags", syscall(SYS_faccessat2, dfd, "hello.txt", F_OK, 0x1));
	report("faccessat bad dirfd", syscall(SYS_faccessat, 999, "hello.txt", F_OK));
	int file = sys_open("/data/hello.txt", O_RDONLY);
	report("faccessat dirfd is a file", syscall(SYS_faccessat, file, "x", F_OK));
	close(file);
	close(dfd);
}

static void bad_opens(void)
{
	report("open missing", sys_open("/data/missing", O_RDONLY));
	report("open missing dir component", sys_open("/data/nodir/x", O_RDONLY));
	report("open through a regular file", sys_open("/data/hello.txt/x", O_RDONLY));
	report("open O_DIRECTORY on a file", sys_open("/data/hello.txt", O_RDONLY | O_DIRECTORY));
	report("open dir O_WRONLY", sys_open("/data/dir", O_WRONLY));
	report("open dangling", sys_open("/data/dangling", O_RDONLY));
	report("open link O_NOFOLLOW", sys_open("/data/link", O_RDONLY | O_NOFOLLOW));
	report("open empty path", sys_open("", O_RDONLY));
	char longname[300];
	memset(longname, 'a', sizeof longname);
	longname[0] = '/';
	longname[sizeof longname - 1] = 0;
	report("open 298-byte name", sys_open(longname, O_RDONLY));
	report("open relative bad dirfd", syscall(SYS_openat, 999, "x", O_RDONLY));
	report("open absolute bad dirfd", syscall(SYS_openat, 999, "/data/hello.txt", O_RDONLY));
	report("open dir via trailing slash on file", sys_open("/data/hello.txt/", O_RDONLY));
	report("open dir with trailing slash", sys_open("/data/dir/", O_RDONLY));
}

static void dirs(void)
{
	print_cwd("start");
	int root = sys_open("/", O_RDONLY | O_DIRECTORY);
	report("chdir /data", syscall(SYS_chdir, "/data"));
	print_cwd("after chdir /data");
	long fd = sys_open("hello.txt", O_RDONLY);
	report("open relative hello.txt", fd);
	close(fd);
	report("chdir dir", syscall(SYS_chdir, "dir"));
	print_cwd("after chdir dir");
	report("chdir ..", syscall(SYS_chdir, ".."));
	print_cwd("after chdir ..");
	report("chdir dirlink", syscall(SYS_chdir, "dirlink"));
	print_cwd("after chdir dirlink");
	report("chdir sub/../..", syscall(SYS_chdir, "sub/../.."));
	print_cwd("after chdir sub/../..");
	report("chdir to a file", syscall(SYS_chdir, "/data/hello.txt"));
	report("chdir missing", syscall(SYS_chdir, "/data/missing"));
	print_cwd("after failed chdirs");
	report("fchdir /", syscall(SYS_fchdir, root));
	print_cwd("after fchdir /");
	report("chdir /../../..", syscall(SYS_chdir, "/../../.."));
	print_cwd("after chdir /../../..");
	int file = sys_open("/data/hello.txt", O_RDONLY);
	report("fchdir to a file", syscall(SYS_fchdir, file));
	report("fchdir bad fd", syscall(SYS_fchdir, 999));
	close(file);
	char small[3];
	report("getcwd / into 3 bytes", syscall(SYS_getcwd, small, sizeof small));
	syscall(SYS_chdir, "/data");
	report("getcwd /data into 3 bytes", syscall(SYS_getcwd, small, sizeof small));
	report("getcwd /data into 0 bytes", syscall(SYS_getcwd, small, 0));
	syscall(SYS_fchdir, root);
	close(root);
}

int main(void)
{
	reads();
	medium();
	stats();
	links();
	accesses();
	bad_opens();
	list_dir("/data/dir");
	list_dir("/data");
	list_dir("/data/dir/sub");
	list_dir("/data/hello.txt");
	dirs();
	return 0;
}
