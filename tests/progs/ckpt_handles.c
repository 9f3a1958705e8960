/* File handles across a checkpoint: handles of a root file and of a file
 * in /tmp made before "ready", and one of a file removed then. After the
 * restore (SIGUSR1) the first two open again by handle and read their
 * files, the removed one's is stale (ESTALE), a root file's handle made
 * again is the same bytes, and a new file's handle is new. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_wait.h"

struct handle {
	unsigned int bytes;
	int type;
	unsigned char f[128];
};

static int make(const char *path, struct handle *h)
{
	int mnt;
	h->bytes = sizeof(h->f);
	return name_to_handle_at(AT_FDCWD, path, (struct file_handle *)h, &mnt, 0);
}

static void reopen(const char *what, const char *anchor, struct handle *h)
{
	int at = open(anchor, O_RDONLY | O_DIRECTORY);
	int fd = open_by_handle_at(at, (struct file_handle *)h, O_RDONLY);
	char buf[64] = { 0 };
	if (fd < 0) {
		printf("%s: %s\n", what, strerror(errno));
	} else {
		read(fd, buf, sizeof(buf) - 1);
		printf("%s: reads %s\n", what, buf);
		close(fd);
	}
	close(at);
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	write(fd, text, strlen(text));
	close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	struct handle root, tmp, gone, again, fresh;
	put("/tmp/handle-kept", "kept in tmp");
	put("/tmp/handle-gone", "gone");
	if (make("/data.txt", &root) || make("/tmp/handle-kept", &tmp) || make("/tmp/handle-gone", &gone)) {
		perror("name_to_handle_at");
		return 2;
	}
	unlink("/tmp/handle-gone");
	printf("ready\n");
	ckpt_wait_usr1();

	reopen("the root file's handle", "/", &root);
	reopen("the tmp file's handle", "/tmp", &tmp);
	reopen("the removed file's handle", "/tmp", &gone);
	make("/data.txt", &again);
	printf("the root file's handle made again: %s\n",
	       again.bytes == root.bytes && again.type == root.type && memcmp(again.f, root.f, root.bytes) == 0
		       ? "the same"
		       : "differs");
	put("/tmp/handle-new", "new");
	make("/tmp/handle-new", &fresh);
	printf("a new file's handle: %s\n",
	       fresh.bytes == tmp.bytes && memcmp(fresh.f, tmp.f, tmp.bytes) == 0 ? "the tmp file's" : "its own");
	reopen("it", "/tmp", &fresh);
	unlink("/tmp/handle-new");
	unlink("/tmp/handle-kept");
	return 0;
}
