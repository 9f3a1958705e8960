/* Files no name leads to, across a checkpoint: a tmpfs file of three
 * pages unlinked while open (at an offset, and mapped shared, by the
 * parent and a child), and an O_TMPFILE file, as Python's
 * tempfile.TemporaryFile makes them. The program says "ready" and waits
 * for SIGUSR1 (a checkpoint and a restore come in between). Then the
 * unlinked file reads on from its offset, its mapping and its pages
 * agree, a child's write through the mapping shows in a read, fstat says
 * no links, and linkat gives the O_TMPFILE file a name that reads what
 * was written. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define SIZE (3 * 4096)

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	int gone = open("/tmp/gone", O_RDWR | O_CREAT | O_TRUNC, 0640);
	static unsigned char buf[SIZE];
	for (size_t i = 0; i < SIZE; i++)
		buf[i] = pattern(i);
	if (gone < 0 || write(gone, buf, SIZE) != SIZE) {
		perror("/tmp/gone");
		return 2;
	}
	char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, gone, 0);
	int tmp = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (map == MAP_FAILED || tmp < 0 || write(tmp, "kept in a nameless file", 23) != 23) {
		perror("setting up");
		return 2;
	}
	unlink("/tmp/gone");
	lseek(gone, 100, SEEK_SET);
	int go[2];
	if (pipe(go) < 0)
		return 2;
	pid_t child = fork();
	if (child == 0) {
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		memcpy(map + 5000, "the child", 9);
		_exit(0);
	}
	printf("ready\n");
	ckpt_wait_usr1();

	unsigned char next[8];
	int same = read(gone, next, sizeof next) == sizeof next;
	for (size_t i = 0; same && i < sizeof next; i++)
		same = next[i] == pattern(100 + i);
	printf("unlinked: reads on from its offset: %s\n", same ? "yes" : "no");
	struct stat st;
	fstat(gone, &st);
	printf("unlinked: links %lu, size %lld, mode %o\n", (unsigned long)st.st_nlink, (long long)st.st_size,
	       st.st_mode & 07777);
	printf("unlinked: the name is gone: %s\n", access("/tmp/gone", F_OK) != 0 ? "yes" : "no");
	same = 1;
	for (size_t i = 0; same && i < SIZE; i++)
		same = (unsigned char)map[i] == pattern(i);
	printf("unlinked: the mapping holds the pages: %s\n", same ? "yes" : "no");
	if (write(go[1], "g", 1) != 1)
		return 2;
	int status;
	waitpid(child, &status, 0);
	char seen[10] = { 0 };
	pread(gone, seen, 9, 5000);
	printf("unlinked: the child's write through the mapping reads back: %s\n", seen);
	pwrite(gone, "by pwrite", 9, 9000);
	printf("unlinked: a pwrite shows in the mapping: %.9s\n", map + 9000);

	fstat(tmp, &st);
	printf("tmpfile: links %lu, size %lld\n", (unsigned long)st.st_nlink, (long long)st.st_size);
	if (linkat(tmp, "", AT_FDCWD, "/tmp/named", AT_EMPTY_PATH) != 0) {
		perror("linkat");
		return 1;
	}
	char text[32] = { 0 };
	int named = open("/tmp/named", O_RDONLY);
	read(named, text, sizeof text - 1);
	fstat(tmp, &st);
	printf("tmpfile: named, it reads \"%s\", links %lu\n", text, (unsigned long)st.st_nlink);
	return 0;
}
