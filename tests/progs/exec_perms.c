/* execve's and fchdir's permission checks for an unprivileged caller, the
 * empty argv (argc becomes 1, argv[0] ""), execveat's AT_SYMLINK_NOFOLLOW,
 * and an empty path before the dirfd is looked at. Found by LTP's execve02,
 * execve06, execveat02, fchdir03 and fchmodat02. */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static void copy_self(const char *to)
{
	int in = open("/proc/self/exe", O_RDONLY), out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0700);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		write(out, buf, n);
	close(in);
	close(out);
}

/* Runs fn in a child as uid 65534 and waits for it. */
static void as_nobody(void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		fn();
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void exec_closed(void)
{
	char *argv[] = {"prog", NULL};
	report("execve of a 0700 root file as uid 65534", execve("/tmp/prog", argv, NULL));
}

static void fchdir_closed(void)
{
	int fd = open("/tmp/closed", O_PATH | O_DIRECTORY);
	report("fchdir into a 0700 root directory as uid 65534", fchdir(fd));
}

int main(int argc, char **argv)
{
	if (getenv("EXEC_PERMS_SHOW")) {
		printf("exec'd with argc %d, argv[0] \"%s\"\n", argc, argc ? argv[0] : "(none)");
		return 0;
	}
	mkdir("/tmp", 01777);
	copy_self("/tmp/prog");
	mkdir("/tmp/closed", 0700);
	symlink("/tmp/prog", "/tmp/link");
	as_nobody(exec_closed);
	as_nobody(fchdir_closed);

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *none[] = {NULL};
		char *env[] = {"EXEC_PERMS_SHOW=1", NULL};
		execve("/tmp/prog", none, env);
		_exit(3);
	}
	waitpid(pid, NULL, 0);

	char *args[] = {"prog", NULL};
	report("execveat(AT_SYMLINK_NOFOLLOW) of a symlink",
	       syscall(SYS_execveat, AT_FDCWD, "/tmp/link", args, NULL, AT_SYMLINK_NOFOLLOW));
	int file = open("/tmp/prog", O_RDONLY);
	report("fchmodat(a file's fd, \"\")", fchmodat(file, "", 0600, 0));
	report("openat(-1, \"\")", openat(-1, "", O_RDONLY));
	report("openat(a file's fd, \"x\")", openat(file, "x", O_RDONLY));
	report("mkdirat(a file's fd, \"\")", mkdirat(file, "", 0700));
	return 0;
}
