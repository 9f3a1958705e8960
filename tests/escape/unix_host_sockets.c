/* The host's Unix sockets: an abstract name the test runner is listening
 * on, and the daemons' well-known paths (Docker, containerd, systemd,
 * D-Bus). The sandbox's abstract names and paths are its own: nothing
 * answers (ECONNREFUSED, ENOENT); the test checks its listener had no
 * connection. */
#include "escape.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static long connect_path(const char *path, int abstract)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	memcpy(a.sun_path + (abstract ? 1 : 0), path, n);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	return connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0));
}

int main(void)
{
	EXPECT_ERR("connect to the host's abstract @NAME", connect_path(ESC_HOST_ABSTRACT(), 1), ECONNREFUSED);
	const char *paths[] = { "/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
				"/run/systemd/private", "/run/dbus/system_bus_socket", "/run/husk/control.sock" };
	char label[96];
	for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		snprintf(label, sizeof label, "connect to %s", paths[i]);
		EXPECT_ERR(label, connect_path(paths[i], 0), ENOENT);
	}
	EXPECT_ERR("connect to @/org/freedesktop/systemd1/notify", connect_path("/org/freedesktop/systemd1/notify", 1),
		   ECONNREFUSED);
	return esc_finish();
}
