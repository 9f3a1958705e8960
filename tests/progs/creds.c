/* Credentials: the setuid/setgid family, getres[ug]id, setgroups and
 * getgroups, and the permission checks once root is given up.
 *
 *   creds        starts as root (the test runs it as root on both
 *                sides), walks through the changes in forked children
 *                (each prints, then reports by exit status)
 *   creds show   prints the ids and whether setuid(0) is allowed: for
 *                `husk run --user UID[:GID]`
 */
#include "common.h"

#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

/* Prints the ids; with_groups prints the supplementary groups too
 * (not at the start: natively they are whatever the test runner had). */
static void ids_groups(const char *label, int with_groups)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	printf("%s: uid %d/%d/%d gid %d/%d/%d", label, r, e, s, gr, ge, gs);
	if (!with_groups) {
		printf("\n");
		return;
	}
	gid_t groups[32];
	int n = getgroups(32, groups);
	printf(" groups");
	if (n == 0)
		printf(" (none)");
	for (int i = 0; i < n; i++)
		printf(" %d", groups[i]);
	printf("\n");
}

static void ids(const char *label)
{
	ids_groups(label, 1);
}

static void attempt(const char *label, long r)
{
	printf("  %s: %s\n", label, r == 0 ? "ok" : errname(errno));
}

/* Runs fn in a child, so that the parent stays root. */
static void in_child(void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("  child: %s: bad\n", status_str(st));
}

static void groups_as_root(void)
{
	gid_t g[] = { 30, 10, 20 };
	attempt("setgroups(30 10 20)", setgroups(3, g));
	printf("  getgroups(0, NULL): %d\n", getgroups(0, NULL));
	gid_t small[1];
	errno = 0;
	int n = getgroups(1, small);
	printf("  getgroups into 1 slot: %d %s\n", n, errname(errno));
	ids("  after setgroups");
	attempt("setgroups(0)", setgroups(0, NULL));
	ids("  after setgroups(0)");
	errno = 0;
	n = setgroups((size_t)-1, g);
	printf("  setgroups(-1): %d %s\n", n, errname(errno));
}

static void full_drop(void)
{
	gid_t g[] = { 1000 };
	attempt("setgroups(1000)", setgroups(1, g));
	attempt("setgid(1000)", setgid(1000));
	attempt("setuid(1000)", setuid(1000));
	ids("  after setuid(1000) as root");
	errno = 0;
	attempt("setuid(0)", setuid(0));
	attempt("seteuid(0)", seteuid(0));
	attempt("setgid(0)", setgid(0));
	attempt("setgroups(0)", setgroups(0, NULL));
	attempt("setuid(1000) again", setuid(1000));
	attempt("setresuid(-1, -1, -1)", setresuid(-1, -1, -1));
	attempt("setreuid(1000, 1000)", setreuid(1000, 1000));
	/* Permission checks on files: /progs/creds is 0755 root, so
	 * readable and executable; opening /etc/secret (0600 root) is not. */
	errno = 0;
	printf("  open /etc/secret (0600 root): %s\n", open("/etc/secret", O_RDONLY) >= 0 ? "ok" : errname(errno));
	printf("  access /progs/creds X_OK: %s\n", access("/progs/creds", X_OK) == 0 ? "ok" : errname(errno));
	/* kill needs a matching uid. */
	errno = 0;
	printf("  kill(getppid(), 0) to a root process: %s\n", kill(getppid(), 0) == 0 ? "ok" : errname(errno));
}

static void saved_uid(void)
{
	gid_t none[1] = { 0 };
	attempt("setgroups(0)", setgroups(0, none));
	attempt("setresgid(100, 200, 300)", setresgid(100, 200, 300));
	attempt("setresuid(1000, 1001, 0)", setresuid(1000, 1001, 0));
	ids("  after setresuid(1000, 1001, 0)");
	/* The saved uid 0 lets the euid go back to 0, and root may then
	 * set anything. */
	attempt("seteuid(0)", seteuid(0));
	ids("  after seteuid(0)");
	attempt("setresuid(1000, 1001, 1002)", setresuid(1000, 1001, 1002));
	ids("  after setresuid(1000, 1001, 1002)");
	/* Unprivileged: only to the current real, effective or saved ids. */
	attempt("seteuid(1002)", seteuid(1002));
	attempt("seteuid(1000)", seteuid(1000));
	attempt("seteuid(0)", seteuid(0));
	attempt("setresuid(-1, 3000, -1)", setresuid(-1, 3000, -1));
	attempt("setreuid(1002, -1)", setreuid(1002, -1));
	attempt("setreuid(-1, 1001)", setreuid(-1, 1001));
	ids("  now");
	/* setreuid with a new euid different from the real uid also sets
	 * the saved uid to it. */
	attempt("setreuid(-1, 1002)", setreuid(-1, 1002));
	ids("  after setreuid(-1, 1002)");
	attempt("setgid(200)", setgid(200));
	attempt("setgid(300)", setgid(300));
	attempt("setregid(300, -1)", setregid(300, -1));
	ids("  now");
	/* fsuid follows the euid. */
	printf("  setfsuid(-1) returns the fsuid: %d\n", setfsuid(-1));
}

static void euid_only(void)
{
	attempt("seteuid(1000)", seteuid(1000));
	ids_groups("  after seteuid(1000)", 0);
	errno = 0;
	printf("  setgroups as euid 1000: %s\n", setgroups(0, NULL) == 0 ? "ok" : errname(errno));
	attempt("seteuid(0)", seteuid(0));
	ids_groups("  after seteuid(0)", 0);
	attempt("setegid(50)", setegid(50));
	ids_groups("  after setegid(50)", 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "show") == 0) {
		printf("uid=%d euid=%d gid=%d egid=%d\n", getuid(), geteuid(), getgid(), getegid());
		errno = 0;
		printf("setuid(0): %s\n", setuid(0) == 0 ? "ok" : errname(errno));
		errno = 0;
		printf("open /etc/secret (0600 root): %s\n", open("/etc/secret", O_RDONLY) >= 0 ? "ok" : errname(errno));
		return 0;
	}
	ids_groups("start", 0);
	printf("setgroups and getgroups as root:\n");
	in_child(groups_as_root);
	printf("root gives up everything:\n");
	in_child(full_drop);
	printf("saved set-user-ID:\n");
	in_child(saved_uid);
	printf("effective uid only:\n");
	in_child(euid_only);
	ids_groups("parent, unchanged", 0);
	printf("done\n");
	return 0;
}
