/* Relative symlinks that climb past the root with `..`: made by the app
 * itself, at run time, pointing at the host marker beside the rootfs (by
 * its host path and by "../host-marker.txt"), at "the directory above the
 * root", through a chain of links; and a file created through one. Each
 * resolves inside the sandbox's root, as under chroot. */
#include "escape.h"

#include <limits.h>

int main(void)
{
	char up[4096] = "", target[PATH_MAX + 64], link[64];
	for (int i = 0; i < 40; i++)
		strcat(up, "../");
	const char *marker = ESC_MARKER_PATH();

	/* To the marker by its host path, from /tmp: 40 x ".." then the path. */
	snprintf(target, sizeof target, "%s%s", up, marker + 1);
	EXPECT_OK("symlink /tmp/to-marker", symlink(target, "/tmp/to-marker"));
	esc_no_host_file("open /tmp/to-marker (40 x .. then the marker's host path)", "/tmp/to-marker", ENOENT);

	/* The marker sits beside the rootfs: one level up from the root. */
	EXPECT_OK("symlink /tmp/beside", symlink("../host-marker.txt", "/tmp/beside"));
	esc_no_host_file("open ../host-marker.txt from the root's child", "/tmp/beside", ENOENT);
	EXPECT_OK("symlink /tmp/beside2", symlink("../../host-marker.txt", "/tmp/beside2"));
	esc_no_host_file("open ../../host-marker.txt from /tmp", "/tmp/beside2", ENOENT);

	/* A symlink to "above the root", then names beneath it. */
	EXPECT_OK("symlink /tmp/up -> 40 x ..", symlink(up, "/tmp/up"));
	esc_is_sandbox_root("/tmp/up resolves to", "/tmp/up");
	snprintf(link, sizeof link, "/tmp/up/host-marker.txt");
	esc_no_host_file("open /tmp/up/host-marker.txt", link, ENOENT);
	snprintf(target, sizeof target, "/tmp/up/%s", marker + 1);
	esc_no_host_file("open /tmp/up/<marker's host path>", target, ENOENT);

	/* A chain: a -> b -> sub/../../../x, each hop climbing. */
	mkdir("/tmp/sub", 0755);
	EXPECT_OK("symlink chain", symlink("chain2", "/tmp/chain1") == 0 ? symlink("sub/../../../../host-marker.txt", "/tmp/chain2") : -1);
	esc_no_host_file("open through the chain", "/tmp/chain1", ENOENT);

	/* Creating through an escaping symlink makes the file inside. */
	snprintf(target, sizeof target, "%s%s-created", up, marker + 1);
	EXPECT_OK("symlink /tmp/create-through", symlink(target, "/tmp/create-through"));
	int fd = open("/tmp/create-through", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		write(fd, "x", 1);
		close(fd);
		char inside[PATH_MAX + 32];
		snprintf(inside, sizeof inside, "%s-created", marker);
		struct stat st;
		esc_check("O_CREAT through the escaping symlink", stat(inside, &st) == 0 && st.st_size == 1,
			  "the file was made at %s inside the sandbox", inside);
	} else {
		esc_check("O_CREAT through the escaping symlink", errno == ENOENT, "%s", errname(errno));
	}
	return esc_finish();
}
