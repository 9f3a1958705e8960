/* splice, tee, vmsplice and copy_file_range, with fchmodat2, readahead and
 * sync_file_range's argument checks.
 *
 * splice: file to pipe at an offset (the file offset left alone) and from
 * the file offset (moved), pipe to file, pipe to pipe, end of file, an
 * empty pipe with no writers, SPLICE_F_NONBLOCK, waiting for data, EPIPE
 * and SIGPIPE; its errors (no pipe, an offset for a pipe, the same pipe,
 * bad flags, O_APPEND output, access modes). tee: a copy left in the first
 * pipe. vmsplice: into and out of a pipe. copy_file_range: offsets,
 * overlap in one file, non-regular files, O_APPEND, flags. sendfile to a
 * pipe and to a file, at an offset or the file offset.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

static const char *F = "/tmp/splice.a", *G = "/tmp/splice.b";

static void show_pipe(const char *label, int rfd)
{
	char buf[128];
	int fl = fcntl(rfd, F_GETFL);
	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	ssize_t n = read(rfd, buf, sizeof buf);
	fcntl(rfd, F_SETFL, fl);
	if (n < 0)
		printf("%s: (%s)\n", label, errname(errno));
	else
		printf("%s: \"%.*s\"\n", label, (int)n, buf);
}

static void show_file(const char *label, const char *path)
{
	char buf[128] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("%s: \"%.*s\"\n", label, (int)(n > 0 ? n : 0), buf);
}

static void splices(void)
{
	int f = open(F, O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(f, "0123456789", 10);
	lseek(f, 0, SEEK_SET);
	int p[2], q[2];
	pipe(p);
	pipe(q);
	loff_t off = 3;
	ssize_t n = splice(f, &off, p[1], NULL, 4, 0);
	printf("file at 3 to pipe, 4 bytes: %zd, offset now %lld, file offset %lld\n", n, (long long)off,
	       (long long)lseek(f, 0, SEEK_CUR));
	show_pipe("the pipe", p[0]);
	n = splice(f, NULL, p[1], NULL, 5, 0);
	printf("file offset to pipe, 5 bytes: %zd, file offset %lld\n", n, (long long)lseek(f, 0, SEEK_CUR));
	printf("pipe to pipe, 2 bytes: %zd\n", splice(p[0], NULL, q[1], NULL, 2, 0));
	show_pipe("the second pipe", q[0]);
	int g = open(G, O_RDWR | O_CREAT | O_TRUNC, 0644);
	loff_t goff = 2;
	write(g, "ab", 2);
	n = splice(p[0], NULL, g, &goff, 100, 0);
	printf("pipe to file at 2: %zd, offset %lld\n", n, (long long)goff);
	show_file("the file", G);
	off = 10;
	printf("at the end of the file: %zd\n", splice(f, &off, p[1], NULL, 4, 0));
	report("an empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, g, NULL, 4, SPLICE_F_NONBLOCK));
	/* Waiting for data, then an empty pipe without writers. */
	pid_t c = fork();
	if (c == 0) {
		sleep_ms(100);
		write(p[1], "late", 4);
		_exit(0);
	}
	close(p[1]);
	printf("a blocking splice waits for data: %zd\n", splice(p[0], NULL, q[1], NULL, 10, 0));
	waitpid(c, NULL, 0);
	show_pipe("it moved", q[0]);
	printf("no writers left: %zd\n", splice(p[0], NULL, q[1], NULL, 10, 0));
	/* Errors. */
	report("no pipe at all", splice(f, NULL, g, NULL, 1, 0));
	loff_t zero = 0;
	report("an offset for a pipe", splice(q[0], &zero, g, NULL, 1, 0));
	report("one pipe both ways", splice(q[0], NULL, q[1], NULL, 1, 0));
	report("bad flags", splice(f, NULL, q[1], NULL, 1, 0x100));
	int ap = open(G, O_WRONLY | O_APPEND);
	write(q[1], "x", 1);
	report("to an O_APPEND file", splice(q[0], NULL, ap, NULL, 1, 0));
	report("from a write-only fd", splice(ap, NULL, q[1], NULL, 1, 0));
	report("a bad fd", splice(99, NULL, q[1], NULL, 1, 0));
	loff_t neg = -1;
	report("a negative offset", splice(f, &neg, q[1], NULL, 1, 0));
	printf("length 0: %zd\n", splice(f, NULL, q[1], NULL, 0, 0));
	/* No reader: EPIPE and SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	int r[2];
	pipe(r);
	close(r[0]);
	off = 0;
	report("to a pipe without readers", splice(f, &off, r[1], NULL, 1, 0));
	close(r[1]);
	close(ap);
	close(f);
	close(g);
	close(q[0]);
	close(q[1]);
	close(p[0]);
}

static void tees(void)
{
	int p[2], q[2];
	pipe(p);
	pipe(q);
	write(p[1], "duplicate", 9);
	printf("tee 3 bytes: %zd\n", tee(p[0], q[1], 3, 0));
	show_pipe("the copy", q[0]);
	show_pipe("the original, all still there", p[0]);
	report("tee of an empty pipe, SPLICE_F_NONBLOCK", tee(p[0], q[1], 3, SPLICE_F_NONBLOCK));
	report("tee to the same pipe", tee(p[0], p[1], 3, 0));
	int f = open(F, O_RDONLY);
	report("tee from a file", tee(f, q[1], 3, 0));
	close(p[1]);
	printf("tee of an empty pipe without writers: %zd\n", tee(p[0], q[1], 3, 0));
	close(f);
}

static void vmsplices(void)
{
	int p[2];
	pipe(p);
	struct iovec in[2] = { { "vm", 2 }, { "splice", 6 } };
	printf("vmsplice into the pipe: %zd\n", vmsplice(p[1], in, 2, 0));
	char a[3] = "", b[6] = "";
	struct iovec out[2] = { { a, 3 }, { b, 5 } };
	printf("vmsplice out of it: %zd [%.3s|%.5s]\n", vmsplice(p[0], out, 2, 0), a, b);
	report("vmsplice out of an empty pipe, SPLICE_F_NONBLOCK", vmsplice(p[0], out, 1, SPLICE_F_NONBLOCK));
	int f = open(F, O_RDWR);
	report("vmsplice on a file", vmsplice(f, in, 1, 0));
	close(f);
	/* More than the pipe holds: as much as fits, without waiting for the
	 * reader (this very thread); SPLICE_F_NONBLOCK on a full pipe. */
	/* Page-aligned: Linux fills whole pipe slots then. */
	static char big[128 * 1024] __attribute__((aligned(4096)));
	memset(big, 'v', sizeof big);
	struct iovec whole = { big, sizeof big };
	printf("vmsplice of 128 KiB into an empty 64 KiB pipe: %zd\n", vmsplice(p[1], &whole, 1, 0));
	report("vmsplice into the full pipe, SPLICE_F_NONBLOCK", vmsplice(p[1], &whole, 1, SPLICE_F_NONBLOCK));
	close(p[0]);
	close(p[1]);
}

