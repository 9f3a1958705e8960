/* Directories removed while in use, across a checkpoint: the working
 * directory of the process and of its child, and a second directory held
 * open; a named pipe open, with data in it, after its name went; and
 * O_PATH files of a removed regular file, named pipe and symlink. Says "ready" and waits for SIGUSR1 (a checkpoint and a restore
 * come in between). Then, as natively, getcwd fails with ENOENT, a file
 * cannot be made in the working directory, the open directory has no
 * links and lists nothing, the child is still in its removed directory
 * too, the named pipe reads its data, and the O_PATH files show their
 * removed files. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

static void report(const char *who)
{
	char buf[256];
	printf("%s: getcwd: %s\n", who, getcwd(buf, sizeof buf) ? buf : strerrorname_np(errno));
	int fd = open("made-here", O_CREAT | O_WRONLY, 0600);
	printf("%s: a file made in it: %s\n", who, fd >= 0 ? "made" : strerrorname_np(errno));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	rmdir("/tmp/gone-cwd");
	rmdir("/tmp/gone-open");
	if (mkdir("/tmp/gone-cwd", 0750) != 0 || mkdir("/tmp/gone-open", 0700) != 0 || chdir("/tmp/gone-cwd") != 0) {
		perror("mkdir");
		return 2;
	}
	int dfd = open("/tmp/gone-open", O_RDONLY | O_DIRECTORY);
	int go[2];
	unlink("/tmp/gone-fifo");
	int fifo = mkfifo("/tmp/gone-fifo", 0640) == 0 ? open("/tmp/gone-fifo", O_RDWR) : -1;
	if (fifo < 0 || write(fifo, "kept\n", 5) != 5 || unlink("/tmp/gone-fifo") != 0) {
		perror("/tmp/gone-fifo");
		return 2;
	}
	int p_reg = -1, p_fifo = -1, p_link = -1;
	int made = open("/tmp/gone-reg", O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (made < 0 || write(made, "regular data\n", 13) != 13 || mkfifo("/tmp/gone-node", 0600) != 0 ||
	    symlink("/somewhere/else", "/tmp/gone-link") != 0 ||
	    (p_reg = open("/tmp/gone-reg", O_PATH)) < 0 || (p_fifo = open("/tmp/gone-node", O_PATH)) < 0 ||
	    (p_link = open("/tmp/gone-link", O_PATH | O_NOFOLLOW)) < 0 || unlink("/tmp/gone-reg") != 0 ||
	    unlink("/tmp/gone-node") != 0 || unlink("/tmp/gone-link") != 0) {
		perror("O_PATH files");
		return 2;
	}
	close(made);
	if (dfd < 0 || pipe(go) != 0) {
		perror("open");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		char c;
		if (read(go[0], &c, 1) == 1)
			report("the child");
		_exit(0);
	}
	if (rmdir("/tmp/gone-cwd") != 0 || rmdir("/tmp/gone-open") != 0) {
		perror("rmdir");
		return 2;
	}
	printf("ready\n");
	ckpt_wait_usr1();

	report("the parent");
	struct stat st;
	printf("the open directory: links %ld\n", fstat(dfd, &st) == 0 ? (long)st.st_nlink : -1L);
	DIR *d = fdopendir(dfd);
	int names = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names++;
	printf("the open directory lists %d names\n", names);
	printf("openat in it: %s\n", openat(dirfd(d), "x", O_CREAT | O_WRONLY, 0600) >= 0 ? "made" : strerrorname_np(errno));
	char kept[8] = "";
	ssize_t n = read(fifo, kept, 4);
	long links = fstat(fifo, &st) == 0 ? (long)st.st_nlink : -1L;
	printf("the removed named pipe reads: %.*s, links %ld, a FIFO: %s\n", (int)(n > 0 ? n : 0), kept, links,
	       S_ISFIFO(st.st_mode) ? "yes" : "no");
	links = fstat(p_reg, &st) == 0 ? (long)st.st_nlink : -1L;
	printf("the removed file's O_PATH file: links %ld, size %ld\n", links, (long)st.st_size);
	links = fstat(p_fifo, &st) == 0 ? (long)st.st_nlink : -1L;
	printf("the removed FIFO's O_PATH file: links %ld, a FIFO: %s\n", links, S_ISFIFO(st.st_mode) ? "yes" : "no");
	char target[32] = "";
	n = readlinkat(p_link, "", target, sizeof target - 1);
	printf("the removed symlink's O_PATH file: %s\n", n > 0 ? target : strerrorname_np(errno));
	if (write(go[1], "g", 1) != 1)
		return 2;
	waitpid(child, NULL, 0);
	return 0;
}
