/* mount(2) and umount2(2) inside the sandbox, as LTP's .needs_rofs and
 * madvise01 use them: a tmpfs with options (size, mode, uid, gid,
 * nr_inodes), remounted read-only (EROFS on every write path) and back;
 * /proc/self/mounts, mountinfo and statfs showing it; bind mounts, a
 * read-only bind of a directory on itself; noexec and nodev; umount2's
 * flags (MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW) and Linux's errors,
 * EPERM without CAP_SYS_ADMIN among them; a procfs; propagation flags.
 *
 * Run natively as root in a private mount namespace, with /tmp a tmpfs. */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* The line of `file` (/proc/self/mounts or mountinfo) whose mount point
 * is `point`, from its point on (mountinfo's ids and device left out). */
static void show_line(const char *file, const char *point)
{
	char line[1024];
	int info = strstr(file, "mountinfo") != NULL;
	FILE *f = fopen(file, "r");
	if (!f) {
		printf("%s: open %s\n", file, errname(errno));
		return;
	}
	const char *found = NULL;
	static char last[1024];
	while (fgets(line, sizeof line, f)) {
		/* mounts: SOURCE POINT ...; mountinfo: ID PARENT DEV ROOT POINT ... */
		char *p = line;
		for (int i = 0; i < (info ? 4 : 1) && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (!p)
			continue;
		size_t n = strlen(point);
		if (strncmp(p, point, n) == 0 && p[n] == ' ') {
			/* The last (topmost) mount there. */
			if (info)
				snprintf(last, sizeof last, "%s", strchr(line, ' ') + 1);
			else
				snprintf(last, sizeof last, "%s", line);
			found = last;
		}
	}
	fclose(f);
	if (!found) {
		printf("%s %s: none\n", file, point);
		return;
	}
	if (info) {
		/* Past the parent id and the device. */
		const char *p = strchr(found, ' ') + 1;
		p = strchr(p, ' ') + 1;
		printf("mountinfo: %s", p);
	} else {
		printf("mounts: %s", found);
	}
}

/* statfs and statvfs of `path`; its size only where it is the mount's
 * own (a tmpfs mounted here), not /tmp's, whose default differs. */
static void show_statfs(const char *label, const char *path)
{
	struct statfs s;
	struct statvfs v;
	if (statfs(path, &s) || statvfs(path, &v)) {
		printf("%s: statfs %s\n", label, errname(errno));
		return;
	}
	printf("%s: type 0x%lx blocks %ld flags 0x%lx statvfs flags 0x%lx\n", label, (long)s.f_type,
	       strstr(label, "bind") ? 0L : (long)s.f_blocks, (long)s.f_flags, (long)v.f_flag);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	int r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return r;
}

static void show_file(const char *label, const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("%s: %s\n", label, n >= 0 ? buf : errname(errno));
}

/* Every write path on a read-only mount: EROFS. */
static void write_paths(const char *m)
{
	char p[256], q[256];
	snprintf(p, sizeof p, "%s/file", m);
	report("  open O_WRONLY", open(p, O_WRONLY));
	report("  open O_CREAT of a new name", (snprintf(q, sizeof q, "%s/new", m), open(q, O_WRONLY | O_CREAT, 0644)));
	report("  truncate", truncate(p, 0));
	report("  chmod", chmod(p, 0600));
	report("  chown", chown(p, 1, 1));
	report("  utimes", utimes(p, NULL));
	report("  mkdir", (snprintf(q, sizeof q, "%s/d2", m), mkdir(q, 0755)));
	report("  rmdir", (snprintf(q, sizeof q, "%s/dir", m), rmdir(q)));
	report("  unlink", unlink(p));
	report("  link", (snprintf(q, sizeof q, "%s/l", m), link(p, q)));
	report("  symlink", (snprintf(q, sizeof q, "%s/s", m), symlink("file", q)));
	report("  mknod", (snprintf(q, sizeof q, "%s/fifo", m), mknod(q, S_IFIFO | 0644, 0)));
	report("  rename", (snprintf(q, sizeof q, "%s/renamed", m), rename(p, q)));
	report("  access W_OK", access(p, W_OK));
}

static int run_child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int as_nobody(void)
{
	if (setuid(65534))
		return 1;
	report("mount as nobody", mount(NULL, "/tmp/m", "tmpfs", 0, NULL));
	report("mount as nobody, on a missing path", mount(NULL, "/tmp/missing", "tmpfs", 0, NULL));
	report("umount as nobody", umount("/tmp/m"));
	report("umount as nobody, a missing path", umount("/tmp/missing"));
	return 0;
}

static int exec_copy(void)
{
	char *argv[] = { "/tmp/x/prog", "child", NULL };
	execv(argv[0], argv);
	return errno == EACCES ? 3 : 4;
}

static int exec_copy_ok(void)
{
	char *argv[] = { "/tmp/y/prog", "child", NULL };
	execv(argv[0], argv);
	return 5;
}

/* Copies this program to `to`, mode 0755. */
static void copy_self(const char *to)
{
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			break;
	close(in);
	close(out);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return 42;
	setvbuf(stdout, NULL, _IONBF, 0);
	umask(022);

	/* A tmpfs with options, as LTP's library mounts one. */
	mkdir("/tmp/m", 0755);
	report("mount tmpfs with options", mount(NULL, "/tmp/m", "tmpfs", 0, "size=1m,mode=0750,uid=12,gid=34"));
	struct stat st;
	stat("/tmp/m", &st);
	printf("root: mode %o uid %d gid %d\n", st.st_mode, st.st_uid, st.st_gid);
	show_statfs("statfs", "/tmp/m");
	show_line("/proc/self/mounts", "/tmp/m");
	show_line("/proc/self/mountinfo", "/tmp/m");
	report("mkdir in it", mkdir("/tmp/m/dir", 0777));
	report("write a file in it", write_file("/tmp/m/file", "file content"));
	report("a 2 MiB file in a 1 MiB tmpfs", (errno = 0, ({
						     int fd = open("/tmp/m/big", O_WRONLY | O_CREAT, 0644);
						     static char b[1 << 20];
						     long r = 0;
						     for (int i = 0; i < 2 && r >= 0; i++)
							     r = write(fd, b, sizeof b) == sizeof b ? 0 : -1;
						     close(fd);
						     unlink("/tmp/m/big");
						     r;
					     })));

	/* Read-only, as .needs_rofs makes it. */
	report("remount read-only", mount(NULL, "/tmp/m", "tmpfs", MS_REMOUNT | MS_RDONLY, NULL));
	show_line("/proc/self/mounts", "/tmp/m");
	show_line("/proc/self/mountinfo", "/tmp/m");
	show_statfs("statfs ro", "/tmp/m");
	show_file("read in a read-only tmpfs", "/tmp/m/file");
	printf("write paths on a read-only tmpfs:\n");
	write_paths("/tmp/m");
	report("remount read-write, size=2m", mount(NULL, "/tmp/m", "tmpfs", MS_REMOUNT, "size=2m"));
	show_line("/proc/self/mounts", "/tmp/m");
	report("write again", write_file("/tmp/m/file", "again"));
	report("remount size=4k below what it holds", mount(NULL, "/tmp/m", "tmpfs", MS_REMOUNT, "size=4k"));

	/* Errors. */
	report("unknown type", mount("x", "/tmp/m", "nosuchfs", 0, NULL));
	report("bad option", mount(NULL, "/tmp/m", "tmpfs", 0, "bogus=1"));
	report("bad size", mount(NULL, "/tmp/m", "tmpfs", 0, "size=12q"));
	report("no type", mount(NULL, "/tmp/m", NULL, 0, NULL));
	report("on a missing path", mount(NULL, "/tmp/missing", "tmpfs", 0, NULL));
	report("on a regular file", mount(NULL, "/tmp/m/file", "tmpfs", 0, NULL));
	report("bind of a missing source", mount("/tmp/missing", "/tmp/m", NULL, MS_BIND, NULL));
	report("bind with no source", mount(NULL, "/tmp/m", NULL, MS_BIND, NULL));
	report("remount of a directory no mount is on", mount(NULL, "/tmp/m/dir", "tmpfs", MS_REMOUNT, NULL));
	report("umount of a directory no mount is on", umount("/tmp/m/dir"));
	report("umount of a missing path", umount("/tmp/missing"));
	report("umount2 with an unknown flag", umount2("/tmp/m", 0x100));
	report("umount2 MNT_EXPIRE|MNT_DETACH", umount2("/tmp/m", MNT_EXPIRE | MNT_DETACH));
	report("MS_PRIVATE on a directory no mount is on", mount(NULL, "/tmp/m/dir", NULL, MS_PRIVATE, NULL));
	report("MS_PRIVATE|MS_SHARED", mount(NULL, "/tmp/m", NULL, MS_PRIVATE | MS_SHARED, NULL));
	report("MS_PRIVATE", mount(NULL, "/tmp/m", NULL, MS_PRIVATE, NULL));
	report("MS_REC|MS_SLAVE", mount(NULL, "/tmp/m", NULL, MS_REC | MS_SLAVE, NULL));
	printf("without CAP_SYS_ADMIN: exit %d\n", run_child(as_nobody));

	/* Busy, then detached. */
	int fd = open("/tmp/m/file", O_RDONLY);
	report("umount with a file open", umount("/tmp/m"));
	report("MNT_EXPIRE with a file open", umount2("/tmp/m", MNT_EXPIRE));
	report("umount2 MNT_DETACH with a file open", umount2("/tmp/m", MNT_DETACH));
	char buf[16] = { 0 };
	printf("the open file still reads: %s\n", pread(fd, buf, sizeof buf - 1, 0) > 0 ? buf : errname(errno));
	close(fd);
	printf("the mount point is empty again: %s\n", access("/tmp/m/file", F_OK) ? errname(errno) : "no");
	show_line("/proc/self/mounts", "/tmp/m");

	/* MNT_EXPIRE: marked once, then unmounted. */
	report("mount tmpfs", mount("t1", "/tmp/m", "tmpfs", 0, NULL));
	report("MNT_EXPIRE once", umount2("/tmp/m", MNT_EXPIRE));
	report("MNT_EXPIRE twice", umount2("/tmp/m", MNT_EXPIRE));
	report("umount of what is left", umount("/tmp/m"));

	/* A submount makes its mount busy. */
	mount("t2", "/tmp/m", "tmpfs", 0, NULL);
	mkdir("/tmp/m/sub", 0755);
	mount("t3", "/tmp/m/sub", "tmpfs", 0, NULL);
	report("umount with a submount", umount("/tmp/m"));
	report("umount the submount", umount("/tmp/m/sub"));
	report("umount then", umount("/tmp/m"));

	/* Stacked: the one on top goes first. */
	mount("lower", "/tmp/m", "tmpfs", 0, NULL);
	write_file("/tmp/m/lower", "l");
	mount("upper", "/tmp/m", "tmpfs", 0, "mode=0700");
	printf("stacked: lower file seen %s\n", access("/tmp/m/lower", F_OK) ? "no" : "yes");
	show_line("/proc/self/mounts", "/tmp/m");
	umount("/tmp/m");
	printf("unstacked: lower file seen %s\n", access("/tmp/m/lower", F_OK) ? "no" : "yes");
	umount("/tmp/m");

	/* UMOUNT_NOFOLLOW: a symlink to a mount point. */
	mount("t4", "/tmp/m", "tmpfs", 0, NULL);
	symlink("/tmp/m", "/tmp/mlink");
	report("umount2 UMOUNT_NOFOLLOW of a symlink", umount2("/tmp/mlink", UMOUNT_NOFOLLOW));
	report("umount of a symlink to it", umount("/tmp/mlink"));
	unlink("/tmp/mlink");

	/* nr_inodes: the root counts. */
	report("mount nr_inodes=3", mount("t5", "/tmp/m", "tmpfs", 0, "nr_inodes=3"));
	report("  first file", write_file("/tmp/m/a", "a"));
	report("  second file", write_file("/tmp/m/b", "b"));
	report("  third file", write_file("/tmp/m/c", "c"));
	report("  a directory", mkdir("/tmp/m/d", 0755));
	unlink("/tmp/m/a");
	report("  after an unlink", mkdir("/tmp/m/d", 0755));
	umount("/tmp/m");

	/* nosuid, nodev, noexec: statfs shows them, nodev and noexec hold. */
	mkdir("/tmp/x", 0755);
	mkdir("/tmp/y", 0755);
	report("mount nosuid,nodev,noexec", mount("t6", "/tmp/x", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	show_statfs("statfs nosuid,nodev,noexec", "/tmp/x");
	show_line("/proc/self/mounts", "/tmp/x");
	mount("t7", "/tmp/y", "tmpfs", MS_NOATIME, NULL);
	show_statfs("statfs noatime", "/tmp/y");
	show_line("/proc/self/mounts", "/tmp/y");
	copy_self("/tmp/x/prog");
	copy_self("/tmp/y/prog");
	printf("exec on a noexec mount: exit %d\n", run_child(exec_copy));
	printf("exec on another: exit %d\n", run_child(exec_copy_ok));
	report("mknod /dev/null's number on nodev", mknod("/tmp/x/null", S_IFCHR | 0666, makedev(1, 3)));
	report("  open it", open("/tmp/x/null", O_RDONLY));
	mknod("/tmp/y/null", S_IFCHR | 0666, makedev(1, 3));
	int nfd = open("/tmp/y/null", O_RDONLY);
	report("  open one on a mount without nodev", nfd);
	close(nfd);
	report("remount without noexec", mount(NULL, "/tmp/x", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL));
	printf("exec there now: exit %d\n", run_child(exec_copy));
	show_line("/proc/self/mounts", "/tmp/x");
	umount("/tmp/x");
	umount("/tmp/y");

	/* Bind mounts. */
	mkdir("/tmp/src", 0755);
	mkdir("/tmp/src/sub", 0755);
	write_file("/tmp/src/sub/f", "in src");
	mkdir("/tmp/dst", 0755);
	report("bind /tmp/src on /tmp/dst", mount("/tmp/src", "/tmp/dst", NULL, MS_BIND, NULL));
	show_file("read through the bind", "/tmp/dst/sub/f");
	write_file("/tmp/dst/sub/g", "through dst");
	show_file("written through the bind, read in the source", "/tmp/src/sub/g");
	stat("/tmp/dst", &st);
	struct stat st2;
	stat("/tmp/src", &st2);
	printf("same inode: %s\n", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev ? "yes" : "no");
	report("bind a file on a directory", mount("/tmp/src/sub/f", "/tmp/m", NULL, MS_BIND, NULL));
	write_file("/tmp/file2", "");
	report("bind a file on a file", mount("/tmp/src/sub/f", "/tmp/file2", NULL, MS_BIND, NULL));
	show_file("  read", "/tmp/file2");
	report("  umount it", umount("/tmp/file2"));
	report("umount the bind", umount("/tmp/dst"));
	printf("the bind's point is empty again: %s\n", access("/tmp/dst/sub", F_OK) ? errname(errno) : "no");
	report("MS_BIND|MS_REC", mount("/tmp/src", "/tmp/dst", NULL, MS_BIND | MS_REC, NULL));
	umount("/tmp/dst");

	/* A directory bound on itself and made read-only. */
	mkdir("/tmp/self", 0755);
	mkdir("/tmp/self/dir", 0755);
	write_file("/tmp/self/file", "self");
	report("bind /tmp/self on itself", mount("/tmp/self", "/tmp/self", NULL, MS_BIND, NULL));
	report("remount it MS_BIND|MS_RDONLY", mount(NULL, "/tmp/self", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	show_statfs("statfs of the read-only bind", "/tmp/self");
	printf("write paths on a read-only bind:\n");
	write_paths("/tmp/self");
	report("umount it", umount("/tmp/self"));
	report("write after", write_file("/tmp/self/file", "rw"));

	/* A procfs of its own. */
	mkdir("/tmp/p", 0755);
	report("mount proc", mount("proc", "/tmp/p", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	show_statfs("statfs proc", "/tmp/p");
	printf("its self is a link: %s\n", readlink("/tmp/p/self", buf, sizeof buf) > 0 ? "yes" : errname(errno));
	show_line("/proc/self/mounts", "/tmp/p");
	report("umount proc", umount("/tmp/p"));

	/* LTP's mount08: a bind on /proc/self/fd/N of an O_PATH fd of a
	 * symlink (a magic link to a magic link): ENOENT. */
	write_file("/tmp/foo", "");
	write_file("/tmp/bar", "");
	int ffd = open("/tmp/foo", O_RDONLY);
	char fdpath[64];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", ffd);
	int pfd = open(fdpath, O_PATH | O_NOFOLLOW);
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", pfd);
	report("bind on a magic link to a magic link", mount("/tmp/bar", fdpath, "", MS_BIND, NULL));
	close(pfd);
	close(ffd);

	/* A remount of the boot's /tmp: its size changes. */
	report("remount /tmp with size=64m", mount(NULL, "/tmp", NULL, MS_REMOUNT, "size=64m"));
	struct statfs sf;
	statfs("/tmp", &sf);
	printf("/tmp's blocks: %ld\n", (long)sf.f_blocks);
	FILE *mf = fopen("/proc/self/mounts", "r");
	char line[512];
	int shown = 0;
	while (mf && fgets(line, sizeof line, mf))
		if (strstr(line, " /tmp tmpfs ") && strstr(line, "size=65536k"))
			shown = 1;
	if (mf)
		fclose(mf);
	printf("/proc/self/mounts shows its size: %s\n", shown ? "yes" : "no");

	printf("done\n");
	return 0;
}
