/* chroot(2): the errors in Linux's order (the path, a directory, search
 * permission, then CAP_SYS_CHROOT), the new root for absolute paths and
 * "..", the cwd left outside it (getcwd then fails, as glibc reports the
 * kernel's "(unreachable)"), and a child inheriting the root. */
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static void show(const char *label, const char *path)
{
	char buf[64] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: %s\n", label, errname(errno));
		return;
	}
	read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("%s: %s", label, buf);
}

int main(void)
{
	mkdir("/tmp/jail", 0755);
	mkdir("/tmp/jail/sub", 0755);
	mkdir("/tmp/jail/closed", 0700);
	int fd = open("/tmp/jail/inside", O_CREAT | O_WRONLY, 0644);
	write(fd, "in the jail\n", 12);
	close(fd);
	fd = open("/tmp/outside", O_CREAT | O_WRONLY, 0644);
	write(fd, "outside\n", 8);
	close(fd);

	report("chroot(/nonexistent)", chroot("/nonexistent"));
	report("chroot(a file)", chroot("/tmp/outside"));
	report("chroot(NULL)", syscall(SYS_chroot, NULL));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(65534) != 0)
			_exit(2);
		report("chroot as uid 65534", chroot("/tmp/jail"));
		report("chroot of a closed directory as uid 65534", chroot("/tmp/jail/closed"));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);

	report("chroot(/tmp/jail)", chroot("/tmp/jail"));
	char cwd[PATH_MAX];
	report("getcwd with the cwd outside the root", getcwd(cwd, sizeof cwd) ? 0 : -1);
	show("/inside", "/inside");
	show("/tmp/outside", "/tmp/outside");
	report("chdir(/sub)", chdir("/sub"));
	printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	report("chdir(../../..)", chdir("../../.."));
	printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	show("../../inside", "../../inside");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		show("a child's /inside", "/inside");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return 0;
}
