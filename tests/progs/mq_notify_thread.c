/* mq_notify with SIGEV_THREAD, as glibc implements it: a netlink socket
 * its helper thread reads the kernel's cookie from. A message on the empty
 * queue runs the function in a new thread with the value given; the
 * registration is then gone (another may be made); a second registration
 * while one stands is EBUSY; removing one (mq_notify(NULL)) runs nothing;
 * a bad socket fd in the raw syscall is EBADF, a non-socket ENOTSOCK. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static sem_t ran;
static volatile int got = -1;
static volatile int other_thread = 0;
static pthread_t main_thread;

static void fn(union sigval v)
{
	got = v.sival_int;
	other_thread = !pthread_equal(pthread_self(), main_thread);
	sem_post(&ran);
}

static int wait_ran(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	return sem_timedwait(&ran, &ts) == 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	sem_init(&ran, 0, 0);
	main_thread = pthread_self();
	/* A name of this process's own: natively the queue namespace is the
	 * host's, shared with the other variants of this test running at once. */
	char name[32];
	snprintf(name, sizeof name, "/thread-q-%d", (int)getpid());
	mq_unlink(name);
	struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
	mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &attr);
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = fn };
	ev.sigev_value.sival_int = 42;
	printf("register: %d\n", mq_notify(q, &ev));
	printf("again: %s\n", mq_notify(q, &ev) == 0 ? "ok" : strerrorname_np(errno));
	mq_send(q, "one", 3, 0);
	int r = wait_ran();
	printf("ran: %d, value %d, in another thread %d\n", r, got, other_thread);
	char buf[16];
	mq_receive(q, buf, sizeof buf, NULL);
	/* Gone after it fired: a new one may be made, and removed. */
	ev.sigev_value.sival_int = 43;
	printf("register after it fired: %d\n", mq_notify(q, &ev));
	printf("remove: %d\n", mq_notify(q, NULL));
	got = -1;
	mq_send(q, "two", 3, 0);
	usleep(100000);
	printf("after removal, ran: %d\n", got != -1);
	mq_receive(q, buf, sizeof buf, NULL);
	/* The raw syscall with a bad socket. */
	char cookie[32] = { 0 };
	struct sigevent raw = { .sigev_notify = SIGEV_THREAD, .sigev_signo = 99 };
	raw.sigev_value.sival_ptr = cookie;
	long e = syscall(SYS_mq_notify, q, &raw);
	printf("a bad fd: %s\n", e == 0 ? "ok" : strerrorname_np(errno));
	raw.sigev_signo = 0;
	e = syscall(SYS_mq_notify, q, &raw);
	printf("not a socket: %s\n", e == 0 ? "ok" : strerrorname_np(errno));
	mq_unlink(name);
	return 0;
}
