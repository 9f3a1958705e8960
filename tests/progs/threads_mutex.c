/* Stress: THREADS pthreads contend on one mutex and one condition
 * variable, ITERS iterations each.
 *
 *   threads_mutex [THREADS [ITERS]]     (default 64 100000)
 *
 * Each iteration locks the mutex, bumps the shared counter and the
 * thread's own count, and unlocks. Every ITERS/10 iterations (and at the
 * end) the threads meet at a barrier built from the same mutex and
 * condition variable (generation counting, pthread_cond_wait and
 * pthread_cond_broadcast), where the last one in checks the counter:
 * at round r it must be exactly THREADS * r * ITERS / 10.
 *
 * Prints only the totals, which are fixed by the arguments. */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, nthreads, iters, per_round;
static long arrived, generation, rounds, bad_rounds, waits;

static void barrier(void)
{
	/* Called with mu held. */
	long gen = generation;
	if (++arrived == nthreads) {
		rounds++;
		if (counter != nthreads * per_round * rounds)
			bad_rounds++;
		arrived = 0;
		generation++;
		pthread_cond_broadcast(&cv);
		return;
	}
	while (gen == generation) {
		waits++;
		pthread_cond_wait(&cv, &mu);
	}
}

static void *worker(void *arg)
{
	long *mine = arg;
	for (long i = 1; i <= iters; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		(*mine)++;
		if (i % per_round == 0)
			barrier();
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	nthreads = argc > 1 ? atol(argv[1]) : 64;
	iters = argc > 2 ? atol(argv[2]) : 100000;
	if (nthreads < 1 || iters < 10 || iters % 10) {
		printf("usage: threads_mutex [THREADS [ITERS]] (ITERS a multiple of 10)\n");
		return 2;
	}
	per_round = iters / 10;
	pthread_t *t = calloc(nthreads, sizeof *t);
	long *counts = calloc(nthreads, sizeof *counts);
	int created = 0;
	for (long i = 0; i < nthreads; i++) {
		int e = pthread_create(&t[i], NULL, worker, &counts[i]);
		if (e) {
			printf("pthread_create %ld: %s: bad\n", i, errname(e));
			return 1;
		}
		created++;
	}
	for (long i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	long each_ok = 0;
	for (long i = 0; i < nthreads; i++)
		each_ok += counts[i] == iters;
	printf("threads=%ld iterations=%ld\n", nthreads, iters);
	printf("counter=%ld (expected %ld)\n", counter, nthreads * iters);
	printf("threads with all their iterations: %ld\n", each_ok);
	printf("barrier rounds=%ld, rounds with a wrong counter: %ld\n", rounds, bad_rounds);
	printf("condition variable waits happened: %s\n", waits > 0 || nthreads == 1 ? "yes" : "no");
	int ok = counter == nthreads * iters && each_ok == nthreads && rounds == 10 && bad_rounds == 0;
	printf("%s\n", ok ? "ok" : "bad");
	return ok ? 0 : 1;
}
