/* A Linux AIO context across a checkpoint: a write to a tmpfs file whose
 * completion waits in the ring, unreaped, and a poll of an empty pipe in
 * flight, its completion to be told through an eventfd (IOCB_FLAG_RESFD).
 * The program says "ready" and waits for SIGUSR1 (a checkpoint and a
 * restore come in between). Then the ring's header is as it was, the
 * write's event is reaped, the pipe is written and the poll completes,
 * its eventfd counts one, and io_destroy ends the context. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_wait.h"

struct ring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
};

static long getevents(aio_context_t ctx, long min, long max, struct io_event *ev)
{
	struct timespec ts = { 5, 0 };
	return syscall(SYS_io_getevents, ctx, min, max, ev, &ts);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	aio_context_t ctx = 0;
	int p[2];
	int efd = eventfd(0, 0);
	unlink("/tmp/ckpt-aio");
	int file = open("/tmp/ckpt-aio", O_CREAT | O_RDWR, 0600);
	if (syscall(SYS_io_setup, 8, &ctx) != 0 || pipe(p) != 0 || efd < 0 || file < 0) {
		perror("set-up");
		return 2;
	}
	static char data[] = "written by AIO";
	struct iocb wr = { .aio_data = 1, .aio_lio_opcode = IOCB_CMD_PWRITE, .aio_fildes = file,
			   .aio_buf = (uintptr_t)data, .aio_nbytes = 14, .aio_offset = 0 };
	struct iocb po = { .aio_data = 2, .aio_lio_opcode = IOCB_CMD_POLL, .aio_fildes = p[0],
			   .aio_buf = POLLIN, .aio_flags = IOCB_FLAG_RESFD, .aio_resfd = efd };
	struct iocb *list[] = { &wr, &po };
	if (syscall(SYS_io_submit, ctx, 2, list) != 2) {
		perror("io_submit");
		return 2;
	}
	struct ring *r = (struct ring *)ctx;
	unsigned nr = r->nr;
	printf("ready\n");
	ckpt_wait_usr1();

	printf("the ring: same size %s, magic %#x, %u unreaped\n", r->nr == nr ? "yes" : "no", r->magic,
	       (r->tail + r->nr - r->head) % r->nr);
	struct io_event ev[2];
	long n = getevents(ctx, 1, 2, ev);
	printf("reaped %ld: data %llu, result %lld\n", n, (unsigned long long)ev[0].data, (long long)ev[0].res);
	if (write(p[1], "x", 1) != 1)
		return 2;
	n = getevents(ctx, 1, 2, ev);
	printf("then %ld: data %llu, POLLIN %s\n", n, (unsigned long long)ev[0].data, ev[0].res & POLLIN ? "yes" : "no");
	uint64_t count = 0;
	if (read(efd, &count, sizeof(count)) != sizeof(count))
		return 2;
	printf("the eventfd counts %llu\n", (unsigned long long)count);
	char back[32] = { 0 };
	pread(file, back, sizeof(back) - 1, 0);
	printf("the file: %s\n", back);
	printf("io_destroy: %ld\n", syscall(SYS_io_destroy, ctx));
	unlink("/tmp/ckpt-aio");
	return 0;
}
