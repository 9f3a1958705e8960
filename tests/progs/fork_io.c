/* I/O in flight across a fork from another thread: a read or write that
 * one thread has waiting in the kernel while another thread forks, then
 * writes to the page that holds the buffer.
 *
 * Linux copies to and from the app's buffer when the data moves, through
 * the page tables as they are then, so:
 *   - a read that waited across the fork lands in the parent's own copy of
 *     the page, and the child's copy keeps what it held at the fork;
 *   - a write that waited takes the buffer as it is when it resumes;
 *   - a buffer unmapped while its read waited gives EFAULT, and the data
 *     stays in the pipe.
 * This is CPython's test_thread.test_forkinthread narrowed down: there the
 * main thread waits in os.read() for the child of a fork made by another
 * thread, and the bytes buffer shares its page with live objects.
 *
 * With the argument "stress": writer threads keep writing shared and fresh
 * pages, reader threads keep reading records into buffers on the shared
 * pages, and the main thread forks again and again; each child checks that
 * its memory stays as it was at the fork, and the readers check every
 * record they got. */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Loops a read or write until `len` bytes moved; -1 on an error. */
static long full_io(int fd, void *buf, size_t len, int writing)
{
	size_t done = 0;
	while (done < len) {
		long n = writing ? write(fd, (char *)buf + done, len - done) : read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			return -1;
		done += n;
	}
	return done;
}

/* A page whose first bytes are a read buffer, and whose middle the
 * forking thread writes after the fork (the parent's copy-on-write). */
static char rpage[4096] __attribute__((aligned(4096)));
static int data_pipe[2], go_pipe[2], done_pipe[2];

static void *fork_then_touch(void *arg)
{
	(void)arg;
	sleep_ms(100); /* the main thread is waiting in read() by then */
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(go_pipe[0], &c, 1); /* the parent has written the page */
		write(data_pipe[1], "OK", 2);
		read(done_pipe[0], &c, 1); /* the parent's read returned */
		_exit(rpage[0] == 0 && rpage[1] == 0 ? 0 : 1);
	}
	rpage[2048] = 1;
	write(go_pipe[1], "g", 1);
	return (void *)(intptr_t)pid;
}

static void blocked_read(void)
{
	pipe(data_pipe);
	pipe(go_pipe);
	pipe(done_pipe);
	pthread_t th;
	pthread_create(&th, NULL, fork_then_touch, NULL);
	long n = read(data_pipe[0], rpage, 2);
	CHECK("a read waiting across another thread's fork gets the bytes", n == 2 && memcmp(rpage, "OK", 2) == 0);
	write(done_pipe[1], "d", 1);
	void *ret;
	pthread_join(th, &ret);
	int st;
	waitpid((pid_t)(intptr_t)ret, &st, 0);
	CHECK("the child's copy of the buffer stays as at the fork", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("child: %s\n", status_str(st));
}

/* A page that is all write buffer. */
static char wpage[4096] __attribute__((aligned(4096)));
static int wpipe[2], hold_pipe[2];
static int pipe_size;
static int write_took_new_bytes;

static void *fork_change_drain(void *arg)
{
	(void)arg;
	sleep_ms(100); /* the main thread is waiting in write() by then */
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(hold_pipe[0], &c, 1);
		_exit(0);
	}
	memset(wpage, 'B', sizeof wpage);
	char *junk = malloc(pipe_size);
	long drained = full_io(wpipe[0], junk, pipe_size, 0);
	char got[sizeof wpage];
	long n = full_io(wpipe[0], got, sizeof got, 0);
	int all_b = n == (long)sizeof got;
	for (size_t i = 0; all_b && i < sizeof got; i++)
		all_b = got[i] == 'B';
	write_took_new_bytes = drained == pipe_size && all_b;
	free(junk);
	write(hold_pipe[1], "h", 1);
	int st;
	waitpid(pid, &st, 0);
	return NULL;
}

static void blocked_write(void)
{
	pipe(wpipe);
	pipe(hold_pipe);
	pipe_size = fcntl(wpipe[1], F_GETPIPE_SZ);
	char *fill = malloc(pipe_size);
	memset(fill, 'f', pipe_size);
	full_io(wpipe[1], fill, pipe_size, 1);
	free(fill);
	memset(wpage, 'A', sizeof wpage);
	pthread_t th;
	pthread_create(&th, NULL, fork_change_drain, NULL);
	long n = write(wpipe[1], wpage, sizeof wpage);
	pthread_join(th, NULL);
	printf("the waiting write: %ld\n", n);
	CHECK("a write waiting across another thread's fork takes the buffer as it is when it resumes",
	      write_took_new_bytes);
}

static char *unmap_buf;
static int upipe[2];

