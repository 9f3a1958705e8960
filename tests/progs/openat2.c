/* openat2(2): the struct's size and flag checks, and the resolve flags
 * (BENEATH, IN_ROOT, NO_SYMLINKS, NO_MAGICLINKS, NO_XDEV, CACHED) on a
 * small tree in /tmp/o2, against /proc's links and mount. */
#include "common.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>

static int dir;

/* openat2 with the given struct size: "ok" (and the fd closed) or the
 * errno's name. */
static void try_size(const char *label, int dfd, const char *path, unsigned long long flags, unsigned long long mode,
		     unsigned long long resolve, size_t size, unsigned char tail)
{
	static unsigned char buf[8192];
	memset(buf, 0, sizeof buf);
	struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
	memcpy(buf, &how, sizeof how);
	if (size > sizeof how)
		buf[size - 1] = tail;
	long fd = syscall(SYS_openat2, dfd, path, buf, size);
	int e = errno;
	if (fd >= 0) {
		printf("%s: ok\n", label);
		close(fd);
	} else {
		printf("%s: %s\n", label, strerrorname_np(e));
	}
}

static void try(const char *label, int dfd, const char *path, unsigned long long flags, unsigned long long resolve)
{
	try_size(label, dfd, path, flags, 0, resolve, sizeof(struct open_how), 0);
}

int main(void)
{
	mkdir("/tmp/o2", 0755);
	mkdir("/tmp/o2/sub", 0755);
	close(open("/tmp/o2/sub/f", O_CREAT | O_WRONLY, 0644));
	symlink("sub/f", "/tmp/o2/rel");
	symlink("/tmp/o2/sub/f", "/tmp/o2/abs");
	symlink("../o2/sub/f", "/tmp/o2/up");
	symlink("/tmp/o2/sub/new2", "/tmp/o2/dangling");
	dir = open("/tmp/o2", O_DIRECTORY | O_RDONLY);
	chdir("/");

	/* The struct and its flags. */
	try_size("size 23", dir, "sub/f", O_RDONLY, 0, 0, 23, 0);
	try_size("size 32, zero tail", dir, "sub/f", O_RDONLY, 0, 0, 32, 0);
	try_size("size 32, nonzero tail", dir, "sub/f", O_RDONLY, 0, 0, 32, 1);
	try_size("size 5000", dir, "sub/f", O_RDONLY, 0, 0, 5000, 0);
	try_size("a mode without O_CREAT", dir, "sub/f", O_RDONLY, 0644, 0, sizeof(struct open_how), 0);
	try_size("a mode beyond 07777", dir, "sub/new", O_RDWR | O_CREAT, 010000, 0, sizeof(struct open_how), 0);
	try("an unknown flag bit", dir, "sub/f", O_RDONLY | (1ULL << 40), 0);
	try("O_PATH with O_RDWR", dir, "sub/f", O_PATH | O_RDWR, 0);
	try("O_PATH with O_NOFOLLOW", dir, "rel", O_PATH | O_NOFOLLOW, 0);
	try("an unknown resolve bit", dir, "sub/f", O_RDONLY, 0x100);
	try("BENEATH and IN_ROOT", dir, "sub/f", O_RDONLY, RESOLVE_BENEATH | RESOLVE_IN_ROOT);
	try("CACHED with O_CREAT", dir, "sub/f", O_RDONLY | O_CREAT, RESOLVE_CACHED);
	try("a bad dirfd", 99, "sub/f", O_RDONLY, 0);

	/* BENEATH: never above the directory. */
	try("beneath: sub/f", dir, "sub/f", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: sub/../sub/f", dir, "sub/../sub/f", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: a relative symlink", dir, "rel", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: an absolute symlink", dir, "abs", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: a symlink up and back", dir, "up", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: ..", dir, "..", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: an absolute path", dir, "/tmp/o2/sub/f", O_RDONLY, RESOLVE_BENEATH);
	try("beneath: create sub/new", dir, "sub/new", O_RDWR | O_CREAT, RESOLVE_BENEATH);
	try("beneath: create through an absolute dangling link", dir, "dangling", O_RDWR | O_CREAT, RESOLVE_BENEATH);

	/* IN_ROOT: the directory is the root. */
	try("in root: /sub/f", dir, "/sub/f", O_RDONLY, RESOLVE_IN_ROOT);
	try("in root: an absolute symlink", dir, "abs", O_RDONLY, RESOLVE_IN_ROOT);
	try("in root: ../../sub/f", dir, "../../sub/f", O_RDONLY, RESOLVE_IN_ROOT);
	try("in root: /proc/self/cwd", dir, "/proc/self/cwd", O_RDONLY, RESOLVE_IN_ROOT);

	/* Symlinks and magic links. */
	try("no symlinks: rel", dir, "rel", O_RDONLY, RESOLVE_NO_SYMLINKS);
	try("no symlinks: sub/f", dir, "sub/f", O_RDONLY, RESOLVE_NO_SYMLINKS);
	try("no symlinks: /proc/self/status", AT_FDCWD, "/proc/self/status", O_RDONLY, RESOLVE_NO_SYMLINKS);
	try("no magic links: /proc/self/status", AT_FDCWD, "/proc/self/status", O_RDONLY, RESOLVE_NO_MAGICLINKS);
	try("no magic links: /proc/self/cwd", AT_FDCWD, "/proc/self/cwd", O_RDONLY | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
	try("no magic links: /proc/self/fd/0 O_PATH|O_NOFOLLOW", AT_FDCWD, "/proc/self/fd/0", O_PATH | O_NOFOLLOW,
	    RESOLVE_NO_MAGICLINKS);
	char fdpath[64];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", dir);
	try("no magic links: /proc/self/fd/N", AT_FDCWD, fdpath, O_RDONLY, RESOLVE_NO_MAGICLINKS);
	try("plain: /proc/self/fd/N", AT_FDCWD, fdpath, O_RDONLY, 0);

	/* Mounts. */
	try("no xdev: /proc/version", AT_FDCWD, "/proc/version", O_RDONLY, RESOLVE_NO_XDEV);
	try("no xdev: sub/f", dir, "sub/f", O_RDONLY, RESOLVE_NO_XDEV);
	int proc = open("/proc", O_DIRECTORY | O_RDONLY);
	try("no xdev: .. out of /proc", proc, "..", O_RDONLY, RESOLVE_NO_XDEV);
	try("no xdev: version in /proc", proc, "version", O_RDONLY, RESOLVE_NO_XDEV);
	/* Linux may answer EAGAIN to RESOLVE_CACHED whenever the walk is not
	 * all in its caches (a loaded host evicts them), so either answer
	 * reads the same. */
	struct open_how cached = { .flags = O_RDONLY, .resolve = RESOLVE_CACHED };
	long fd = syscall(SYS_openat2, dir, "sub/f", &cached, sizeof cached);
	printf("cached: sub/f: %s\n", fd >= 0 || errno == EAGAIN ? "ok or EAGAIN" : strerrorname_np(errno));
	return 0;
}
