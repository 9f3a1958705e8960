/* memfd_create: an anonymous file (read, write, mmap shared across fork,
 * ftruncate), its /proc/self/fd name, MFD_CLOEXEC, and the file seals:
 * F_ADD_SEALS and F_GET_SEALS, what each seal forbids, F_SEAL_SEAL, a
 * memfd made without MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL, and the errors. */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Newer than glibc 2.36's headers. */
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x20
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8
#define MFD_EXEC 0x10
#endif

static int memfd(const char *name, unsigned flags)
{
	return syscall(SYS_memfd_create, name, flags);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = memfd("husk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK("memfd_create", fd >= 0);
	CHECK("MFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	char link[128] = "", path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	readlink(path, link, sizeof link - 1);
	printf("its link: %s\n", link);
	struct stat st;
	fstat(fd, &st);
	printf("fstat: type %s, mode %o, size %lld, nlink %lu\n", S_ISREG(st.st_mode) ? "regular" : "other",
	       st.st_mode & 07777, (long long)st.st_size, (unsigned long)st.st_nlink);
	printf("F_GETFL: %s\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR ? "O_RDWR" : "other");

	report("write", write(fd, "hello world", 11));
	char buf[32] = "";
	pread(fd, buf, sizeof buf, 0);
	printf("pread: %s\n", buf);
	report("ftruncate to a page", ftruncate(fd, 4096));
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("mmap MAP_SHARED", m != MAP_FAILED);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		memcpy(m, "HELLO", 5);
		_exit(0);
	}
	int ws;
	waitpid(pid, &ws, 0);
	pread(fd, buf, 11, 0);
	buf[11] = 0;
	printf("after a child wrote through the mapping: %s\n", buf);
	munmap(m, 4096);

	/* Seals. */
	printf("F_GET_SEALS: %d\n", fcntl(fd, F_GET_SEALS));
	report("F_ADD_SEALS F_SEAL_SHRINK", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	report("ftruncate smaller", ftruncate(fd, 100));
	report("ftruncate larger", ftruncate(fd, 8192));
	report("F_ADD_SEALS F_SEAL_GROW", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	report("ftruncate larger again", ftruncate(fd, 16384));
	report("a write within the size", pwrite(fd, "x", 1, 10));
	report("a write past the size", pwrite(fd, "x", 1, 8192));
	report("F_ADD_SEALS F_SEAL_WRITE", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	report("a write", pwrite(fd, "x", 1, 10));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	report("mmap MAP_SHARED writable", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	report("mmap MAP_SHARED read-only", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	report("mmap MAP_PRIVATE writable", m == MAP_FAILED ? -1 : 0);
	printf("reads still work: %zd\n", pread(fd, buf, 5, 0));
	printf("F_GET_SEALS: %#x\n", fcntl(fd, F_GET_SEALS));
	report("F_ADD_SEALS F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
	report("then F_ADD_SEALS F_SEAL_EXEC", fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC));
	report("F_ADD_SEALS of an unknown bit", fcntl(memfd("x", MFD_ALLOW_SEALING), F_ADD_SEALS, 0x1000));

	int plain = memfd("plain", 0);
	printf("without MFD_ALLOW_SEALING, F_GET_SEALS: %d\n", fcntl(plain, F_GET_SEALS));
	report("and F_ADD_SEALS", fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE));
	CHECK("not close-on-exec", fcntl(plain, F_GETFD) == 0);
	int noexec = memfd("noexec", MFD_NOEXEC_SEAL);
	fstat(noexec, &st);
	printf("MFD_NOEXEC_SEAL: mode %o, seals %#x\n", st.st_mode & 07777, fcntl(noexec, F_GET_SEALS));
	int ro = open(path, O_RDONLY);
	report("F_ADD_SEALS through a read-only reopen", fcntl(ro, F_ADD_SEALS, F_SEAL_GROW));
	printf("the reopen sees the seals: %#x\n", fcntl(ro, F_GET_SEALS));
	int p[2];
	pipe(p);
	report("F_GET_SEALS of a pipe", fcntl(p[0], F_GET_SEALS));

	char long_name[300];
	memset(long_name, 'n', sizeof long_name);
	long_name[249] = 0;
	report("a 249-byte name", memfd(long_name, 0));
	long_name[249] = 'n';
	long_name[250] = 0;
	report("a 250-byte name", memfd(long_name, 0));
	report("unknown flags", memfd("x", 0x100));
	report("MFD_EXEC | MFD_NOEXEC_SEAL", memfd("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	report("a bad name pointer", memfd((const char *)8, 0));

	/* A shared mapping that may write blocks F_SEAL_WRITE (EBUSY); a
	 * private one does not, and a write-sealed memfd's read-only shared
	 * mapping never becomes writable. A reopen with O_TRUNC through
	 * /proc empties it (O_CREAT makes no file named as the link's text). */
	int w = memfd("w", MFD_ALLOW_SEALING);
	ftruncate(w, 4096);
	char *shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, w, 0);
	report("F_SEAL_WRITE with a shared mapping of an O_RDWR memfd", fcntl(w, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(shared, 4096);
	char *priv = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, w, 0);
	report("F_SEAL_WRITE with only a private one", fcntl(w, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(priv, 4096);
	shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, w, 0);
	report("mprotect PROT_WRITE of a write-sealed memfd's mapping", mprotect(shared, 4096, PROT_READ | PROT_WRITE));
	int t = memfd("t", 0);
	ftruncate(t, 8192);
	snprintf(path, sizeof path, "/proc/self/fd/%d", t);
	int again = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	struct stat tst;
	fstat(t, &tst);
	printf("reopened with O_TRUNC: %s, size now %lld\n", again < 0 ? strerror(errno) : "ok", (long long)tst.st_size);
	printf("a file named as the link: %s\n", access("/memfd:t (deleted)", F_OK) == 0 ? "made" : "none");
	printf("done\n");
	return 0;
}
