/* A thread bomb, under `husk run --pids 32`: clone threads until clone
 * fails: EAGAIN before 32 tasks; the threads end and the process goes
 * on. */
#include "escape.h"

#include <pthread.h>

static int gate[2];

static void *wait_gate(void *arg)
{
	(void)arg;
	char c;
	read(gate[0], &c, 1);
	return NULL;
}

int main(void)
{
	pipe(gate);
	static pthread_t t[1000];
	int n = 0, err = 0;
	for (; n < 1000; n++) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 * 1024);
		err = pthread_create(&t[n], &a, wait_gate, NULL);
		if (err)
			break;
	}
	esc_check("pthread_create fails", err == EAGAIN && n > 0 && n < 32, "%s after %s", err ? errname(err) : "no failure",
		  n > 0 && n < 32 ? "some, fewer than 32 threads" : "a wrong number of threads");
	close(gate[1]);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_t one;
	pipe(gate);
	close(gate[1]);
	EXPECT_OK("a thread afterwards", pthread_create(&one, NULL, wait_gate, NULL) == 0 ? 0 : -1);
	pthread_join(one, NULL);
	return esc_finish();
}
