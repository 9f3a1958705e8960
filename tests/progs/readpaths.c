/* Path resolution probe for the escape tests: for each argument, opens the
 * path and prints its first line, or the errno name. Then, from the root,
 * climbs with chdir("..") and openat(dirfd, "../..") and reads /etc/passwd
 * relative to where it landed.
 *
 * An argument of the form "@DIR:PATH" opens PATH relative to an fd for DIR. */
#include "common.h"

#include <fcntl.h>

static void show(const char *label, int dirfd, const char *path)
{
	int fd = syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	char buf[256];
	long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
	syscall(SYS_close, fd);
	if (n < 0) {
		printf("%s: read %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("%s: %s\n", label, buf);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] == '@') {
			char dir[256];
			const char *colon = strchr(arg, ':');
			if (!colon || colon - arg - 1 >= (long)sizeof dir)
				return 2;
			memcpy(dir, arg + 1, colon - arg - 1);
			dir[colon - arg - 1] = 0;
			int dfd = syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
			if (dfd < 0) {
				printf("%s: dir %s\n", arg, errname(errno));
				continue;
			}
			show(arg, dfd, colon + 1);
			syscall(SYS_close, dfd);
		} else {
			show(arg, AT_FDCWD, arg);
		}
	}

	syscall(SYS_chdir, "/");
	for (int i = 0; i < 32; i++)
		syscall(SYS_chdir, "..");
	char cwd[256];
	long n = syscall(SYS_getcwd, cwd, sizeof cwd);
	printf("cwd after 32 x chdir(..): %s\n", n < 0 ? errname(errno) : cwd);
	show("relative etc/passwd from there", AT_FDCWD, "etc/passwd");
	int root = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	show("openat(/, ../../../etc/passwd)", root, "../../../etc/passwd");
	int up = syscall(SYS_openat, root, "../../..", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	report("openat(/, ../../..)", up);
	if (up >= 0) {
		syscall(SYS_fchdir, up);
		n = syscall(SYS_getcwd, cwd, sizeof cwd);
		printf("cwd after fchdir to it: %s\n", n < 0 ? errname(errno) : cwd);
	}
	return 0;
}
