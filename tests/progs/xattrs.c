/* Extended attributes on tmpfs, namespace by namespace, as Linux (with
 * the capability module only) has them: security. (anyone reads, only
 * CAP_SYS_ADMIN changes; security.capability wants a valid value and
 * CAP_SETFCAP), trusted. (CAP_SYS_ADMIN's, hidden from others' lists),
 * system. (no such names but the ACLs), the size limits (ERANGE, E2BIG)
 * and device nodes (CAP_MKNOD), which hold no user. attributes. */
#include "common.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define F "/tmp/xattrs-file"

/* Drops `cap` from the effective set (the permitted set keeps it). */
static void drop_effective(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0) {
		printf("capget: %s: bad\n", errname(errno));
		return;
	}
	d[cap / 32].effective &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &h, d) != 0)
		printf("capset: %s: bad\n", errname(errno));
}

/* The names listxattr gives for `path`, space-separated, in order. */
static void show_list(const char *label, const char *path)
{
	char buf[512];
	ssize_t n = listxattr(path, buf, sizeof buf);
	if (n < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	printf("%s:", label);
	for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1)
		printf(" %s", buf + i);
	printf("\n");
}

static void show_get(const char *label, const char *path, const char *name)
{
	char buf[64] = { 0 };
	ssize_t n = getxattr(path, name, buf, sizeof buf - 1);
	if (n < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %zd '%s'\n", label, n, buf);
}

/* As a child whose effective set lacks `cap`. */
static void without(int cap, void (*body)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		drop_effective(cap);
		body();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void no_sys_admin(void)
{
	report("set security.b without CAP_SYS_ADMIN", setxattr(F, "security.b", "x", 1, 0));
	report("remove security.a without CAP_SYS_ADMIN", removexattr(F, "security.a"));
	show_get("get security.a without CAP_SYS_ADMIN", F, "security.a");
	show_get("get trusted.t without CAP_SYS_ADMIN", F, "trusted.t");
	report("set trusted.u without CAP_SYS_ADMIN", setxattr(F, "trusted.u", "x", 1, 0));
	show_list("list without CAP_SYS_ADMIN", F);
	report("set user.n without CAP_SYS_ADMIN", setxattr(F, "user.n", "n", 1, 0));
	removexattr(F, "user.n");
}

/* A version 2 file-capability value: revision, then permitted and
 * inheritable words (two of each). */
static const unsigned char caps_v2[20] = { 0, 0, 0, 2, 0x00, 0x04, 0, 0 };

static void no_setfcap(void)
{
	report("set security.capability without CAP_SETFCAP",
	       setxattr(F, "security.capability", caps_v2, sizeof caps_v2, 0));
	report("remove security.capability without CAP_SETFCAP", removexattr(F, "security.capability"));
}

static void unprivileged(void)
{
	if (setuid(65534) != 0) {
		printf("setuid: bad\n");
		return;
	}
	/* No permission check for security. names: a file the caller may not
	 * read still shows them. */
	show_get("get security.a of a 0600 root file as uid 65534", F, "security.a");
	show_get("get user.u of a 0600 root file as uid 65534", F, "user.u");
}

int main(void)
{
	int fd = open(F, O_CREAT | O_WRONLY, 0600);
	close(fd);

	/* security. */
	report("set security.a", setxattr(F, "security.a", "sec", 3, XATTR_CREATE));
	report("set security.a again, XATTR_CREATE", setxattr(F, "security.a", "x", 1, XATTR_CREATE));
	report("replace security.none", setxattr(F, "security.none", "x", 1, XATTR_REPLACE));
	show_get("get security.a", F, "security.a");
	report("set security. alone", setxattr(F, "security.", "x", 1, 0));
	report("set trusted.t", setxattr(F, "trusted.t", "tru", 3, 0));
	report("set user.u", setxattr(F, "user.u", "usr", 3, 0));
	show_list("list", F);
	without(CAP_SYS_ADMIN, no_sys_admin);
	without(CAP_SETFCAP, no_setfcap);
	without(CAP_SYS_ADMIN, unprivileged);

	/* security.capability: a value of the right layout. */
	report("set security.capability of 3 bytes", setxattr(F, "security.capability", "abc", 3, 0));
	unsigned char bad_rev[20] = { 0, 0, 0, 7 };
	report("set security.capability revision 7", setxattr(F, "security.capability", bad_rev, 20, 0));
	unsigned char v2_long[24] = { 0, 0, 0, 2 };
	report("set security.capability revision 2 in 24 bytes", setxattr(F, "security.capability", v2_long, 24, 0));
	report("set security.capability revision 2", setxattr(F, "security.capability", caps_v2, 20, 0));
	unsigned char back[32];
	printf("get security.capability: %zd\n", getxattr(F, "security.capability", back, sizeof back));
	report("remove security.capability", removexattr(F, "security.capability"));

	/* system. */
	report("set system.foo", setxattr(F, "system.foo", "x", 1, 0));
	show_get("get system.foo", F, "system.foo");
	show_get("get system.posix_acl_access", F, "system.posix_acl_access");

	/* Sizes. */
	char *big = calloc(1, 70000);
	report("set a value of 65537 bytes", setxattr(F, "user.big", big, 65537, 0));
	report("set a value of 65536 bytes", setxattr(F, "user.big", big, 65536, 0));
	printf("get it, size only: %zd\n", getxattr(F, "user.big", NULL, 0));
	report("get it into 65535 bytes", getxattr(F, "user.big", big, 65535));
	printf("get it into 70000 bytes: %zd\n", getxattr(F, "user.big", big, 70000));
	removexattr(F, "user.big");
	free(big);
	char list[64];
	ssize_t need = listxattr(F, NULL, 0);
	printf("listxattr size only: %zd\n", need);
	report("listxattr one byte short", listxattr(F, list, need - 1));
	printf("listxattr exact: %zd\n", listxattr(F, list, need));

	/* Removal. */
	report("remove security.a", removexattr(F, "security.a"));
	report("remove security.a again", removexattr(F, "security.a"));
	report("remove trusted.t", removexattr(F, "trusted.t"));
	show_list("list after removals", F);
	unlink(F);

	/* Device nodes: CAP_MKNOD's (but the 0:0 whiteout); user. names are
	 * for regular files and directories, the other namespaces for any. */
	report("mknod a char device 1:3", mknod("/tmp/xattrs-null", S_IFCHR | 0666, makedev(1, 3)));
	fd = open("/tmp/xattrs-null", O_WRONLY);
	printf("write to it: %zd\n", fd < 0 ? -1 : write(fd, "abc", 3));
	close(fd);
	report("mknod it again", mknod("/tmp/xattrs-null", S_IFCHR | 0666, makedev(1, 3)));
	report("set user.x on a device", setxattr("/tmp/xattrs-null", "user.x", "x", 1, 0));
	show_get("get user.x of a device", "/tmp/xattrs-null", "user.x");
	report("set trusted.x on a device", setxattr("/tmp/xattrs-null", "trusted.x", "dev", 3, 0));
	show_get("get trusted.x of a device", "/tmp/xattrs-null", "trusted.x");
	report("mknod a block device", mknod("/tmp/xattrs-blk", S_IFBLK | 0600, makedev(7, 200)));
	struct stat st;
	stat("/tmp/xattrs-blk", &st);
	printf("its type and number: %s %u:%u\n", S_ISBLK(st.st_mode) ? "block" : "other", major(st.st_rdev),
	       minor(st.st_rdev));
	unlink("/tmp/xattrs-null");
	unlink("/tmp/xattrs-blk");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		drop_effective(CAP_MKNOD);
		report("mknod a char device without CAP_MKNOD", mknod("/tmp/xattrs-c", S_IFCHR | 0600, makedev(1, 3)));
		report("mknod a whiteout without CAP_MKNOD", mknod("/tmp/xattrs-w", S_IFCHR | 0600, 0));
		report("mknod a FIFO without CAP_MKNOD", mknod("/tmp/xattrs-f", S_IFIFO | 0600, 0));
		unlink("/tmp/xattrs-w");
		unlink("/tmp/xattrs-f");
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	return 0;
}
