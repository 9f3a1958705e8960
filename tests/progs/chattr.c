/* Inode flags on tmpfs (FS_IOC_GETFLAGS, FS_IOC_SETFLAGS: chattr's):
 * which flags tmpfs keeps, who may set them, what an immutable or an
 * append-only file (or directory) refuses, and statx's attributes. */
#include "common.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>

#define D "/tmp/chattr"

static int getflags(const char *path)
{
	int fd = open(path, O_RDONLY);
	int flags = -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0)
		flags = -errno;
	close(fd);
	return flags;
}

static long setflags(const char *path, int flags)
{
	int fd = open(path, O_RDONLY);
	long r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static void drop_effective(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	d[cap / 32].effective &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &h, d) != 0)
		printf("capset: %s: bad\n", errname(errno));
}

static void attrs(const char *label, const char *path)
{
	struct statx sx;
	if (syscall(SYS_statx, AT_FDCWD, path, 0, STATX_BASIC_STATS, &sx) != 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	unsigned long long m = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND | STATX_ATTR_NODUMP;
	printf("%s: mask %s, attributes 0x%llx\n", label, (sx.stx_attributes_mask & m) == m ? "has all three" : "lacks some",
	       (unsigned long long)(sx.stx_attributes & m));
}

static void touch(const char *path)
{
	close(open(path, O_CREAT | O_WRONLY, 0644));
}

int main(void)
{
	mkdir(D, 0755);
	touch(D "/i");
	touch(D "/a");
	touch(D "/plain");
	mkdir(D "/idir", 0755);
	touch(D "/idir/inside");

	printf("flags of a new file: %d\n", getflags(D "/i"));
	report("set FS_SYNC_FL", setflags(D "/i", FS_SYNC_FL));
	report("set FS_NODUMP_FL", setflags(D "/plain", FS_NODUMP_FL));
	printf("flags now: 0x%x\n", getflags(D "/plain"));
	report("set FS_NOATIME_FL | FS_NODUMP_FL", setflags(D "/plain", FS_NOATIME_FL | FS_NODUMP_FL));
	printf("flags now: 0x%x\n", getflags(D "/plain"));
	int p[2];
	pipe(p);
	int f = 0;
	report("FS_IOC_GETFLAGS on a pipe", ioctl(p[0], FS_IOC_GETFLAGS, &f));
	report("FS_IOC_GETFLAGS into a bad pointer", ioctl(open(D "/i", O_RDONLY), FS_IOC_GETFLAGS, (void *)8));

	/* Who may set them. */
	fflush(stdout);
	if (fork() == 0) {
		drop_effective(CAP_LINUX_IMMUTABLE);
		report("set FS_IMMUTABLE_FL without CAP_LINUX_IMMUTABLE", setflags(D "/i", FS_IMMUTABLE_FL));
		report("set FS_NODUMP_FL without CAP_LINUX_IMMUTABLE", setflags(D "/i", FS_NODUMP_FL));
		setflags(D "/i", 0);
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);
	chmod(D "/plain", 0666);
	fflush(stdout);
	if (fork() == 0) {
		setuid(65534);
		report("set FS_NODUMP_FL on another's file", setflags(D "/plain", FS_NODUMP_FL));
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);

	/* Immutable. */
	report("set FS_IMMUTABLE_FL", setflags(D "/i", FS_IMMUTABLE_FL));
	printf("flags now: 0x%x\n", getflags(D "/i"));
	attrs("statx of the immutable file", D "/i");
	report("open it O_WRONLY", open(D "/i", O_WRONLY));
	report("open it O_RDONLY|O_TRUNC", open(D "/i", O_RDONLY | O_TRUNC));
	report("access(W_OK)", access(D "/i", W_OK));
	report("truncate", truncate(D "/i", 0));
	report("chmod", chmod(D "/i", 0600));
	report("chown", chown(D "/i", 1, 1));
	report("utimes(NULL)", utimes(D "/i", NULL));
	report("setxattr user.x", setxattr(D "/i", "user.x", "x", 1, 0));
	report("link", link(D "/i", D "/i2"));
	report("rename", rename(D "/i", D "/i3"));
	report("unlink", unlink(D "/i"));
	report("set FS_IMMUTABLE_FL on a directory", setflags(D "/idir", FS_IMMUTABLE_FL));
	report("create in it", open(D "/idir/new", O_CREAT | O_WRONLY, 0644));
	report("unlink in it", unlink(D "/idir/inside"));
	report("mkdir in it", mkdir(D "/idir/sub", 0755));
	report("write to a file in it", open(D "/idir/inside", O_WRONLY) >= 0 ? 0 : -1);
	report("clear the directory's flags", setflags(D "/idir", 0));
	report("clear the file's flags", setflags(D "/i", 0));
	report("unlink it then", unlink(D "/i"));

	/* Append-only. */
	report("set FS_APPEND_FL", setflags(D "/a", FS_APPEND_FL));
	attrs("statx of the append-only file", D "/a");
	report("open it O_WRONLY", open(D "/a", O_WRONLY));
	report("open it O_WRONLY|O_APPEND|O_TRUNC", open(D "/a", O_WRONLY | O_APPEND | O_TRUNC));
	int fd = open(D "/a", O_WRONLY | O_APPEND);
	report("open it O_WRONLY|O_APPEND", fd);
	printf("write: %zd\n", write(fd, "abc", 3));
	report("F_SETFL without O_APPEND", fcntl(fd, F_SETFL, 0));
	report("F_SETFL with O_APPEND|O_NONBLOCK", fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK));
	report("ftruncate", ftruncate(fd, 0));
	report("fallocate", fallocate(fd, 0, 0, 4096));
	report("fallocate(PUNCH_HOLE)", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1));
	report("utimes(NULL)", utimes(D "/a", NULL));
	struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
	report("utimensat(NOW, OMIT)", utimensat(AT_FDCWD, D "/a", ts, 0));
	report("chmod", chmod(D "/a", 0600));
	report("unlink", unlink(D "/a"));
	report("setxattr user.x", setxattr(D "/a", "user.x", "x", 1, 0));
	close(fd);
	report("clear its flags", setflags(D "/a", 0));
	printf("its size: %ld\n", (long)lseek(open(D "/a", O_RDONLY), 0, SEEK_END));

	/* A directory's FS_NODUMP_FL and FS_NOATIME_FL go to new files. */
	mkdir(D "/nd", 0755);
	setflags(D "/nd", FS_NODUMP_FL | FS_NOATIME_FL);
	touch(D "/nd/f");
	printf("a new file in a nodump, noatime directory: 0x%x\n", getflags(D "/nd/f"));

	/* Clean up. */
	unlink(D "/nd/f");
	rmdir(D "/nd");
	unlink(D "/a");
	unlink(D "/plain");
	unlink(D "/idir/inside");
	rmdir(D "/idir");
	rmdir(D);
	return 0;
}
