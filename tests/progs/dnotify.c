/* dnotify: fcntl(F_NOTIFY) on a directory raises SIGIO in the caller for
 * the events asked, once or with DN_MULTISHOT until changed; DN_CREATE,
 * DN_DELETE, DN_MODIFY, DN_ATTRIB and DN_RENAME for the directory's
 * entries; 0 ends it, and so does closing the directory; ENOTDIR for a
 * file.
 *
 * Prints only deterministic lines; checks print "NAME: ok" or "NAME: bad". */
#include "common.h"

#include <fcntl.h>
#include <sys/stat.h>

static volatile sig_atomic_t sigios;

static void on_sigio(int sig)
{
	(void)sig;
	sigios++;
}

static void touch(const char *path)
{
	close(open(path, O_WRONLY | O_CREAT, 0644));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = { .sa_handler = on_sigio };
	sigaction(SIGIO, &sa, NULL);
	mkdir("/tmp/dn", 0755);
	int d = open("/tmp/dn", O_RDONLY | O_DIRECTORY);
	report("F_NOTIFY DN_CREATE", fcntl(d, F_NOTIFY, DN_CREATE));
	touch("/tmp/dn/a");
	printf("after a create: %d\n", sigios);
	touch("/tmp/dn/b");
	printf("a second create, one shot: %d\n", sigios);
	report("F_NOTIFY DN_CREATE|DN_DELETE|DN_MULTISHOT", fcntl(d, F_NOTIFY, DN_CREATE | DN_DELETE | DN_MULTISHOT));
	touch("/tmp/dn/c");
	touch("/tmp/dn/d");
	unlink("/tmp/dn/d");
	printf("two creates and a delete: %d\n", sigios);
	chmod("/tmp/dn/a", 0600);
	printf("a chmod, not asked: %d\n", sigios);
	report("F_NOTIFY DN_ATTRIB|DN_MODIFY|DN_RENAME|DN_MULTISHOT",
	       fcntl(d, F_NOTIFY, DN_ATTRIB | DN_MODIFY | DN_RENAME | DN_MULTISHOT));
	chmod("/tmp/dn/a", 0644);
	printf("a chmod: %d\n", sigios);
	int f = open("/tmp/dn/a", O_WRONLY);
	write(f, "x", 1);
	close(f);
	printf("a write: %d\n", sigios);
	rename("/tmp/dn/a", "/tmp/dn/z");
	printf("a rename: %d\n", sigios);
	report("F_NOTIFY 0", fcntl(d, F_NOTIFY, 0));
	touch("/tmp/dn/e");
	chmod("/tmp/dn/e", 0600);
	printf("after 0: %d\n", sigios);
	fcntl(d, F_NOTIFY, DN_CREATE | DN_MULTISHOT);
	int d2 = dup(d);
	close(d);
	touch("/tmp/dn/f");
	printf("still through a dup: %d\n", sigios);
	close(d2);
	touch("/tmp/dn/g");
	printf("after the last close: %d\n", sigios);
	int file = open("/tmp/dn/z", O_RDONLY);
	report("F_NOTIFY on a file", fcntl(file, F_NOTIFY, DN_CREATE));
	close(file);
	const char *names[] = { "b", "c", "e", "f", "g", "z" };
	for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
		char p[32];
		snprintf(p, sizeof p, "/tmp/dn/%s", names[i]);
		unlink(p);
	}
	rmdir("/tmp/dn");
	printf("done\n");
	return 0;
}
