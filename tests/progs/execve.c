/* execve and execveat: argv and envp, #! scripts (with an argument),
 * close-on-exec, exec from a multithreaded process, signal dispositions
 * across exec, and the errors.
 *
 * The program re-executes itself (it is /progs/execve) in other modes:
 *   execve                   the checks (the test runs this)
 *   execve show ARGS...      prints argv and the environment
 *   execve interp ARGS...    same, as a #! interpreter (see the scripts)
 *   execve fds FD...         reports whether each fd is open
 *   execve pid PID           checks getpid() == PID (exec kept the pid)
 *   execve disp              reports SIGUSR1's and SIGUSR2's disposition
 *
 * The rootfs must hold the scripts the test writes (see tests/process.rs):
 * /progs/script.sh (#!/progs/execve interp), /progs/noexec (mode 0644),
 * /progs/badinterp.sh (#!/nonexistent), /progs/garbage (mode 0755, not ELF). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

extern char **environ;

static const char *self = "/progs/execve";

static void show(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("  argv[%d]=%s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("  env %s\n", *e);
}

/* Runs fn in a child and waits; prints the child's status. */
static void in_child(const char *label, void (*fn)(void))
{
	printf("%s:\n", label);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(120);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("  -> %s\n", status_str(st));
}

static void exec_show(void)
{
	char *argv[] = { "renamed-argv0", "one", "two words", "", NULL };
	char *envp[] = { "A=1", "B=two words", NULL };
	execve(self, (char *[]){ argv[0], "show", argv[1], argv[2], argv[3], NULL }, envp);
	printf("  execve: %s\n", errname(errno));
}

static void exec_script(void)
{
	char *envp[] = { "SCRIPT=yes", NULL };
	execve("/progs/script.sh", (char *[]){ "script-argv0", "arg1", NULL }, envp);
	printf("  execve script: %s\n", errname(errno));
}

static void exec_script_relative(void)
{
	if (chdir("/progs"))
		_exit(119);
	char *envp[] = { NULL };
	execve("./script.sh", (char *[]){ "./script.sh", NULL }, envp);
	printf("  execve ./script.sh: %s\n", errname(errno));
}

static void exec_cloexec(void)
{
	int a = open("/progs/script.sh", O_RDONLY | O_CLOEXEC);
	int b = open("/progs/script.sh", O_RDONLY);
	dup2(a, 20);
	fcntl(20, F_SETFD, FD_CLOEXEC);
	dup2(b, 21);
	int c = fcntl(b, F_DUPFD_CLOEXEC, 22);
	dup3(b, 23, O_CLOEXEC);
	dup2(b, 24);
	fcntl(24, F_SETFD, 0);
	close(a);
	close(b);
	char *envp[] = { NULL };
	execve(self, (char *[]){ "execve", "fds", "20", "21", c == 22 ? "22" : "bad", "23", "24", NULL }, envp);
	printf("  execve: %s\n", errname(errno));
}

static void exec_execveat_dirfd(void)
{
	int dir = open("/progs", O_RDONLY | O_DIRECTORY);
	char *envp[] = { "VIA=execveat dirfd", NULL };
	syscall(SYS_execveat, dir, "execve", (char *[]){ "execveat-dirfd", "show", NULL }, envp, 0);
	printf("  execveat: %s\n", errname(errno));
}

static void exec_execveat_empty_path(void)
{
	int fd = open(self, O_RDONLY);
	char *envp[] = { "VIA=execveat AT_EMPTY_PATH", NULL };
	syscall(SYS_execveat, fd, "", (char *[]){ "execveat-fd", "show", NULL }, envp, AT_EMPTY_PATH);
	printf("  execveat: %s\n", errname(errno));
}

