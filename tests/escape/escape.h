/* Helpers for the escape suite (the programs beside it, run by tests/escape.rs).
 *
 * Each program makes one escape attempt (or one tight family of the same
 * attempt) from inside the sandbox and checks, from there, that it failed
 * with the errno Linux (or Husk, where it does not implement the call)
 * gives, or that its effect stayed inside the sandbox. The test then checks
 * the host from outside.
 *
 * Every check prints one line, "label: ok (what held)" or "label: bad
 * (what happened instead)"; the program ends with "escape: N checks held"
 * and exit status 0, or "escape: FAILED: N of M checks" and status 1.
 *
 * The test passes what a program may need to know about the host in the
 * environment (ESCAPE_*: see esc_env); nothing else of the host is visible
 * from inside. */
#ifndef HUSK_ESCAPE_H
#define HUSK_ESCAPE_H

#include "../progs/common.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

static int esc_checks, esc_failed;

/* Records one check: cond held, or it did not and why (printf-style). */
__attribute__((format(printf, 3, 4))) static inline void esc_check(const char *label, int cond, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	esc_checks++;
	if (cond) {
		printf("%s: ok (%s)\n", label, why);
	} else {
		esc_failed++;
		printf("%s: bad (%s)\n", label, why);
	}
	fflush(stdout);
}

static inline const char *esc_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* A syscall-style result (ret, with errno when ret == -1) must be the
 * failure `want`. */
static inline void esc_expect_err(const char *label, long ret, int want)
{
	int e = errno;
	if (ret == -1)
		esc_check(label, e == want, e == want ? "%s" : "failed with %s, want %s", esc_errname(e),
			  esc_errname(want));
	else
		esc_check(label, 0, "succeeded (%ld), want %s", ret, esc_errname(want));
}

/* A syscall-style result must be a success (the call is served inside the
 * sandbox). */
static inline void esc_expect_ok(const char *label, long ret)
{
	int e = errno;
	if (ret == -1)
		esc_check(label, 0, "failed with %s, want success", esc_errname(e));
	else
		esc_check(label, 1, "served in the sandbox");
}

/* Expects `call` to fail with errno `want`: "label: ok (EPERM)". */
#define EXPECT_ERR(label, call, want) esc_expect_err((label), (long)(call), (want))
#define EXPECT_OK(label, call) esc_expect_ok((label), (long)(call))

/* Checks that the sandbox still serves the program after an attempt: a
 * syscall works, and so does a fork. */
static inline void esc_still_works(void)
{
	EXPECT_OK("a syscall afterwards", getppid());
	pid_t pid = fork();
	if (pid == 0)
		_exit(42);
	int st;
	waitpid(pid, &st, 0);
	esc_check("and a fork", WIFEXITED(st) && WEXITSTATUS(st) == 42, "%s", status_str(st));
}

/* The program's verdict: its exit status. */
static inline int esc_finish(void)
{
	if (esc_failed) {
		printf("escape: FAILED: %d of %d checks\n", esc_failed, esc_checks);
		return 1;
	}
	printf("escape: %d checks held\n", esc_checks);
	return 0;
}

/* An ESCAPE_* variable the test sets; exits 2 when it is missing. */
static inline const char *esc_env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		printf("escape: the test did not set %s\n", name);
		exit(2);
	}
	return v;
}

/* The host-only marker: a file beside the rootfs on the host, holding a
 * unique string. Its host path and its contents are known to the program;
 * they must never be readable from inside. */
#define ESC_MARKER_PATH() esc_env("ESCAPE_MARKER_PATH")
#define ESC_MARKER() esc_env("ESCAPE_MARKER")
/* The rootfs's host path, the test runner's host pid, a host loopback TCP
 * and UDP port with a listener, a host abstract Unix socket name, and a
 * unique tag for names the program tries to create on the host. */
#define ESC_ROOTFS() esc_env("ESCAPE_ROOTFS")
#define ESC_HOST_PID() atoi(esc_env("ESCAPE_HOST_PID"))
#define ESC_HOST_PORT() atoi(esc_env("ESCAPE_HOST_PORT"))
#define ESC_HOST_ABSTRACT() esc_env("ESCAPE_HOST_ABSTRACT")
#define ESC_TAG() esc_env("ESCAPE_TAG")

/* The sandbox's own root holds /sandbox-marker (made by the test, holding
 * "sandbox-root"): seeing it through a path shows the path resolved inside
 * the root. */
#define SANDBOX_MARKER "/sandbox-marker"
#define SANDBOX_MARKER_TEXT "sandbox-root"

/* Reads up to n-1 bytes of path into buf (NUL-terminated); -1 with errno
 * when it cannot be opened or read. */
static inline long esc_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long got = 0;
	for (;;) {
		long r = read(fd, buf + got, n - 1 - got);
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0 || (size_t)(got + r) >= n - 1) {
			got += r;
			break;
		}
		got += r;
	}
	buf[got] = 0;
	close(fd);
	return got;
}

/* Opening `path` must fail with `want` (the host file is not there), and
 * if it opened after all, it must not hold the host marker. */
static inline void esc_no_host_file(const char *label, const char *path, int want)
{
	char buf[4096];
	long r = esc_read(path, buf, sizeof buf);
	if (r >= 0 && strstr(buf, ESC_MARKER())) {
		esc_check(label, 0, "READ THE HOST MARKER through %s", path);
		return;
	}
	esc_expect_err(label, r, want);
}

/* `path` must be a directory that is the sandbox's root: it holds
 * sandbox-marker. */
static inline void esc_is_sandbox_root(const char *label, const char *dir)
{
	char path[8192], buf[64];
	snprintf(path, sizeof path, "%s/%s", dir, SANDBOX_MARKER + 1);
	long r = esc_read(path, buf, sizeof buf);
	struct stat a, b;
	int same = stat(dir, &a) == 0 && stat("/", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	esc_check(label, r > 0 && strncmp(buf, SANDBOX_MARKER_TEXT, strlen(SANDBOX_MARKER_TEXT)) == 0 && same,
		  "%s is the sandbox's root: %s, same inode as /: %s", dir, r > 0 ? "marker read" : errname(errno),
		  same ? "yes" : "no");
}

/* Prints a progress line that is not a check (deterministic text only). */
#define NOTE(...)                          \
	do {                               \
		printf("# " __VA_ARGS__);  \
		printf("\n");              \
		fflush(stdout);            \
	} while (0)

#endif
