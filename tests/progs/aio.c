/* Linux AIO through the raw syscalls: io_setup's ring (its header, events
 * reaped from user space), reads and writes (vectored too), fsync,
 * completions' results (-EFAULT, -EAGAIN with RWF_NOWAIT, -EPIPE), the
 * eventfd of IOCB_FLAG_RESFD, a full ring (EAGAIN), poll requests (at
 * once, later, cancelled), io_getevents's
 * waits, io_pgetevents's mask, io_cancel, io_destroy (the ring goes), a
 * fork child, /proc/sys/fs/aio-max-nr and aio-nr, and the errors in
 * Linux's order. */
#include "common.h"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/uio.h>

static long io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, nr, iocbs);
}

static long io_getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *to)
{
	return syscall(SYS_io_getevents, ctx, min, nr, ev, to);
}

static void result(const char *label, long r)
{
	if (r < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %ld\n", label, r);
}

static struct iocb prep(int fd, int op, void *buf, size_t len, long long off)
{
	struct iocb cb;
	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_lio_opcode = op;
	cb.aio_buf = (uintptr_t)buf;
	cb.aio_nbytes = len;
	cb.aio_offset = off;
	return cb;
}

/* Submits one request and prints io_submit's answer. */
static long submit1(const char *label, aio_context_t ctx, struct iocb *cb)
{
	struct iocb *list[1] = { cb };
	long r = io_submit(ctx, 1, list);
	result(label, r);
	return r;
}

/* Reaps one event and prints its result, as an errno name if negative. */
static void reap1(const char *label, aio_context_t ctx, struct iocb *cb)
{
	struct io_event ev;
	struct timespec to = { 1, 0 };
	long n = io_getevents(ctx, 1, 1, &ev, &to);
	if (n != 1) {
		printf("%s: no event (%ld)\n", label, n);
		return;
	}
	if (ev.res < 0)
		printf("%s: event res -%s, obj %s, data %llu\n", label, errname(-ev.res),
		       ev.obj == (uintptr_t)cb ? "the iocb" : "bad", (unsigned long long)ev.data);
	else
		printf("%s: event res %lld, obj %s, data %llu\n", label, (long long)ev.res,
		       ev.obj == (uintptr_t)cb ? "the iocb" : "bad", (unsigned long long)ev.data);
}

static long aio_nr(void)
{
	FILE *f = fopen("/proc/sys/fs/aio-nr", "r");
	long v = -1;
	if (f) {
		fscanf(f, "%ld", &v);
		fclose(f);
	}
	return v;
}

struct ring {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
	struct io_event events[];
};

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	aio_context_t ctx = 0;

	/* io_setup. */
	result("io_setup(1, NULL)", io_setup(1, NULL));
	ctx = 1;
	result("io_setup with *ctxp not 0", io_setup(1, &ctx));
	ctx = 0;
	result("io_setup(0)", io_setup(0, &ctx));
	result("io_setup(-1)", io_setup(-1, &ctx));
	FILE *f = fopen("/proc/sys/fs/aio-max-nr", "r");
	long max = 0;
	if (f) {
		fscanf(f, "%ld", &max);
		fclose(f);
	}
	printf("aio-max-nr: %ld\n", max);
	result("io_setup(aio-max-nr + 1)", io_setup(max + 1, &ctx));
	result("io_setup(10)", io_setup(10, &ctx));
	/* aio-nr is the host's natively: other processes change it too. */
	CHECK("aio-nr counts the 10", aio_nr() >= 10);
	struct ring *ring = (struct ring *)ctx;
	CHECK("the context is a page-aligned ring", ctx % 4096 == 0);
	printf("ring: id %u head %u tail %u magic %#x compat %u incompat %u header %u\n", ring->id, ring->head,
	       ring->tail, ring->magic, ring->compat_features, ring->incompat_features, ring->header_length);
	CHECK("ring->nr holds at least the 10 asked for", ring->nr >= 10);

	/* Writes and reads, done at submit. */
	int fd = open("/tmp/aio-file", O_CREAT | O_RDWR | O_TRUNC, 0644);
	char wbuf[16] = "hello, aio world";
	struct iocb w = prep(fd, IOCB_CMD_PWRITE, wbuf, 16, 100);
	w.aio_data = 7;
	w.aio_key = 0xdead;
	submit1("pwrite 16 at 100", ctx, &w);
	printf("aio_key after: %#x\n", w.aio_key);
	reap1("pwrite", ctx, &w);
	char rbuf[8] = { 0 };
	char rbuf2[8] = { 0 };
	struct iovec iov[2] = { { rbuf, 5 }, { rbuf2, 3 } };
	struct iocb rv = prep(fd, IOCB_CMD_PREADV, iov, 2, 107);
	submit1("preadv of 5 + 3 at 107", ctx, &rv);
	reap1("preadv", ctx, &rv);
	printf("read: %s|%s, the file offset stays %ld\n", rbuf, rbuf2, (long)lseek(fd, 0, SEEK_CUR));
	struct iocb past = prep(fd, IOCB_CMD_PREAD, rbuf, 8, 1000);
	submit1("pread past the end", ctx, &past);
	reap1("pread past the end", ctx, &past);

	/* Two at once, reaped from the ring by hand. */
	struct iocb a1 = prep(fd, IOCB_CMD_PREAD, rbuf, 4, 100), a2 = prep(fd, IOCB_CMD_PREAD, rbuf2, 2, 110);
	a1.aio_data = 1;
	a2.aio_data = 2;
	struct iocb *two[2] = { &a1, &a2 };
	result("io_submit of two preads", io_submit(ctx, 2, two));
	unsigned head = ring->head, tail = ring->tail;
	printf("ring: %u events between head and tail\n", (tail + ring->nr - head) % ring->nr);
	for (unsigned i = head; i != tail; i = (i + 1) % ring->nr)
		printf("ring event: data %llu res %lld\n", (unsigned long long)ring->events[i].data,
		       (long long)ring->events[i].res);
	ring->head = tail;
	struct timespec zero = { 0, 0 };
	struct io_event evs[4];
	result("io_getevents after reaping by hand", io_getevents(ctx, 0, 4, evs, &zero));

	/* fsync and fdatasync (Linux completes them from a work queue). */
	struct iocb sync = prep(fd, IOCB_CMD_FSYNC, NULL, 0, 0);
	submit1("fsync", ctx, &sync);
	reap1("fsync", ctx, &sync);
	sync.aio_lio_opcode = IOCB_CMD_FDSYNC;
	submit1("fdatasync", ctx, &sync);
	reap1("fdatasync", ctx, &sync);

	/* Results that are the I/O's own errors. */
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iocb fault = prep(fd, IOCB_CMD_PREAD, none, 8, 100);
	submit1("pread into a PROT_NONE buffer", ctx, &fault);
	reap1("pread into a PROT_NONE buffer", ctx, &fault);
	int p[2];
	pipe(p);
	struct iocb nowait = prep(p[0], IOCB_CMD_PREAD, rbuf, 8, 0);
	nowait.aio_rw_flags = RWF_NOWAIT;
	submit1("RWF_NOWAIT read of an empty pipe", ctx, &nowait);
	reap1("RWF_NOWAIT read of an empty pipe", ctx, &nowait);
	/* The same flag through preadv2, which shares the path. */
	struct iovec one = { rbuf, 8 };
	result("preadv2(RWF_NOWAIT) of an empty pipe", preadv2(p[0], &one, 1, -1, RWF_NOWAIT));
	write(p[1], "pipe!", 5);
	struct iocb piperd = prep(p[0], IOCB_CMD_PREAD, rbuf, 8, 12345);
	submit1("read of a pipe (the offset is not used)", ctx, &piperd);
	reap1("read of a pipe", ctx, &piperd);
	close(p[0]);
	struct iocb epipe = prep(p[1], IOCB_CMD_PWRITE, wbuf, 4, 0);
	submit1("write to a pipe without reader", ctx, &epipe);
	reap1("write to a pipe without reader", ctx, &epipe);
	close(p[1]);

	/* IOCB_FLAG_RESFD. */
	int efd = eventfd(0, EFD_NONBLOCK);
	struct iocb withfd = prep(fd, IOCB_CMD_PREAD, rbuf, 4, 100);
	withfd.aio_flags = IOCB_FLAG_RESFD;
	withfd.aio_resfd = efd;
	submit1("pread with IOCB_FLAG_RESFD", ctx, &withfd);
	submit1("again", ctx, &withfd);
	uint64_t count = 0;
	read(efd, &count, 8);
	printf("the eventfd counted %llu\n", (unsigned long long)count);
	result("io_getevents of both", io_getevents(ctx, 2, 4, evs, &zero));
	withfd.aio_resfd = fd;
	submit1("IOCB_FLAG_RESFD with a file that is no eventfd", ctx, &withfd);
	withfd.aio_resfd = 99;
	submit1("IOCB_FLAG_RESFD with a closed fd", ctx, &withfd);

	/* io_submit's errors. */
	struct iocb ok = prep(fd, IOCB_CMD_PREAD, rbuf, 4, 0);
	struct iocb *okl[1] = { &ok };
	result("io_submit nr -1", io_submit(ctx, -1, okl));
	result("io_submit, a bad context", io_submit(ctx + 4096, 1, okl));
	result("io_submit, context 0", io_submit(0, 1, okl));
	result("io_submit nr 0, NULL list", io_submit(ctx, 0, NULL));
	result("io_submit, a bad list", io_submit(ctx, 1, (void *)8));
	struct iocb *nulls[1] = { NULL };
	result("io_submit, a NULL iocb", io_submit(ctx, 1, nulls));
	struct iocb bad = prep(99, IOCB_CMD_PREAD, rbuf, 4, 0);
	submit1("a closed fd", ctx, &bad);
	int rdonly = open("/tmp/aio-file", O_RDONLY);
	bad = prep(rdonly, IOCB_CMD_PWRITE, wbuf, 4, 0);
	submit1("a write on a read-only fd", ctx, &bad);
	int opath = open("/tmp/aio-file", O_PATH);
	bad = prep(opath, IOCB_CMD_PREAD, rbuf, 4, 0);
	submit1("an O_PATH fd", ctx, &bad);
	bad = prep(fd, 6, rbuf, 4, 0);
	submit1("opcode 6 (NOOP)", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREAD, rbuf, 4, 0);
	bad.aio_reserved2 = 1;
	submit1("aio_reserved2 set", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREAD, rbuf, (size_t)-1, 0);
	submit1("a length of -1", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREAD, rbuf, 4, -1);
	submit1("an offset of -1", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREAD, (void *)-4096L, 4, 0);
	submit1("a buffer past user space", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREAD, rbuf, 4, 0);
	bad.aio_rw_flags = 0x1000;
	submit1("an unknown RWF flag", ctx, &bad);
	bad = prep(fd, IOCB_CMD_FSYNC, rbuf, 0, 0);
	submit1("fsync with a buffer", ctx, &bad);
	pipe(p);
	bad = prep(p[0], IOCB_CMD_FDSYNC, NULL, 0, 0);
	submit1("fdsync of a pipe", ctx, &bad);
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	bad = prep(dir, IOCB_CMD_PREAD, rbuf, 4, 0);
	submit1("a read of a directory", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREADV, (void *)8, 1, 0);
	submit1("preadv with iovecs at a bad address", ctx, &bad);
	bad = prep(fd, IOCB_CMD_PREADV, iov, 1025, 0);
	submit1("preadv with 1025 iovecs", ctx, &bad);
	struct iocb *mixed[2] = { &ok, NULL };
	result("io_submit, the second iocb NULL", io_submit(ctx, 2, mixed));
	result("io_getevents of it", io_getevents(ctx, 1, 4, evs, &zero));

	/* A full ring. */
	long n = 0;
	struct iocb fill = prep(fd, IOCB_CMD_PREAD, rbuf, 1, 0);
	while (n < 100000) {
		struct iocb *l[1] = { &fill };
		if (io_submit(ctx, 1, l) != 1)
			break;
		n++;
	}
	printf("a full ring: %s after at least 10 requests: %s\n", errname(errno), n >= 10 ? "ok" : "bad");
	long got = 0;
	struct io_event many[64];
	for (long r; (r = io_getevents(ctx, 0, 64, many, &zero)) > 0;)
		got += r;
	CHECK("every request of the full ring reaped", got == n);

	/* io_getevents. */
	result("io_getevents min_nr > nr", io_getevents(ctx, 2, 1, evs, &zero));
	result("io_getevents min_nr -1", io_getevents(ctx, -1, 1, evs, &zero));
	result("io_getevents, a bad context", io_getevents(ctx + 4096, 0, 1, evs, &zero));
	result("io_getevents, a bad timeout", io_getevents(ctx, 1, 1, evs, (void *)8));
	struct timespec ms50 = { 0, 50000000 };
	result("io_getevents waiting 50 ms for nothing", io_getevents(ctx, 1, 1, evs, &ms50));
	submit1("pread", ctx, &ok);
	result("io_getevents into NULL", io_getevents(ctx, 1, 1, NULL, &zero));
	result("io_getevents after (the event stayed)", io_getevents(ctx, 1, 1, evs, &zero));
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	struct timespec s5 = { 5, 0 };
	result("io_getevents, a SIGALRM (SA_RESTART) handler runs", io_getevents(ctx, 1, 1, evs, &s5));
	struct { const sigset_t *mask; size_t size; } usig;
	sigset_t set;
	sigemptyset(&set);
	usig.mask = &set;
	usig.size = 4;
	result("io_pgetevents, a mask size of 4", syscall(SYS_io_pgetevents, ctx, 0, 1, evs, &zero, &usig));
	result("io_pgetevents, the mask at a bad address", syscall(SYS_io_pgetevents, ctx, 0, 1, evs, &zero, (void *)8));
	usig.size = 8;
	sigaddset(&set, SIGALRM);
	setitimer(ITIMER_REAL, &it, NULL);
	struct timespec ms300 = { 0, 300000000 };
	result("io_pgetevents with SIGALRM blocked, 300 ms", syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &ms300, &usig));
	sigset_t pending;
	sigpending(&pending);
	printf("SIGALRM pending after: %d\n", sigismember(&pending, SIGALRM));
	sigemptyset(&set);
	setitimer(ITIMER_REAL, &it, NULL);
	result("io_pgetevents, SIGALRM comes", syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &s5, &usig));

	/* IOCB_CMD_POLL: at once if the file is ready, else when it is. */
	int pp[2];
	pipe(pp);
	write(pp[1], "x", 1);
	struct iocb pl = prep(pp[0], IOCB_CMD_POLL, (void *)(uintptr_t)POLLIN, 0, 0);
	submit1("poll of a pipe with data", ctx, &pl);
	reap1("poll of a pipe with data", ctx, &pl);
	read(pp[0], rbuf, 1);
	pl.aio_flags = IOCB_FLAG_RESFD;
	pl.aio_resfd = efd;
	submit1("poll of an empty pipe", ctx, &pl);
	result("io_getevents at once", io_getevents(ctx, 0, 1, evs, &zero));
	pid_t writer = fork();
	if (writer == 0) {
		sleep_ms(100);
		write(pp[1], "y", 1);
		_exit(0);
	}
	reap1("poll of the pipe, written 100 ms later", ctx, &pl);
	waitpid(writer, NULL, 0);
	count = 0;
	read(efd, &count, 8);
	printf("its eventfd counted %llu\n", (unsigned long long)count);
	read(pp[0], rbuf, 1);
	pl.aio_flags = 0;
	submit1("poll of the empty pipe again", ctx, &pl);
	result("io_cancel of it", syscall(SYS_io_cancel, ctx, &pl, evs));
	reap1("the cancelled poll", ctx, &pl);
	result("io_cancel of it again", syscall(SYS_io_cancel, ctx, &pl, evs));
	struct iocb pout = prep(pp[1], IOCB_CMD_POLL, (void *)(uintptr_t)(POLLOUT | POLLIN), 0, 0);
	submit1("poll for POLLOUT | POLLIN of a pipe's write end", ctx, &pout);
	reap1("poll of a pipe's write end", ctx, &pout);
	close(pp[1]);
	submit1("poll of a pipe whose writer is gone", ctx, &pl);
	reap1("poll of a pipe whose writer is gone", ctx, &pl);
	bad = prep(pp[0], IOCB_CMD_POLL, (void *)0x10000, 0, 0);
	submit1("poll for events past 16 bits", ctx, &bad);
	bad = prep(pp[0], IOCB_CMD_POLL, (void *)(uintptr_t)POLLIN, 1, 0);
	submit1("poll with a length", ctx, &bad);
	close(pp[0]);

	/* io_cancel. */
	struct io_event cres;
	result("io_cancel of a NULL iocb", syscall(SYS_io_cancel, ctx, NULL, &cres));
	ok.aio_key = 5;
	result("io_cancel, a key not the kernel's", syscall(SYS_io_cancel, ctx, &ok, &cres));
	ok.aio_key = 0;
	result("io_cancel, a bad context", syscall(SYS_io_cancel, ctx + 4096, &ok, &cres));
	result("io_cancel of a completed request", syscall(SYS_io_cancel, ctx, &ok, &cres));

	/* A fork child has the ring mapped, but no context. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		unsigned char vec;
		result("the child: mincore of the ring", mincore((void *)ctx, 4096, &vec));
		result("the child: io_submit", io_submit(ctx, 1, okl));
		aio_context_t c2 = 0;
		result("the child: io_setup", io_setup(1, &c2));
		result("the child: io_destroy", io_destroy(c2));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);

	/* io_destroy. */
	result("io_destroy", io_destroy(ctx));
	unsigned char vec;
	result("mincore of the ring after", mincore((void *)ctx, 4096, &vec));
	result("io_destroy again", io_destroy(ctx));
	result("io_destroy(0)", io_destroy(0));
	result("io_getevents on it", io_getevents(ctx, 0, 1, evs, &zero));
	return 0;
}
