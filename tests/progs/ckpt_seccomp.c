/* seccomp filters across a checkpoint: the process installs two filters
 * (getppid fails with errno 42; uname traps with SIGSYS), its child
 * shares them and a thread synced by TSYNC too, and a second child is in
 * strict mode. The program says "ready" and waits for SIGUSR1 (a
 * checkpoint and a restore come in between). Then the filters still act,
 * in each process and thread, the thread's are still the process's (a
 * TSYNC passes), and the strict child is still strict. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ON(nr, v) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(v)

static struct sock_filter first[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    ON(SYS_getppid, SECCOMP_RET_ERRNO | 42),
    RET(SECCOMP_RET_ALLOW),
};
static struct sock_filter second[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    ON(SYS_uname, SECCOMP_RET_TRAP | 5),
    RET(SECCOMP_RET_ALLOW),
};

static long install(unsigned flags, struct sock_filter *f, unsigned short n)
{
	struct sock_fprog prog = { .len = n, .filter = f };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static volatile int trapped, trap_errno;
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	trapped++;
	trap_errno = si->si_errno;
}

static volatile int go;
static void *thread(void *arg)
{
	(void)arg;
	while (!go)
		usleep(1000);
	errno = 0;
	syscall(SYS_getppid);
	printf("the thread's getppid: errno %d\n", errno);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigaction(SIGSYS, &sa, NULL);
	int hold[2], strict_in[2], strict_out[2];
	if (pipe(strict_in) || pipe(strict_out) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return 2;
	pid_t strict = fork();
	if (strict == 0) {
		char c;
		prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
		/* Strict: it may read and write; the read waits for the end. */
		syscall(SYS_read, strict_in[0], &c, 1);
		syscall(SYS_write, strict_out[1], "strict\n", 7);
		syscall(SYS_getpid); /* killed here */
		syscall(SYS_exit, 0);
	}
	if (pipe(hold))
		return 2;
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	if (install(SECCOMP_FILTER_FLAG_TSYNC, first, 4) != 0 || install(0, second, 4) != 0) {
		perror("seccomp");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(hold[1]);
		read(hold[0], &c, 1);
		errno = 0;
		syscall(SYS_getppid);
		printf("the child's getppid: errno %d\n", errno);
		_exit(0);
	}
	printf("ready\n");
	ckpt_wait_usr1();

	errno = 0;
	syscall(SYS_getppid);
	printf("getppid: errno %d\n", errno);
	syscall(SYS_uname, NULL);
	printf("uname: trapped %d, si_errno %d\n", trapped, trap_errno);
	/* The thread's filter is the first of the process's: a TSYNC passes
	 * only if the restore kept the two one filter. */
	struct sock_filter allow[] = { RET(SECCOMP_RET_ALLOW) };
	printf("TSYNC after the restore: %ld\n", install(SECCOMP_FILTER_FLAG_TSYNC, allow, 1));
	go = 1;
	pthread_join(th, NULL);
	printf("PR_GET_SECCOMP: %d\n", prctl(PR_GET_SECCOMP));
	close(hold[1]);
	int status;
	waitpid(child, &status, 0);
	printf("the child: %s\n", WIFEXITED(status) ? "exited" : "killed");
	write(strict_in[1], "x", 1);
	waitpid(strict, &status, 0);
	char buf[16] = { 0 };
	read(strict_out[0], buf, sizeof buf - 1);
	printf("the strict child wrote %s", buf);
	printf("and was killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return 0;
}
