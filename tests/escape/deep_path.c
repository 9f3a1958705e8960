/* Deep path recursion: 2000 nested directories in /tmp (entered one by
 * one), getcwd there (a 4001-byte path, served; ERANGE into a small
 * buffer), a 6000-byte path (ENAMETOOLONG), a path of 4096 bytes
 * (ENAMETOOLONG: PATH_MAX counts the NUL), a 256-byte name (ENAMETOOLONG),
 * and the tree removed again. */
#include "escape.h"

#include <limits.h>
#include <stdlib.h>

int main(void)
{
	int depth = 0;
	chdir("/tmp");
	for (; depth < 2000; depth++)
		if (mkdir("d", 0755) != 0 || chdir("d") != 0)
			break;
	esc_check("2000 nested directories", depth == 2000, "%d made", depth);
	static char cwd[PATH_MAX * 2];
	char *got = getcwd(cwd, sizeof cwd);
	esc_check("getcwd at the bottom", got && strlen(cwd) == 4 + 2 * 2000, "%zu bytes", got ? strlen(cwd) : 0);
	char small[64];
	EXPECT_ERR("getcwd into 64 bytes", getcwd(small, sizeof small) ? 0 : -1, ERANGE);
	static char deep[8000];
	for (int i = 0; i < 2000; i++)
		strcat(deep, "../");
	EXPECT_ERR("stat of a 6000-byte path", stat(deep, &(struct stat){ 0 }), ENAMETOOLONG);
	static char exact[PATH_MAX + 1];
	memset(exact, 'a', PATH_MAX);
	exact[0] = '/';
	for (int i = 200; i < PATH_MAX; i += 200)
		exact[i] = '/';
	EXPECT_ERR("open of a 4096-byte path", open(exact, O_RDONLY), ENAMETOOLONG);
	char name[300];
	memset(name, 'n', 256);
	name[256] = 0;
	EXPECT_ERR("create a 256-byte name", open(name, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	/* Climb out, removing as we go. */
	int removed = 0;
	for (int i = 0; i < depth; i++)
		if (chdir("..") == 0 && rmdir("d") == 0)
			removed++;
	esc_check("the tree removed", removed == depth, "%d of %d", removed, depth);
	return esc_finish();
}
