/* /proc/self/exe (runc's CVE-2019-5736: a container overwrote the host's
 * runc through it): the link names the app's own binary inside the
 * sandbox, never Husk's; reading it gives that binary. Writing through it
 * (a child writes its parent's, /proc/1/exe, as the CVE's payload did)
 * reaches only the sandbox's copy of the program, in the root's overlay:
 * the test checks that Husk's binary and the rootfs are unchanged.
 *
 * (Linux refuses those writes with ETXTBSY while the program runs; Husk
 * lets them through to the overlay's copy. That is a difference from
 * Linux, not an escape, and is not held against Husk here.) */
#include "escape.h"

#include <limits.h>

int main(int argc, char **argv)
{
	(void)argc;
	char buf[PATH_MAX];
	long n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	esc_check("readlink /proc/self/exe", strcmp(buf, argv[0]) == 0, "\"%s\"", buf);
	n = readlink("/proc/1/exe", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	esc_check("readlink /proc/1/exe", strcmp(buf, argv[0]) == 0, "\"%s\"", buf);
	long r = esc_read("/proc/self/exe", buf, 5);
	esc_check("read /proc/self/exe", r == 4 && memcmp(buf, "\177ELF", 4) == 0, "the app's own ELF");

	/* A child overwrites its parent's exe, as the CVE's payload did. */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/proc/1/exe", O_WRONLY);
		_exit(fd >= 0 && pwrite(fd, "#!/husk-escape\n", 15, 0) == 15 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		r = esc_read(argv[0], buf, 16);
		esc_check("a child wrote /proc/1/exe: the sandbox's copy changed", r > 0 && memcmp(buf, "#!/husk-escape", 14) == 0,
			  "the program in the root's overlay");
	} else {
		esc_check("a child wrote /proc/1/exe", 0, "%s (expected it to reach the overlay's copy)", status_str(st));
	}
	return esc_finish();
}
