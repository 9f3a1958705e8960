/* The minimal devfs: /dev/null, /dev/zero, /dev/full, /dev/random and
 * /dev/urandom (reads, writes, stat, lseek, mmap), plus getrandom and
 * /dev/shm being a writable directory.
 *
 * Random bytes are never printed: only their count, and that 64 of them
 * are not all zero (false with probability 2^-512). */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void stat_dev(const char *path)
{
	struct stat st;
	if (stat(path, &st)) {
		printf("stat %s: %s\n", path, errname(errno));
		return;
	}
	printf("stat %s: %s %u:%u mode %04o\n", path, S_ISCHR(st.st_mode) ? "char" : "not-char", major(st.st_rdev),
	       minor(st.st_rdev), st.st_mode & 07777);
}

static int all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned char buf[8192];
	long r;

	stat_dev("/dev/null");
	stat_dev("/dev/zero");
	stat_dev("/dev/full");
	stat_dev("/dev/random");
	stat_dev("/dev/urandom");

	int fd = open("/dev/null", O_RDWR);
	r = write(fd, "discarded", 9);
	printf("/dev/null write: %ld\n", r);
	r = read(fd, buf, sizeof buf);
	printf("/dev/null read: %ld\n", r);
	printf("/dev/null lseek: %ld\n", (long)lseek(fd, 1234, SEEK_SET));
	r = pwrite(fd, "x", 1, 99);
	printf("/dev/null pwrite: %ld\n", r);
	close(fd);

	fd = open("/dev/zero", O_RDWR);
	memset(buf, 0xaa, sizeof buf);
	r = read(fd, buf, sizeof buf);
	printf("/dev/zero read: %ld, all zero: %s\n", r, all_zero(buf, sizeof buf) ? "ok" : "bad");
	r = write(fd, buf, 100);
	printf("/dev/zero write: %ld\n", r);
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		printf("/dev/zero mmap: %s\n", errname(errno));
	} else {
		int zero = all_zero(m, 8192);
		m[100] = 7;
		printf("/dev/zero private mmap: zero %s, writable %s\n", zero ? "ok" : "bad", m[100] == 7 ? "ok" : "bad");
		munmap(m, 8192);
	}
	close(fd);

	fd = open("/dev/full", O_RDWR);
	errno = 0;
	r = write(fd, "x", 1);
	printf("/dev/full write: %ld %s\n", r, errname(errno));
	memset(buf, 0xaa, sizeof buf);
	r = read(fd, buf, 4096);
	printf("/dev/full read: %ld, all zero: %s\n", r, all_zero(buf, 4096) ? "ok" : "bad");
	close(fd);

	for (int k = 0; k < 2; k++) {
		const char *path = k ? "/dev/random" : "/dev/urandom";
		fd = open(path, O_RDONLY);
		memset(buf, 0, sizeof buf);
		r = read(fd, buf, 64);
		printf("%s read: %ld, not all zero: %s\n", path, r, all_zero(buf, 64) ? "bad" : "ok");
		r = read(fd, buf, sizeof buf);
		printf("%s read %zu: %ld\n", path, sizeof buf, r);
		close(fd);
		fd = open(path, O_WRONLY);
		r = write(fd, "entropy?", 8);
		printf("%s write: %ld\n", path, r);
		close(fd);
	}

	memset(buf, 0, sizeof buf);
	r = syscall(SYS_getrandom, buf, 64, 0);
	printf("getrandom 64: %ld, not all zero: %s\n", r, all_zero(buf, 64) ? "bad" : "ok");
	r = syscall(SYS_getrandom, buf, 16, 1 /* GRND_NONBLOCK */);
	printf("getrandom GRND_NONBLOCK: %ld\n", r);
	errno = 0;
	r = syscall(SYS_getrandom, buf, 16, 0x100);
	printf("getrandom with a bad flag: %ld %s\n", r, errname(errno));

	/* Devices are not regular files. */
	errno = 0;
	r = open("/dev/null", O_RDONLY | O_DIRECTORY);
	printf("open /dev/null O_DIRECTORY: %ld %s\n", r, errname(errno));
	errno = 0;
	r = open("/dev/nonexistent", O_RDONLY);
	printf("open /dev/nonexistent: %ld %s\n", r, errname(errno));
	int dup = open("/dev/null", O_WRONLY);
	if (dup2(dup, 1) != 1)
		return 2;
	close(dup);
	printf("this line goes to /dev/null\n");

	/* stdout is /dev/null now; report through stderr, which the test
	 * does not compare, and the exit status. */
	struct stat st;
	int shm_ok = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode);
	int sfd = open("/dev/shm/husk-test", O_CREAT | O_EXCL | O_RDWR, 0600);
	int shm_write = sfd >= 0 && write(sfd, "shm", 3) == 3;
	int shm_unlink = unlink("/dev/shm/husk-test") == 0;
	fprintf(stderr, "/dev/shm: dir %d, create+write %d, unlink %d\n", shm_ok, shm_write, shm_unlink);
	return shm_ok && shm_write && shm_unlink ? 0 : 1;
}
