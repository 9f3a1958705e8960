/* Changes to a host directory: run in a read-write volume, or a root
 * written through (--root-writes host), and natively on the same kind of
 * directory. argv[1] is the directory to work in; it is emptied first.
 *
 * Files made, written, appended, truncated; directories made and removed;
 * rename in all its cases (over files and directories, NOREPLACE,
 * EXCHANGE, into itself); hard and symbolic links; chmod, chown and
 * utimensat; FIFOs; user extended attributes; fsync, fallocate, statfs;
 * and, as a user who is not root, Linux's permission checks: DAC, the
 * sticky bit, set-group-id directories and the umask.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		printf("put %s: %s\n", path, errname(errno));
	close(fd);
}

/* A file's contents; four results may be used at once. */
static const char *slurp(const char *path)
{
	static char bufs[4][256];
	static int next;
	char *buf = bufs[next++ % 4];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(buf, 256, "(%s)", errname(errno));
		return buf;
	}
	ssize_t n = read(fd, buf, 255);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The names in a directory, sorted, on one line. */
static void list(const char *label, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	printf("%s:", label);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]->d_name);
		free(names[i]);
	}
	printf("\n");
	free(names);
}

static void as_user(uid_t uid, gid_t gid, void (*body)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		gid_t none[1] = { gid };
		if (setgroups(1, none) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
			printf("dropping privileges: %s\n", errname(errno));
			_exit(1);
		}
		body();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("user %d: %s\n", (int)uid, status_str(st));
}