static void copies(void)
{
	int f = open(F, O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(f, "abcdefghij", 10);
	int g = open(G, O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(g, "-", 1);
	loff_t fo = 2, go = 1;
	ssize_t n = copy_file_range(f, &fo, g, &go, 5, 0);
	printf("copy_file_range 5 at 2 to 1: %zd, offsets %lld %lld\n", n, (long long)fo, (long long)go);
	show_file("the copy", G);
	lseek(f, 8, SEEK_SET);
	n = copy_file_range(f, NULL, g, NULL, 10, 0);
	printf("from the file offset, past the end: %zd, offsets %lld %lld\n", n, (long long)lseek(f, 0, SEEK_CUR),
	       (long long)lseek(g, 0, SEEK_CUR));
	show_file("now", G);
	fo = 0;
	go = 3;
	report("overlapping ranges of one file", copy_file_range(f, &fo, f, &go, 5, 0));
	go = 20;
	printf("one file, apart: %zd\n", copy_file_range(f, &fo, f, &go, 5, 0));
	report("flags 1", copy_file_range(f, NULL, g, NULL, 1, 1));
	int p[2];
	pipe(p);
	report("to a pipe", copy_file_range(f, NULL, p[1], NULL, 1, 0));
	int ap = open(G, O_WRONLY | O_APPEND);
	report("to an O_APPEND file", copy_file_range(f, NULL, ap, NULL, 1, 0));
	int d = open("/tmp", O_RDONLY | O_DIRECTORY);
	report("from a directory", copy_file_range(d, NULL, g, NULL, 1, 0));
	int ro = open(G, O_RDONLY);
	report("to a read-only fd", copy_file_range(f, NULL, ro, NULL, 1, 0));
	close(ro);
	close(d);
	close(ap);
	close(p[0]);
	close(p[1]);
	close(f);
	close(g);
}

static void sendfiles(void)
{
	int f = open(F, O_RDWR | O_CREAT | O_TRUNC, 0644);
	write(f, "sendfile data", 13);
	lseek(f, 0, SEEK_SET);
	int p[2];
	pipe(p);
	off_t off = 4;
	ssize_t n = sendfile(p[1], f, &off, 4);
	printf("sendfile at 4 to a pipe: %zd, offset %lld, file offset %lld\n", n, (long long)off,
	       (long long)lseek(f, 0, SEEK_CUR));
	show_pipe("the pipe", p[0]);
	int g = open(G, O_RDWR | O_CREAT | O_TRUNC, 0644);
	n = sendfile(g, f, NULL, 8);
	printf("sendfile to a file from the file offset: %zd, offsets %lld %lld\n", n,
	       (long long)lseek(f, 0, SEEK_CUR), (long long)lseek(g, 0, SEEK_CUR));
	show_file("the file", G);
	off = 11;
	printf("sendfile past the end: %zd\n", sendfile(g, f, &off, 10));
	write(p[1], "x", 1);
	report("sendfile from a pipe", sendfile(g, p[0], NULL, 1));
	close(f);
	close(g);
	close(p[0]);
	close(p[1]);
}

static void misc(void)
{
	int f = open(F, O_RDWR);
	report("readahead", readahead(f, 0, 4096));
	report("readahead, negative offset", readahead(f, -1, 10));
	int p[2];
	pipe(p);
	report("readahead of a pipe", readahead(p[0], 0, 10));
	report("sync_file_range", sync_file_range(f, 0, 0, SYNC_FILE_RANGE_WRITE));
	report("sync_file_range bad flags", sync_file_range(f, 0, 0, 8));
	report("sync_file_range negative", sync_file_range(f, -1, 0, 0));
	report("sync_file_range of a pipe", sync_file_range(p[0], 0, 0, 0));
	report("fchmodat2", syscall(452, AT_FDCWD, F, 0600, 0));
	struct stat st;
	stat(F, &st);
	printf("mode now %o\n", st.st_mode & 07777);
	symlink(F, "/tmp/splice.link");
	report("fchmodat2 AT_SYMLINK_NOFOLLOW on a symlink", syscall(452, AT_FDCWD, "/tmp/splice.link", 0600,
								     AT_SYMLINK_NOFOLLOW));
	report("fchmodat2 AT_SYMLINK_NOFOLLOW on a file", syscall(452, AT_FDCWD, F, 0640, AT_SYMLINK_NOFOLLOW));
	report("fchmodat2 AT_EMPTY_PATH", syscall(452, f, "", 0644, AT_EMPTY_PATH));
	fstat(f, &st);
	printf("mode now %o\n", st.st_mode & 07777);
	report("fchmodat2 bad flags", syscall(452, AT_FDCWD, F, 0600, 1));
	unlink("/tmp/splice.link");
	close(f);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	splices();
	tees();
	vmsplices();
	copies();
	sendfiles();
	misc();
	unlink(F);
	unlink(G);
	printf("done\n");
	return 0;
}