static void exec_execveat_abs(void)
{
	char *envp[] = { NULL };
	syscall(SYS_execveat, 12345, self, (char *[]){ "execveat-abs", "show", NULL }, envp, 0);
	printf("  execveat: %s\n", errname(errno));
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void exec_threaded(void)
{
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, sleeper, NULL);
	char pid[32];
	snprintf(pid, sizeof pid, "%d", getpid());
	char *envp[] = { NULL };
	execve(self, (char *[]){ "execve", "pid", pid, NULL }, envp);
	printf("  execve: %s\n", errname(errno));
}

static void on_usr(int sig)
{
	(void)sig;
}

static void exec_dispositions(void)
{
	signal(SIGUSR1, on_usr);
	signal(SIGUSR2, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char *envp[] = { NULL };
	execve(self, (char *[]){ "execve", "disp", NULL }, envp);
	printf("  execve: %s\n", errname(errno));
}

static void try_exec(const char *label, const char *path)
{
	char *envp[] = { NULL };
	errno = 0;
	long r = execve(path, (char *[]){ (char *)path, NULL }, envp);
	printf("%s: %ld %s\n", label, r, errname(errno));
}

static void errors(void)
{
	try_exec("execve a missing file", "/progs/missing");
	try_exec("execve a file without x permission", "/progs/noexec");
	try_exec("execve a directory", "/progs");
	try_exec("execve a script with a missing interpreter", "/progs/badinterp.sh");
	try_exec("execve a non-ELF file with no #!", "/progs/garbage");
	try_exec("execve through a non-directory", "/progs/noexec/x");
	char *envp[] = { NULL };
	errno = 0;
	long r = syscall(SYS_execve, self, (char **)1, envp);
	printf("execve with a bad argv pointer: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_execveat, AT_FDCWD, "", (char *[]){ "x", NULL }, envp, 0);
	printf("execveat with an empty path and no AT_EMPTY_PATH: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_execveat, AT_FDCWD, self, (char *[]){ "x", NULL }, envp, 0x40000);
	printf("execveat with a bad flag: %ld %s\n", r, errname(errno));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "show") == 0) {
		printf("  show: argc=%d\n", argc);
		show(argc, argv);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "interp") == 0) {
		printf("  interpreter: argc=%d\n", argc);
		show(argc, argv);
		return 3;
	}
	if (argc > 1 && strcmp(argv[1], "fds") == 0) {
		for (int i = 2; i < argc; i++)
			printf("  fd %s: %s\n", argv[i], fcntl(atoi(argv[i]), F_GETFD) == -1 ? errname(errno) : "open");
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "pid") == 0) {
		printf("  same pid after exec from a threaded process: %s\n", getpid() == atoi(argv[2]) ? "ok" : "bad");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "disp") == 0) {
		struct sigaction sa;
		sigaction(SIGUSR1, NULL, &sa);
		printf("  SIGUSR1 with a handler before exec: %s\n", sa.sa_handler == SIG_DFL ? "SIG_DFL" : "bad");
		sigaction(SIGUSR2, NULL, &sa);
		printf("  SIGUSR2 ignored before exec: %s\n", sa.sa_handler == SIG_IGN ? "SIG_IGN" : "bad");
		sigset_t set;
		sigprocmask(SIG_BLOCK, NULL, &set);
		printf("  SIGTERM blocked before exec: %s\n", sigismember(&set, SIGTERM) ? "still blocked" : "bad");
		return 0;
	}
	if (argc > 1) {
		printf("unknown mode %s\n", argv[1]);
		return 2;
	}
	in_child("execve with argv and envp", exec_show);
	in_child("execve a #! script with an argument", exec_script);
	in_child("execve ./script.sh from /progs", exec_script_relative);
	in_child("close-on-exec", exec_cloexec);
	in_child("execveat with a directory fd", exec_execveat_dirfd);
	in_child("execveat with AT_EMPTY_PATH", exec_execveat_empty_path);
	in_child("execveat with an absolute path ignores the fd", exec_execveat_abs);
	in_child("execve from a process with 3 more threads", exec_threaded);
	in_child("signal dispositions across execve", exec_dispositions);
	errors();
	printf("done\n");
	return 0;
}