static void user_checks(void)
{
	struct stat st;
	report("user creates in root's 0755 dir", open("closed/new", O_WRONLY | O_CREAT, 0644));
	report("user mkdir in root's 0755 dir", mkdir("closed/d", 0755));
	report("user reads root's 0600 file", open("closed/secret", O_RDONLY));
	report("user writes root's 0644 file", open("closed/public", O_WRONLY));
	report("user reads root's 0644 file", open("closed/public", O_RDONLY));
	report("user chmods root's file", chmod("closed/public", 0777));
	report("user chowns root's file", chown("closed/public", 1000, 1000));
	report("user unlinks in root's dir", unlink("closed/public"));
	struct timespec t[2] = { { 1, 0 }, { 2, 0 } };
	report("user sets times of root's 0666 file, explicitly", utimensat(AT_FDCWD, "closed/open", t, 0));
	report("user sets times of root's 0666 file, to now", utimensat(AT_FDCWD, "closed/open", NULL, 0));
	/* The sticky bit: only a file's (or the directory's) owner removes it. */
	report("user unlinks another user's file in a sticky dir", unlink("sticky/theirs"));
	report("user renames another user's file in a sticky dir", rename("sticky/theirs", "sticky/x"));
	int fd = open("sticky/mine", O_WRONLY | O_CREAT | O_EXCL, 0666);
	report("user creates in a sticky dir", fd);
	close(fd);
	stat("sticky/mine", &st);
	printf("its owner %d:%d mode %o\n", (int)st.st_uid, (int)st.st_gid, st.st_mode & 07777);
	report("user unlinks their own file in a sticky dir", unlink("sticky/mine"));
	/* Set-group-id directory: new files take its group; a non-member's
	 * set-group-id bit is dropped on chmod. */
	fd = open("sgid/userfile", O_WRONLY | O_CREAT | O_EXCL, 02755);
	close(fd);
	stat("sgid/userfile", &st);
	printf("user's file in a setgid dir: gid %d mode %o\n", (int)st.st_gid, st.st_mode & 07777);
	report("user chmods their file with setgid", chmod("sgid/userfile", 02755));
	stat("sgid/userfile", &st);
	printf("after chmod g+s as a non-member: mode %o\n", st.st_mode & 07777);
	report("user chowns their file to a group not theirs", chown("sgid/userfile", -1, 0));
	report("user removes their file", unlink("sgid/userfile"));
	report("user sets a user xattr on root's 0644 file", setxattr("closed/public", "user.x", "v", 1, 0));
}

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1]) != 0) {
		printf("usage: hostwrite DIR\n");
		return 2;
	}
	nftw(".", rm_one, 16, FTW_DEPTH | FTW_PHYS);
	umask(022);
	struct stat st;

	/* Files. */
	int fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0666);
	report("create", fd);
	fstat(fd, &st);
	printf("umask 022 applied: %o, size %lld\n", st.st_mode & 07777, (long long)st.st_size);
	report("create again with O_EXCL", open("f", O_RDWR | O_CREAT | O_EXCL, 0666));
	write(fd, "hello world", 11);
	char buf[32] = { 0 };
	pread(fd, buf, 5, 6);
	printf("pread at 6: %s\n", buf);
	fstat(fd, &st);
	printf("fstat size after write: %lld\n", (long long)st.st_size);
	stat("f", &st);
	printf("stat by name after write: %lld\n", (long long)st.st_size);
	report("ftruncate", ftruncate(fd, 5));
	report("fsync", fsync(fd));
	report("fdatasync", fdatasync(fd));
	report("fallocate", fallocate(fd, 0, 0, 8192));
	fstat(fd, &st);
	printf("size after fallocate: %lld\n", (long long)st.st_size);
	report("ftruncate back", ftruncate(fd, 5));
	close(fd);
	fd = open("f", O_WRONLY | O_APPEND);
	write(fd, "!", 1);
	close(fd);
	printf("appended: %s\n", slurp("f"));
	report("truncate by path", truncate("f", 2));
	stat("f", &st);
	printf("stat size after truncate: %lld, content %s\n", (long long)st.st_size, slurp("f"));
	fd = open("f", O_WRONLY | O_TRUNC);
	close(fd);
	stat("f", &st);
	printf("after O_TRUNC: %lld\n", (long long)st.st_size);
	report("open a directory for writing", open(".", O_WRONLY));
	report("O_CREAT on a directory", open(".", O_RDONLY | O_CREAT, 0644));
	report("open a missing file", open("missing", O_RDONLY));

	/* Directories. */
	report("mkdir", mkdir("d", 0777));
	stat("d", &st);
	printf("dir mode %o\n", st.st_mode & 07777);
	report("mkdir again", mkdir("d", 0755));
	put("d/inner", "in");
	report("rmdir non-empty", rmdir("d"));
	report("rmdir a file", rmdir("f"));
	report("unlink a directory", unlink("d"));
	report("mkdir in a missing dir", mkdir("nope/x", 0755));
	report("mkdir under a file", mkdir("f/x", 0755));
	report("mkdir e", mkdir("e", 0755));
	report("rmdir e", rmdir("e"));
	report("rmdir ., EINVAL", rmdir("d/."));
	list("after mkdir and rmdir", ".");

	/* Rename. */
	put("a", "A");
	put("b", "B");
	report("rename over a file", rename("a", "b"));
	printf("b now: %s, a: %s\n", slurp("b"), slurp("a"));
	mkdir("empty", 0755);
	mkdir("full", 0755);
	put("full/x", "x");
	report("rename a file over a dir", rename("b", "empty"));
	report("rename a dir over a file", rename("full", "b"));
	report("rename a dir over a non-empty dir", rename("empty", "full"));
	report("rename a dir over an empty dir", rename("full", "empty"));
	printf("empty/x: %s\n", slurp("empty/x"));
	report("rename a dir into itself", rename("empty", "empty/sub"));
	report("renameat2 NOREPLACE over a file", syscall(SYS_renameat2, AT_FDCWD, "b", AT_FDCWD, "f", 1));
	put("f", "F");
	report("renameat2 EXCHANGE", syscall(SYS_renameat2, AT_FDCWD, "b", AT_FDCWD, "f", 2));
	printf("after exchange b=%s f=%s\n", slurp("b"), slurp("f"));
	report("rename a missing file", rename("missing", "x"));
	report("rename to a missing dir", rename("b", "nope/b"));
	fd = open("b", O_RDONLY);
	rename("b", "moved");
	printf("an open file follows its rename: %s\n", slurp("moved"));
	memset(buf, 0, sizeof buf);
	read(fd, buf, sizeof buf - 1);
	printf("read through the fd opened before: %s\n", buf);
	close(fd);
	list("after renames", ".");

	/* Links. */
	report("link", link("moved", "hard"));
	stat("moved", &st);
	printf("nlink %d\n", (int)st.st_nlink);
	report("link over an existing name", link("moved", "f"));
	report("link a directory", link("empty", "dirlink"));
	report("unlink one name", unlink("hard"));
	stat("moved", &st);
	printf("nlink after unlink %d\n", (int)st.st_nlink);
	report("symlink", symlink("moved", "sym"));
	char target[64] = { 0 };
	readlink("sym", target, sizeof target - 1);
	printf("readlink: %s, through it: %s\n", target, slurp("sym"));
	report("symlink over an existing name", symlink("x", "sym"));
	lstat("sym", &st);
	printf("symlink is a link: %d\n", S_ISLNK(st.st_mode));
	fd = open("viasym", O_WRONLY | O_CREAT, 0644);
	close(fd);
	symlink("dangling-target", "dangling");
	fd = open("dangling", O_WRONLY | O_CREAT, 0600);
	report("O_CREAT through a dangling symlink", fd);
	close(fd);
	printf("made its target: %s\n", access("dangling-target", F_OK) == 0 ? "yes" : "no");

	/* Attributes. */
	report("chmod", chmod("moved", 04751));
	stat("moved", &st);
	printf("mode after chmod %o\n", st.st_mode & 07777);
	report("chown", chown("moved", 1234, 5678));
	stat("moved", &st);
	printf("owner %d:%d mode %o (chown clears set-user-id)\n", (int)st.st_uid, (int)st.st_gid, st.st_mode & 07777);
	struct timespec times[2] = { { 1000000, 500 }, { 2000000, 700 } };
	report("utimensat", utimensat(AT_FDCWD, "moved", times, 0));
	stat("moved", &st);
	printf("atime %lld.%ld mtime %lld.%ld\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	       (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 3000000, 0 } };
	utimensat(AT_FDCWD, "moved", omit, 0);
	stat("moved", &st);
	printf("atime kept %lld, mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
	report("lchown a symlink", lchown("sym", 7, 8));
	lstat("sym", &st);
	printf("symlink owner %d:%d\n", (int)st.st_uid, (int)st.st_gid);

	/* FIFOs, between two processes of the sandbox. */
	report("mkfifo", mkfifo("fifo", 0600));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int w = open("fifo", O_WRONLY);
		write(w, "through the fifo", 16);
		_exit(0);
	}
	int r = open("fifo", O_RDONLY);
	memset(buf, 0, sizeof buf);
	read(r, buf, sizeof buf - 1);
	waitpid(pid, NULL, 0);
	close(r);
	printf("fifo: %s\n", buf);

	/* Shared mappings: coherent with read and write, seen by another
	 * process's mapping, and written back. */
	fd = open("mapped", O_RDWR | O_CREAT, 0644);
	ftruncate(fd, 8192);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("mmap MAP_SHARED of a file", m != MAP_FAILED);
	memcpy(m, "through the map", 15);
	memset(buf, 0, sizeof buf);
	pread(fd, buf, 15, 0);
	printf("read sees the mapping's store: %s\n", buf);
	pwrite(fd, "WRITE", 5, 4096);
	printf("the mapping sees write(): %.5s\n", m + 4096);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int cfd = open("mapped", O_RDWR);
		char *cm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
		printf("another process's mapping: %.15s\n", cm);
		memcpy(cm + 100, "child", 5);
		munmap(cm, 8192);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("the child's store, seen here: %.5s\n", m + 100);
	report("msync", msync(m, 8192, MS_SYNC));
	munmap(m, 8192);
	close(fd);
	memset(buf, 0, sizeof buf);
	fd = open("mapped", O_RDONLY);
	pread(fd, buf, 15, 0);
	printf("after munmap, the file: %s\n", buf);
	report("MAP_SHARED, PROT_WRITE of an O_RDONLY fd", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	report("mprotect PROT_WRITE of it, mapped read-only", mprotect(ro, 4096, PROT_READ | PROT_WRITE));
	munmap(ro, 4096);
	close(fd);
	/* An O_RDWR fd mapped read-only, made writable: its stores reach the
	 * file. */
	fd = open("mapped", O_RDWR);
	char *rw = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	report("mprotect PROT_WRITE of an O_RDWR fd's read-only map", mprotect(rw, 4096, PROT_READ | PROT_WRITE));
	memcpy(rw + 200, "later", 5);
	munmap(rw, 4096);
	close(fd);
	memset(buf, 0, sizeof buf);
	fd = open("mapped", O_RDONLY);
	pread(fd, buf, 5, 200);
	close(fd);
	printf("stored after mprotect: %s\n", buf);

	/* Extended attributes (user.). */
	report("setxattr", setxattr("moved", "user.k", "v1", 2, 0));
	report("setxattr XATTR_CREATE existing", setxattr("moved", "user.k", "v2", 2, XATTR_CREATE));
	report("setxattr XATTR_REPLACE missing", setxattr("moved", "user.none", "v", 1, XATTR_REPLACE));
	memset(buf, 0, sizeof buf);
	printf("getxattr: %zd %s\n", getxattr("moved", "user.k", buf, sizeof buf), buf);
	printf("getxattr size: %zd\n", getxattr("moved", "user.k", NULL, 0));
	report("getxattr into too small a buffer", getxattr("moved", "user.k", buf, 1));
	report("getxattr missing", getxattr("moved", "user.none", buf, sizeof buf));
	char names[256];
	ssize_t n = listxattr("moved", names, sizeof names);
	printf("listxattr: %zd %s\n", n, n > 0 ? names : "");
	report("setxattr on a symlink (lsetxattr)", lsetxattr("sym", "user.k", "v", 1, 0));
	report("removexattr", removexattr("moved", "user.k"));
	report("removexattr again", removexattr("moved", "user.k"));
	report("setxattr in an unknown namespace", setxattr("moved", "bogus.k", "v", 1, 0));

	/* statfs: the host filesystem's. */
	struct statfs sf;
	report("statfs", statfs(".", &sf));
	CHECK("statfs has blocks and names", sf.f_bsize > 0 && sf.f_blocks > 0 && sf.f_namelen == 255);

	/* Permission checks, as uid 1000 (gid 1000). */
	mkdir("closed", 0755);
	put("closed/secret", "s");
	chmod("closed/secret", 0600);
	put("closed/public", "p");
	put("closed/open", "o");
	chmod("closed/open", 0666);
	mkdir("sticky", 01777);
	chmod("sticky", 01777);
	put("sticky/theirs", "t");
	chown("sticky/theirs", 1001, 1001);
	chmod("sticky/theirs", 0666);
	mkdir("sgid", 0777);
	chown("sgid", 0, 50);
	chmod("sgid", 02777);
	as_user(1000, 1000, user_checks);
	/* Root in the set-group-id directory. */
	put("sgid/rootfile", "r");
	stat("sgid/rootfile", &st);
	printf("root's file in a setgid dir: gid %d\n", (int)st.st_gid);
	mkdir("sgid/sub", 0755);
	stat("sgid/sub", &st);
	printf("subdir of a setgid dir: gid %d mode %o\n", (int)st.st_gid, st.st_mode & 07777);
	umask(077);
	fd = open("umask077", O_WRONLY | O_CREAT, 0666);
	close(fd);
	mkdir("umaskdir", 0777);
	stat("umask077", &st);
	printf("umask 077: file %o", st.st_mode & 07777);
	stat("umaskdir", &st);
	printf(", dir %o\n", st.st_mode & 07777);

	list("at the end", ".");
	printf("done\n");
	return 0;
}
