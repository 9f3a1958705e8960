/* Threads and processes that come and go, more of them over the program's
 * life than a KVM VM has vCPUs (1024 here): each thread is made and joined
 * in turn, then each child forked and waited for. The kvm platform must
 * reuse the vCPUs of threads that ended. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 1100
#define CHILDREN 100

static void *run(void *arg)
{
	return (char *)arg + 1;
}

int main(void)
{
	for (int i = 0; i < THREADS; i++) {
		pthread_t t;
		void *got = NULL;
		if (pthread_create(&t, NULL, run, (char *)NULL + i) || pthread_join(t, &got)) {
			printf("thread %d: not made\n", i);
			return 1;
		}
		if (got != (char *)NULL + i + 1) {
			printf("thread %d: returned %p\n", i, got);
			return 1;
		}
	}
	printf("%d threads came and went\n", THREADS);
	for (int i = 0; i < CHILDREN; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0)
			_exit(i % 100);
		int st;
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != i % 100) {
			printf("child %d: status %#x\n", i, st);
			return 1;
		}
	}
	printf("%d children came and went\n", CHILDREN);
	printf("done\n");
	return 0;
}
