/* The root as an overlay: every change to the rootfs works, as on Linux's
 * overlayfs, and stays in the sandbox.
 *
 * Needs the fixture tests/overlay.rs makes under /data: file ("lower\n",
 * mode 0640, owner 1000:1000), other ("other\n"), big (64 KiB of 'b'),
 * link -> file, dir/{a,b}, sub (mode 0750)/deep/x ("x\n"), empty/,
 * full/a.
 *
 * Copy-up of each kind of change (write, append, O_TRUNC, chmod, chown,
 * utimensat, truncate, link), whiteouts (unlink, rmdir, rename), opaque
 * directories made where one was removed, EXDEV for renaming a directory
 * that has a lower one, ENOTEMPTY counting lower entries, readdir of the
 * merged directories, and statfs and /proc/mounts for /.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

static const char *slurp(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(buf, sizeof buf, "(%s)", errname(errno));
		return buf;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = '|';
	return buf;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory's names, sorted, with "." and ".." left out. */
static void list(const char *label, const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("%s: (%s)\n", label, errname(errno));
		return;
	}
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	printf("%s:", label);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void write_str(const char *path, int flags, const char *s)
{
	int fd = open(path, flags, 0644);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		printf("write %s: bad (%s)\n", path, errname(errno));
	close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct stat st;

	printf("lower file: %s\n", slurp("/data/file"));
	/* Opened before its copy-up, a file still reads what the overlay
	 * shows: the copy, once there is one (Linux 4.19 and later). */
	int early = open("/data/file", O_RDONLY);
	write_str("/data/file", O_WRONLY | O_APPEND, "more\n");
	char eb[32] = { 0 };
	pread(early, eb, sizeof eb - 1, 0);
	for (char *p = eb; *p; p++)
		if (*p == '\n')
			*p = '|';
	struct stat est;
	fstat(early, &est);
	printf("an fd opened before the copy-up reads: %s (size %lld)\n", eb, (long long)est.st_size);
	close(early);
	printf("after an append: %s\n", slurp("/data/file"));
	stat("/data/file", &st);
	printf("its mode %o, owner %d:%d\n", st.st_mode & 07777, st.st_uid, st.st_gid);
	char xv[32] = { 0 };
	ssize_t xn = getxattr("/data/file", "user.origin", xv, sizeof xv - 1);
	printf("its user.origin, copied up: %s\n", xn < 0 ? errname(errno) : xv);
	report("setxattr on the copy", setxattr("/data/file", "user.added", "new", 3, 0));
	char xl[64] = { 0 };
	xn = listxattr("/data/file", xl, sizeof xl);
	for (ssize_t i = 0; i + 1 < xn; i++)
		if (!xl[i])
			xl[i] = ',';
	printf("its user attributes: %s\n", xn < 0 ? errname(errno) : xl);
	xn = getxattr("/data/other", "user.origin", xv, sizeof xv - 1);
	printf("a lower file's user.origin, not copied up: %s\n", xn < 0 ? errname(errno) : (xv[xn] = 0, xv));
	stat("/data/sub", &st);
	printf("/data/sub mode %o\n", st.st_mode & 07777);
	write_str("/data/sub/deep/x", O_WRONLY | O_TRUNC, "new x\n");
	printf("a deep file rewritten: %s\n", slurp("/data/sub/deep/x"));
	stat("/data/sub", &st);
	printf("its grandparent, copied up, mode %o\n", st.st_mode & 07777);

	report("chmod a lower file", chmod("/data/other", 0600));
	stat("/data/other", &st);
	printf("mode now %o, contents %s\n", st.st_mode & 07777, slurp("/data/other"));
	report("chown a lower file", chown("/data/big", 7, 8));
	stat("/data/big", &st);
	printf("owner now %d:%d, size %lld\n", st.st_uid, st.st_gid, (long long)st.st_size);
	struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 500 } };
	report("utimensat", utimensat(AT_FDCWD, "/data/dir/a", ts, 0));
	stat("/data/dir/a", &st);
	printf("mtime now %lld.%ld\n", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	report("truncate a lower file", truncate("/data/big", 3));
	printf("now: %s\n", slurp("/data/big"));

	/* Whiteouts. */
	report("unlink a lower file", unlink("/data/dir/b"));
	report("stat it", stat("/data/dir/b", &st));
	list("/data/dir", "/data/dir");
	write_str("/data/dir/b", O_WRONLY | O_CREAT | O_EXCL, "reborn\n");
	printf("made again: %s\n", slurp("/data/dir/b"));
	list("/data/dir", "/data/dir");
	report("O_EXCL over a lower file", open("/data/dir/a", O_WRONLY | O_CREAT | O_EXCL, 0644));

	report("rmdir a lower directory with entries", rmdir("/data/sub/deep"));
	report("unlink its file", unlink("/data/sub/deep/x"));
	report("rmdir it now", rmdir("/data/sub/deep"));
	report("stat it", stat("/data/sub/deep", &st));
	report("mkdir it again", mkdir("/data/sub/deep", 0700));
	list("the new one is empty (opaque)", "/data/sub/deep");
	report("rmdir a lower empty directory", rmdir("/data/empty"));
	list("/data", "/data");

	/* Renames. */
	report("rename a lower file", rename("/data/dir/a", "/data/moved"));
	report("the old name", stat("/data/dir/a", &st));
	stat("/data/moved", &st);
	printf("the new name's mtime %lld\n", (long long)st.st_mtim.tv_sec);
	report("rename a lower file over another", rename("/data/other", "/data/dir/b"));
	printf("the replaced name: %s\n", slurp("/data/dir/b"));
	report("rename a lower directory", rename("/data/dir", "/data/dir2"));
	report("mkdir a new one", mkdir("/data/newdir", 0755));
	write_str("/data/newdir/f", O_WRONLY | O_CREAT, "f\n");
	report("rename a new directory", rename("/data/newdir", "/data/newdir2"));
	printf("its file: %s\n", slurp("/data/newdir2/f"));
	report("rmdir a directory of whiteouts only", (unlink("/data/dir/b"), rmdir("/data/dir")));
	/* A new directory over a lower one that still has entries. */
	mkdir("/data/src", 0755);
	mkdir("/data/src/x", 0755);
	report("rename a new directory over a full lower one", rename("/data/src/x", "/data/full"));
	report("and over an empty new one", (mkdir("/data/src/y", 0755), rename("/data/src/x", "/data/src/y")));
	list("/data", "/data");

	/* Links. */
	report("link a lower file", link("/data/link", "/data/hard"));
	lstat("/data/hard", &st);
	printf("linked the symlink: link count %d, is a link %d\n", (int)st.st_nlink, S_ISLNK(st.st_mode));
	report("link a regular lower file", link("/data/moved", "/data/hard2"));
	stat("/data/hard2", &st);
	printf("link count %d\n", (int)st.st_nlink);
	write_str("/data/hard2", O_WRONLY | O_TRUNC, "shared\n");
	printf("through the other name: %s\n", slurp("/data/moved"));
	char target[64] = "";
	readlink("/data/link", target, sizeof target - 1);
	printf("the lower symlink: %s -> %s\n", target, slurp("/data/link"));

	/* A big new file. */
	int fd = open("/data/large", O_RDWR | O_CREAT, 0644);
	char block[4096];
	for (int i = 0; i < 256; i++) {
		memset(block, 'a' + i % 26, sizeof block);
		write(fd, block, sizeof block);
	}
	lseek(fd, 4096 * 100, SEEK_SET);
	read(fd, block, 1);
	fstat(fd, &st);
	printf("1 MiB written: size %lld, block 100 is '%c'\n", (long long)st.st_size, block[0]);
	close(fd);

	struct statvfs sv;
	statvfs("/", &sv);
	printf("statvfs /: read-only %d\n", !!(sv.f_flag & ST_RDONLY));
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[512], fstype[64] = "?";
	while (m && fgets(line, sizeof line, m)) {
		char dev[256], dir[256], type[64];
		if (sscanf(line, "%255s %255s %63s", dev, dir, type) == 3 && !strcmp(dir, "/"))
			snprintf(fstype, sizeof fstype, "%s", type);
	}
	if (m)
		fclose(m);
	printf("/ is %s\n", fstype);
	printf("done\n");
	return 0;
}
