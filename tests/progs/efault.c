/* Bad user pointers must fail with EFAULT, never crash the program or
 * the kernel. Every call below is made through syscall(), because libc
 * wrappers may touch the buffer themselves. Expects /data/hello.txt. */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#define PAGE 4096L

static void show(const char *label, long ret)
{
	if (ret < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: returned %ld\n", label, ret);
}

int main(void)
{
	int fd = syscall(SYS_openat, AT_FDCWD, "/data/hello.txt", O_RDONLY, 0);
	report("open /data/hello.txt", fd);

	/* Two pages: the first read-write, the second PROT_NONE; and an
	 * address that was mapped and no longer is. */
	char *p = (char *)syscall(SYS_mmap, NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1L, 0L);
	syscall(SYS_mprotect, p + PAGE, PAGE, PROT_NONE);
	char *gone = (char *)syscall(SYS_mmap, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1L, 0L);
	syscall(SYS_munmap, gone, PAGE);

	show("read into (void *)1", syscall(SYS_read, fd, (void *)1, 10L));
	show("write from (void *)1", syscall(SYS_write, 1, (void *)1, 10L));
	show("read into a PROT_NONE page", syscall(SYS_read, fd, p + PAGE, 10L));
	show("write from an unmapped page", syscall(SYS_write, 1, gone, 10L));
	show("read into a kernel address", syscall(SYS_read, fd, (void *)0xffffffff81000000UL, 10L));
	show("pread into (void *)1", syscall(SYS_pread64, fd, (void *)1, 10L, 0L));
	show("open with a bad path pointer", syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY, 0));
	show("open with a path in a PROT_NONE page", syscall(SYS_openat, AT_FDCWD, p + PAGE, O_RDONLY, 0));
	show("stat with a bad buffer", syscall(SYS_newfstatat, AT_FDCWD, "/data/hello.txt", (void *)1, 0));
	show("fstat with a bad buffer", syscall(SYS_fstat, fd, (void *)1));
	show("readv with a bad iovec array", syscall(SYS_readv, fd, (void *)1, 1L));
	struct iovec iov[2] = {{p, 4}, {(void *)1, 4}};
	syscall(SYS_lseek, fd, 0L, SEEK_SET);
	show("readv with a bad second buffer", syscall(SYS_readv, fd, iov, 2L));
	show("getcwd into a bad buffer", syscall(SYS_getcwd, (void *)1, 100L));
	show("uname into a bad buffer", syscall(SYS_uname, (void *)1));
	show("clock_gettime into a bad buffer", syscall(SYS_clock_gettime, 0L, (void *)1));
	show("readlink with a bad path", syscall(SYS_readlink, (char *)1, p, 10L));
	show("readlink into a bad buffer", syscall(SYS_readlink, "/data/link", (void *)1, 10L));
	show("access with a bad path", syscall(SYS_access, (char *)1, 0L));
	show("chdir with a bad path", syscall(SYS_chdir, (char *)1));

	/* A buffer that runs into the PROT_NONE page: the bytes that fit
	 * are copied and the call returns the short count. */
	syscall(SYS_lseek, fd, 0L, SEEK_SET);
	show("read straddling into PROT_NONE", syscall(SYS_read, fd, p + PAGE - 5, 10L));
	printf("bytes copied before the fault: %.5s\n", p + PAGE - 5);

	/* Zero-length transfers do not look at the pointer. */
	show("read 0 bytes into NULL", syscall(SYS_read, fd, NULL, 0L));
	show("write 0 bytes from NULL", syscall(SYS_write, 1, NULL, 0L));

	report("still running; close", syscall(SYS_close, fd));
	return 0;
}
