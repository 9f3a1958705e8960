/* MAP_GROWSDOWN, as LTP's mmap18 uses it: a touch of the free space
 * below such a mapping grows it down to the page touched, unless that
 * comes within the stack guard gap (256 pages) of a mapping below, or
 * past RLIMIT_STACK: then SIGSEGV. Shared anonymous memory cannot grow
 * down (EINVAL). */
#include "common.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static long page;

/* A free range of `pages` pages, and a MAP_GROWSDOWN mapping of its top
 * `top` pages. */
static char *reserve(long pages, long top)
{
	char *r = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(r, pages * page);
	char *g = mmap(r + (pages - top) * page, top * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
	return g == MAP_FAILED ? NULL : r;
}

/* Runs `touch(p)` in a child: "ok" or how it died. */
static void in_child(const char *label, char *p, long stack_limit)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (stack_limit) {
			struct rlimit rl = { stack_limit, RLIM_INFINITY };
			setrlimit(RLIMIT_STACK, &rl);
		}
		*(volatile char *)p = 7;
		_exit(*(volatile char *)p == 7 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", label, WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : "another signal");
	else
		printf("%s: exit %d\n", label, WEXITSTATUS(st));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	page = sysconf(_SC_PAGESIZE);

	char *r = reserve(1024, 4);
	if (!r)
		return 1;
	in_child("a touch of the page below", r + 1019 * page, 0);
	in_child("a touch 600 pages above the reserve's start", r + 600 * page, 0);
	mmap(r + 100 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	in_child("a touch 99 pages above a mapping", r + 200 * page, 0);
	in_child("a touch 300 pages above it", r + 401 * page, 0);
	mprotect(r + 100 * page, page, PROT_NONE);
	in_child("a touch 99 pages above it once PROT_NONE", r + 200 * page, 0);
	in_child("a touch 64 pages down, RLIMIT_STACK 32 pages", r + 960 * page, 32 * page);
	in_child("a touch 16 pages down, RLIMIT_STACK 32 pages", r + 1008 * page, 32 * page);

	/* In this process: the growth stays. */
	r[1010 * page] = 1;
	unsigned char vec;
	report("mincore of the grown page", mincore(r + 1010 * page, page, &vec));
	report("mincore of a page below it", mincore(r + 1000 * page, page, &vec));
	report("MAP_GROWSDOWN of shared anonymous memory",
	       mmap(NULL, page, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0) == MAP_FAILED ? -1 : 0);
	printf("done\n");
	return 0;
}
