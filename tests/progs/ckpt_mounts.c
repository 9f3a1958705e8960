/* Mounts across a checkpoint: a tmpfs the program mounted, with files in
 * it and one of them open; a bind mount of a directory in it; a directory
 * bound on itself and made read-only; a tmpfs remounted read-only. The
 * program says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between); then every mount must be as it was: the files there,
 * the open file reading on, writes through the bind reaching the tmpfs,
 * the read-only ones EROFS, statfs's flags and sizes the same, and each
 * unmounts. Natively it runs in a private mount namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ckpt_wait.h"

static const char *err(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

static int put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	int r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return r;
}

static void show(const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", path, strerrorname_np(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("%s: %s\n", path, n >= 0 ? buf : strerrorname_np(errno));
}

static void flags(const char *path)
{
	struct statvfs v;
	if (statvfs(path, &v)) {
		printf("statvfs %s: %s\n", path, strerrorname_np(errno));
		return;
	}
	printf("statvfs %s: read-only %s\n", path, v.f_flag & ST_RDONLY ? "yes" : "no");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	mkdir("/tmp/ck", 0755);
	mkdir("/tmp/bd", 0755);
	mkdir("/tmp/ro", 0755);
	mkdir("/tmp/rot", 0755);
	if (mount("ck", "/tmp/ck", "tmpfs", 0, "size=1m,mode=0700") || mkdir("/tmp/ck/d", 0755) ||
	    put("/tmp/ck/a", "kept in the tmpfs") || put("/tmp/ck/d/b", "beneath the bind") ||
	    mount("/tmp/ck/d", "/tmp/bd", NULL, MS_BIND, NULL) || put("/tmp/ro/f", "read-only") ||
	    mount("/tmp/ro", "/tmp/ro", NULL, MS_BIND, NULL) ||
	    mount(NULL, "/tmp/ro", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) ||
	    mount("rot", "/tmp/rot", "tmpfs", 0, NULL) || put("/tmp/rot/x", "x") ||
	    mount(NULL, "/tmp/rot", "tmpfs", MS_REMOUNT | MS_RDONLY, NULL)) {
		printf("setting up: %s\n", strerrorname_np(errno));
		return 2;
	}
	int fd = open("/tmp/ck/a", O_RDONLY);
	char buf[8] = { 0 };
	if (fd < 0 || read(fd, buf, 4) != 4)
		return 2;
	printf("ready\n");
	ckpt_wait_usr1();

	show("/tmp/ck/a");
	memset(buf, 0, sizeof buf);
	printf("the open file reads on: %s\n", read(fd, buf, 3) == 3 ? buf : strerrorname_np(errno));
	close(fd);
	show("/tmp/bd/b");
	printf("write through the bind: %s\n", err(put("/tmp/bd/c", "through the bind")));
	show("/tmp/ck/d/c");
	struct stat st;
	stat("/tmp/ck", &st);
	printf("the tmpfs's root: mode %o\n", st.st_mode);
	struct statvfs v;
	statvfs("/tmp/ck", &v);
	printf("its size: %lu blocks of %lu\n", (unsigned long)v.f_blocks, (unsigned long)v.f_frsize);
	show("/tmp/ro/f");
	printf("write in the read-only bind: %s\n", err(put("/tmp/ro/f", "no")));
	printf("write in the read-only tmpfs: %s\n", err(put("/tmp/rot/y", "no")));
	flags("/tmp/ck");
	flags("/tmp/ro");
	flags("/tmp/rot");
	printf("umount the bind: %s\n", err(umount("/tmp/bd")));
	printf("umount the tmpfs: %s\n", err(umount("/tmp/ck")));
	printf("umount the read-only bind: %s\n", err(umount("/tmp/ro")));
	printf("write there then: %s\n", err(put("/tmp/ro/f", "rw")));
	printf("umount the read-only tmpfs: %s\n", err(umount("/tmp/rot")));
	printf("done\n");
	return 0;
}
