/* The writable tmpfs at /tmp: create, write, read, stat, truncate,
 * append, rename, link, symlink, mkdir, rmdir, unlink, readdir, umask,
 * file mmap (shared and beyond EOF: SIGBUS), and a 4 MiB file.
 *
 * Everything happens under /tmp/husk-tmp-test, which the program removes
 * again; readdir output is sorted here, since the order is the
 * filesystem's. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define D "/tmp/husk-tmp-test"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		printf("opendir %s: %s\n", dir, errname(errno));
		return;
	}
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("ls %s:", dir);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void stat_line(const char *path)
{
	struct stat st;
	if (lstat(path, &st)) {
		printf("lstat %s: %s\n", path, errname(errno));
		return;
	}
	const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "other";
	if (S_ISDIR(st.st_mode)) /* a directory's size is the filesystem's business */
		printf("lstat %s: %s mode %04o uid %d gid %d\n", path, type, st.st_mode & 07777, st.st_uid, st.st_gid);
	else
		printf("lstat %s: %s mode %04o size %lld nlink %lu uid %d gid %d\n", path, type, st.st_mode & 07777,
		       (long long)st.st_size, (unsigned long)st.st_nlink, st.st_uid, st.st_gid);
}

static sigjmp_buf jb;
static volatile int bus_code;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_code = si->si_code;
	siglongjmp(jb, 1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	char buf[256];
	long r;

	struct stat st;
	stat("/tmp", &st);
	printf("/tmp: dir %s, mode %04o\n", S_ISDIR(st.st_mode) ? "yes" : "no", st.st_mode & 07777);

	umask(022);
	printf("umask(027) returns the previous 022: %s\n", umask(027) == 022 ? "ok" : "bad");
	report("mkdir " D, mkdir(D, 0777));
	stat_line(D);

	int fd = open(D "/a", O_CREAT | O_EXCL | O_RDWR, 0666);
	report("create a", fd);
	r = write(fd, "hello tmpfs\n", 12);
	printf("write: %ld\n", r);
	memset(buf, 0, sizeof buf);
	r = pread(fd, buf, sizeof buf, 6);
	printf("pread @6: %ld '%.*s'\n", r, (int)(r > 0 ? r - 1 : 0), buf);
	stat_line(D "/a");
	errno = 0;
	r = open(D "/a", O_CREAT | O_EXCL | O_RDWR, 0666);
	printf("O_EXCL on an existing file: %ld %s\n", r, errname(errno));

	report("ftruncate to 5", ftruncate(fd, 5));
	report("ftruncate to 10000", ftruncate(fd, 10000));
	memset(buf, 1, sizeof buf);
	r = pread(fd, buf, 16, 5);
	int zeros = 1;
	for (int i = 0; i < 16; i++)
		zeros &= buf[i] == 0;
	printf("the extension reads as zeros: %ld %s\n", r, zeros ? "ok" : "bad");
	report("truncate back to 5", truncate(D "/a", 5));
	close(fd);

	fd = open(D "/a", O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	r = write(fd, " world", 6);
	close(fd);
	fd = open(D "/a", O_RDONLY);
	memset(buf, 0, sizeof buf);
	r = read(fd, buf, sizeof buf);
	printf("after O_APPEND: %ld '%s'\n", r, buf);
	close(fd);

	report("link a b", link(D "/a", D "/b"));
	stat_line(D "/b");
	report("symlink", symlink("a", D "/s"));
	stat_line(D "/s");
	memset(buf, 0, sizeof buf);
	r = readlink(D "/s", buf, sizeof buf);
	printf("readlink s: %ld '%s'\n", r, buf);
	report("mkdir sub", mkdir(D "/sub", 0755));
	report("rename b into sub/c", rename(D "/b", D "/sub/c"));
	stat_line(D "/b");
	list(D);
	list(D "/sub");
	errno = 0;
	r = rmdir(D "/sub");
	printf("rmdir a non-empty dir: %ld %s\n", r, errname(errno));
	fd = open(D "/z", O_CREAT | O_WRONLY, 0644);
	r = write(fd, "zzz", 3);
	close(fd);
	report("rename z over a (replaces it)", rename(D "/z", D "/a"));
	fd = open(D "/a", O_RDONLY);
	memset(buf, 0, sizeof buf);
	r = read(fd, buf, sizeof buf);
	printf("a now: '%s'\n", buf);
	close(fd);
	stat_line(D "/sub/c");

	/* An unlinked file stays readable through an open fd. */
	fd = open(D "/sub/c", O_RDONLY);
	report("unlink sub/c", unlink(D "/sub/c"));
	memset(buf, 0, sizeof buf);
	r = read(fd, buf, sizeof buf);
	printf("read from the unlinked file: %ld '%s'\n", r, buf);
	close(fd);
	report("rmdir sub", rmdir(D "/sub"));
	errno = 0;
	r = unlink(D "/missing");
	printf("unlink a missing file: %ld %s\n", r, errname(errno));
	errno = 0;
	r = mkdir(D "/a/x", 0755);
	printf("mkdir under a file: %ld %s\n", r, errname(errno));

	/* 4 MiB written in odd chunks, read back and summed. */
	fd = open(D "/big", O_CREAT | O_RDWR | O_TRUNC, 0600);
	static unsigned char big[4 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 131 + (i >> 12));
	size_t off = 0;
	while (off < sizeof big) {
		size_t n = sizeof big - off < 12345 ? sizeof big - off : 12345;
		if (write(fd, big + off, n) != (long)n)
			break;
		off += n;
	}
	static unsigned char back[4 << 20];
	r = pread(fd, back, sizeof back, 0);
	printf("4 MiB file: wrote %zu, read %ld, same: %s\n", off, r, memcmp(big, back, sizeof big) ? "bad" : "ok");
	stat_line(D "/big");

	/* A shared file mapping writes through to the file. */
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		printf("mmap MAP_SHARED: %s\n", errname(errno));
	} else {
		printf("mapping sees the file: %s\n", m[5000] == big[5000] ? "ok" : "bad");
		m[5000] = 0x5a;
		msync(m, 8192, MS_SYNC);
		unsigned char c = 0;
		r = pread(fd, &c, 1, 5000);
		printf("write through the mapping reaches the file: %s\n", c == 0x5a ? "ok" : "bad");
		munmap(m, 8192);
	}
	close(fd);

	/* Touching a mapped page wholly beyond EOF raises SIGBUS. */
	fd = open(D "/short", O_CREAT | O_RDWR, 0600);
	r = write(fd, "x", 1);
	m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(jb, 1) == 0) {
		volatile unsigned char c = m[4096];
		(void)c;
		printf("read beyond EOF: no fault: bad\n");
	} else {
		printf("read beyond EOF: SIGBUS, BUS_ADRERR: %s\n", bus_code == BUS_ADRERR ? "ok" : "bad");
	}
	printf("the rest of the first page reads as zero: %s\n", m[1] == 0 && m[4095] == 0 ? "ok" : "bad");
	munmap(m, 8192);
	close(fd);

	/* Extended attributes: user. and (as root) trusted. */
	int xf = open(D "/x", O_WRONLY | O_CREAT, 0644);
	close(xf);
	report("setxattr user.a", setxattr(D "/x", "user.a", "one", 3, 0));
	report("setxattr trusted.t", setxattr(D "/x", "trusted.t", "two", 3, 0));
	report("setxattr XATTR_CREATE over one", setxattr(D "/x", "user.a", "x", 1, XATTR_CREATE));
	report("setxattr XATTR_REPLACE of none", setxattr(D "/x", "user.b", "x", 1, XATTR_REPLACE));
	report("setxattr XATTR_REPLACE", setxattr(D "/x", "user.a", "uno", 3, XATTR_REPLACE));
	report("setxattr both flags", setxattr(D "/x", "user.a", "x", 1, 3));
	report("setxattr an empty name", setxattr(D "/x", "", "x", 1, 0));
	report("setxattr no namespace", setxattr(D "/x", "plain", "x", 1, 0));
	report("setxattr user. alone", setxattr(D "/x", "user.", "x", 1, 0));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[299] = 0;
	report("setxattr a 299-byte name", setxattr(D "/x", longname, "x", 1, 0));
	report("lsetxattr user. on a symlink", lsetxattr(D "/s", "user.a", "x", 1, 0));
	char xv[16] = { 0 };
	printf("getxattr user.a: %zd %s\n", getxattr(D "/x", "user.a", xv, sizeof xv), xv);
	printf("getxattr size only: %zd\n", getxattr(D "/x", "user.a", NULL, 0));
	report("getxattr into 2 bytes", getxattr(D "/x", "user.a", xv, 2));
	report("getxattr a missing name", getxattr(D "/x", "user.none", xv, sizeof xv));
	char xl[64];
	ssize_t xn = listxattr(D "/x", xl, sizeof xl);
	int users = 0, trusted = 0;
	for (ssize_t i = 0; i < xn; i += strlen(xl + i) + 1) {
		users += !strncmp(xl + i, "user.", 5);
		trusted += !strncmp(xl + i, "trusted.", 8);
	}
	printf("listxattr: %zd bytes, %d user, %d trusted\n", xn, users, trusted);
	report("listxattr into 3 bytes", listxattr(D "/x", xl, 3));
	report("removexattr user.a", removexattr(D "/x", "user.a"));
	report("removexattr user.a again", removexattr(D "/x", "user.a"));
	xf = open(D "/x", O_RDONLY);
	report("fsetxattr on an O_RDONLY fd", fsetxattr(xf, "user.f", "v", 1, 0));
	printf("fgetxattr: %zd\n", fgetxattr(xf, "user.f", xv, sizeof xv));
	close(xf);
	unlink(D "/x");

	/* Clean up. */
	unlink(D "/big");
	unlink(D "/short");
	unlink(D "/a");
	unlink(D "/s");
	list(D);
	report("rmdir " D, rmdir(D));
	printf("done\n");
	return 0;
}
