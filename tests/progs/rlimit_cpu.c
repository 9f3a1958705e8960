/* RLIMIT_CPU: a process spinning past its soft limit of CPU time gets
 * SIGXCPU (the soft limit then one second higher, as getrlimit shows),
 * and at its hard limit SIGKILL. */
#include "common.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static volatile long *shared;

static void on_xcpu(int sig)
{
	struct rlimit r;
	getrlimit(RLIMIT_CPU, &r);
	shared[0]++;
	shared[1] = (long)r.rlim_cur;
	(void)sig;
}

int main(void)
{
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXCPU, on_xcpu);
		struct rlimit r = { 1, 2 };
		if (setrlimit(RLIMIT_CPU, &r) != 0)
			_exit(1);
		alarm(20);
		for (;;)
			;
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child: %s %d\n", WIFSIGNALED(st) ? "killed by signal" : "exited", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	printf("SIGXCPU seen %ld times, the soft limit then %ld\n", shared[0], shared[1]);
	struct rlimit mine;
	getrlimit(RLIMIT_CPU, &mine);
	printf("the parent's limit: infinite %d\n", mine.rlim_cur == RLIM_INFINITY);
	return 0;
}
