/* Deep path recursion in a read-write volume (a host directory, each name
 * made and resolved by the Gofer one component at a time): 1000 nested
 * directories made, entered and stat'ed by their 2009-byte path, then
 * removed. The test checks the host directory is empty of them
 * afterwards. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	int depth = 0;
	mkdir("/vol/deep", 0755);
	chdir("/vol/deep");
	for (; depth < 1000; depth++)
		if (mkdir("d", 0755) != 0 || chdir("d") != 0)
			break;
	esc_check("1000 nested directories in the volume", depth == 1000, "%d made", depth);
	static char rel[4096] = "/vol/deep";
	for (int i = 0; i < 1000; i++)
		strcat(rel, "/d");
	struct stat a, b;
	EXPECT_OK("stat by the 2009-byte path", stat(rel, &a));
	stat(".", &b);
	esc_check("it is the cwd", a.st_ino == b.st_ino, "same inode");
	int removed = 0;
	for (int i = 0; i < depth; i++)
		if (chdir("..") == 0 && rmdir("d") == 0)
			removed++;
	esc_check("removed again", removed == depth, "%d of %d", removed, depth);
	chdir("/");
	EXPECT_OK("rmdir /vol/deep", rmdir("/vol/deep"));
	return esc_finish();
}
