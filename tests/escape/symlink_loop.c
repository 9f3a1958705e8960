/* Symlink recursion: a self-loop, a two-link cycle, and chains of 40 (the
 * most Linux follows) and 41 links; O_NOFOLLOW on a link; a link to
 * itself as a directory, 200 deep. Each ends in ELOOP where Linux gives
 * it, and the Sentry goes on serving. */
#include "escape.h"

int main(void)
{
	char a[64], b[64];
	EXPECT_OK("symlink self -> self", symlink("self", "/tmp/self"));
	EXPECT_ERR("open the self-loop", open("/tmp/self", O_RDONLY), ELOOP);
	EXPECT_OK("a -> b -> a", symlink("/tmp/b", "/tmp/a") == 0 ? symlink("/tmp/a", "/tmp/b") : -1);
	EXPECT_ERR("stat the cycle", stat("/tmp/a", &(struct stat){ 0 }), ELOOP);

	/* c0 -> c1 -> ... -> c40 -> file: 40 links followed from c0. */
	mkdir("/tmp/c", 0755);
	close(open("/tmp/c/file", O_CREAT | O_WRONLY, 0644));
	for (int i = 0; i <= 40; i++) {
		snprintf(a, sizeof a, "/tmp/c/l%d", i);
		if (i == 40)
			snprintf(b, sizeof b, "file");
		else
			snprintf(b, sizeof b, "l%d", i + 1);
		symlink(b, a);
	}
	int fd = open("/tmp/c/l1", O_RDONLY);
	EXPECT_OK("a chain of 40 symlinks", fd);
	close(fd);
	EXPECT_ERR("a chain of 41 symlinks", open("/tmp/c/l0", O_RDONLY), ELOOP);
	EXPECT_ERR("O_NOFOLLOW on a symlink", open("/tmp/c/l40", O_RDONLY | O_NOFOLLOW), ELOOP);

	/* d -> . : /tmp/d/d/d/... 200 times: each is a followed link. */
	EXPECT_OK("symlink d -> .", symlink(".", "/tmp/d"));
	static char deep[4096];
	strcpy(deep, "/tmp");
	for (int i = 0; i < 200; i++)
		strcat(deep, "/d");
	EXPECT_ERR("/tmp/d x 200 (200 links in one path)", stat(deep, &(struct stat){ 0 }), ELOOP);
	EXPECT_OK("the Sentry still serves", getpid());
	return esc_finish();
}
