/* Advisory locks across a checkpoint. The parent takes, on a tmpfs file:
 * an exclusive flock, a process write lock from byte 50 to the end, and
 * through a second open file an OFD write lock on bytes 10-19; and on a
 * root file opened read-only, a process read lock on bytes 2-5. It says
 * "ready" and waits for SIGUSR1 (a checkpoint and a restore come in
 * between). Then children, which share none of the locks, see each lock
 * as it was (F_GETLK, flock LOCK_NB), and see each go as the parent lets
 * go of it: LOCK_UN, the close of the OFD lock's file (which also ends
 * the process's locks on that file, as any close of it does), the close
 * of the root file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static const char *errname(int e)
{
	switch (e) {
	case EWOULDBLOCK:
		return "EWOULDBLOCK";
	case EACCES:
		return "EACCES";
	case EBADF:
		return "EBADF";
	default:
		return "other";
	}
}

static const char *type_name(short t)
{
	return t == F_RDLCK ? "read" : t == F_WRLCK ? "write" : t == F_UNLCK ? "none" : "?";
}

/* What F_GETLK (or F_OFD_GETLK) says of a write lock on [start, start+len)
 * of `path`, from a fresh open file. (Only F_SETLK needs the file open for
 * writing: the root, read-only, is asked the same.) */
static void probe(const char *label, const char *path, int flags, int cmd, off_t start, off_t len)
{
	int fd = open(path, flags);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	if (fd < 0 || fcntl(fd, cmd, &fl) != 0) {
		printf("%s: failed: %s\n", label, strerror(errno));
		return;
	}
	printf("%s: %s", label, type_name(fl.l_type));
	if (fl.l_type != F_UNLCK)
		printf(" at %lld len %lld, %s", (long long)fl.l_start, (long long)fl.l_len,
		       fl.l_pid == -1 ? "an open file's" : fl.l_pid == getppid() ? "the parent's" : "someone else's");
	printf("\n");
	close(fd);
}

static void flock_probe(const char *label)
{
	int fd = open("/tmp/locked", O_RDWR);
	int r = flock(fd, LOCK_EX | LOCK_NB);
	printf("%s: %s\n", label, r == 0 ? "taken" : errname(errno));
	close(fd);
}

/* Runs `check` in a child and waits for it. */
static void in_child(void (*check)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		check();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void all_held(void)
{
	flock_probe("flock from elsewhere");
	probe("tmp bytes 10-11", "/tmp/locked", O_RDWR, F_GETLK, 10, 2);
	probe("tmp byte 60", "/tmp/locked", O_RDWR, F_GETLK, 60, 1);
	probe("tmp byte 30", "/tmp/locked", O_RDWR, F_GETLK, 30, 1);
	probe("tmp byte 12 by OFD", "/tmp/locked", O_RDWR, F_OFD_GETLK, 12, 1);
	probe("root bytes 0-9", "/data.txt", O_RDONLY, F_GETLK, 0, 10);
	/* A read lock shares with the parent's. */
	int fd = open("/data.txt", O_RDONLY);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	printf("root bytes 0-9 read-locked here too: %s\n", fcntl(fd, F_SETLK, &fl) == 0 ? "yes" : errname(errno));
	close(fd);
}

static void after_unlock(void)
{
	flock_probe("flock after LOCK_UN");
	probe("tmp bytes 10-11 still", "/tmp/locked", O_RDWR, F_GETLK, 10, 2);
}

static void after_ofd_close(void)
{
	probe("tmp bytes 10-11 after the OFD's close", "/tmp/locked", O_RDWR, F_GETLK, 10, 2);
	probe("tmp byte 60 then (any close of the file ends them)", "/tmp/locked", O_RDWR, F_GETLK, 60, 1);
}

static void after_close(void)
{
	probe("tmp byte 60 after the close", "/tmp/locked", O_RDWR, F_GETLK, 60, 1);
	probe("root bytes 0-9 still", "/data.txt", O_RDONLY, F_GETLK, 0, 10);
}

static void after_root_close(void)
{
	probe("root bytes 0-9 after the root file's close", "/data.txt", O_RDONLY, F_GETLK, 0, 10);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int fd = open("/tmp/locked", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int ofd = open("/tmp/locked", O_RDWR);
	int root = open("/data.txt", O_RDONLY);
	char page[100];
	memset(page, 'x', sizeof page);
	if (fd < 0 || ofd < 0 || root < 0 || write(fd, page, sizeof page) != sizeof page) {
		perror("setting up");
		return 2;
	}
	struct flock tail = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 0 };
	struct flock mid = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 10 };
	struct flock head = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 4 };
	if (flock(fd, LOCK_EX) != 0 || fcntl(fd, F_SETLK, &tail) != 0 || fcntl(ofd, F_OFD_SETLK, &mid) != 0
	    || fcntl(root, F_SETLK, &head) != 0) {
		perror("locking");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();
	in_child(all_held);
	flock(fd, LOCK_UN);
	in_child(after_unlock);
	close(ofd);
	in_child(after_ofd_close);
	close(fd);
	in_child(after_close);
	close(root);
	in_child(after_root_close);
	printf("done\n");
	return 0;
}