static void *unmap_then_write(void *arg)
{
	(void)arg;
	sleep_ms(100); /* the main thread is waiting in read() by then */
	munmap(unmap_buf, 4096);
	write(upipe[1], "OK", 2);
	return NULL;
}

static void blocked_read_unmapped(void)
{
	pipe(upipe);
	unmap_buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th;
	pthread_create(&th, NULL, unmap_then_write, NULL);
	report("a read whose buffer was unmapped while it waited", read(upipe[0], unmap_buf, 2));
	pthread_join(th, NULL);
	char again[2] = { 0 };
	fcntl(upipe[0], F_SETFL, O_NONBLOCK); /* a lost message must not hang the test */
	long n = read(upipe[0], again, 2);
	CHECK("the data stayed in the pipe", n == 2 && memcmp(again, "OK", 2) == 0);
}

/* The stress variant. */
#define WRITERS 3
#define READERS 3
#define SHARED_PAGES 4
#define FORKS 60
#define WORDS_PER_WRITER 8

struct record {
	uint64_t seq, check;
};

/* Every writer writes words of every shared page; reader r's buffer is on
 * shared page r % SHARED_PAGES, past the writers' words. */
static volatile uint64_t shared[SHARED_PAGES][512] __attribute__((aligned(4096)));
static volatile int stop_stress;
static int rec_pipes[READERS][2];
static volatile long reader_errors;
static volatile long records_read[READERS];

static struct record *reader_buf(int r)
{
	return (struct record *)&shared[r % SHARED_PAGES][256 + 4 * (r / SHARED_PAGES)];
}

static void *writer(void *arg)
{
	int w = (int)(intptr_t)arg;
	uint64_t n = 0;
	volatile uint64_t *fresh = NULL;
	while (!stop_stress) {
		n++;
		for (int p = 0; p < SHARED_PAGES; p++)
			for (int i = 0; i < WORDS_PER_WRITER; i++)
				shared[p][w * WORDS_PER_WRITER + i] = n;
		/* Now and then a fresh page of its own, written at once. */
		if (n % 4096 == 0) {
			if (fresh)
				munmap((void *)fresh, 4096);
			fresh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			for (int i = 0; i < 512; i++)
				fresh[i] = n;
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	int r = (int)(intptr_t)arg;
	uint64_t expect = 1;
	for (;;) {
		struct record *b = reader_buf(r);
		long n = read(rec_pipes[r][0], b, sizeof *b);
		if (n == 0)
			break;
		if (n != sizeof *b || b->seq != expect || b->check != ~expect)
			reader_errors++;
		expect++;
		records_read[r]++;
	}
	return NULL;
}

static void *feeder(void *arg)
{
	(void)arg;
	uint64_t seq = 1;
	while (!stop_stress) {
		for (int r = 0; r < READERS; r++) {
			struct record rec = { seq, ~seq };
			write(rec_pipes[r][1], &rec, sizeof rec);
		}
		seq++;
		/* Short pauses: the readers wait in read() most of the time. */
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	for (int r = 0; r < READERS; r++)
		close(rec_pipes[r][1]);
	return NULL;
}

static uint64_t snapshot[SHARED_PAGES][512];

static void stress(void)
{
	pthread_t w[WRITERS], rd[READERS], fd;
	for (int r = 0; r < READERS; r++)
		pipe(rec_pipes[r]);
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
	for (int r = 0; r < READERS; r++)
		pthread_create(&rd[r], NULL, reader, (void *)(intptr_t)r);
	pthread_create(&fd, NULL, feeder, NULL);
	int changed = 0, failed = 0;
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			memcpy(snapshot, (void *)shared, sizeof snapshot);
			sleep_ms(5);
			_exit(memcmp(snapshot, (void *)shared, sizeof snapshot) == 0 ? 0 : 1);
		}
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st))
			failed++;
		else if (WEXITSTATUS(st) != 0)
			changed++;
		sleep_ms(2);
	}
	stop_stress = 1;
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(fd, NULL);
	long total = 0;
	for (int r = 0; r < READERS; r++) {
		pthread_join(rd[r], NULL);
		total += records_read[r];
	}
	CHECK("children's memory stayed as at the fork", changed == 0 && failed == 0);
	if (changed || failed)
		printf("  (%d of %d children saw their memory change, %d died)\n", changed, FORKS, failed);
	CHECK("readers got every record intact and in order", reader_errors == 0 && total > 0);
	if (reader_errors)
		printf("  (%ld of %ld records were wrong)\n", (long)reader_errors, total);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "stress") == 0) {
		stress();
	} else {
		blocked_read();
		blocked_write();
		blocked_read_unmapped();
	}
	printf("done\n");
	return 0;
}
