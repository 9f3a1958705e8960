/* The kernel keyring (not namespaced on Linux: a container's keys were
 * the host's): add_key to the session and user keyrings, request_key,
 * keyctl reads. They work, on the sandbox's own key table; the test checks
 * the host's /proc/keys has no key named with its tag. */
#include "escape.h"

#include <linux/keyctl.h>

int main(void)
{
	char desc[128];
	snprintf(desc, sizeof desc, "%s-key", ESC_TAG());
	EXPECT_OK("add_key(user, session keyring)",
		  syscall(SYS_add_key, "user", desc, "secret", 6, KEY_SPEC_SESSION_KEYRING));
	EXPECT_OK("add_key(user, user keyring)", syscall(SYS_add_key, "user", desc, "secret", 6, KEY_SPEC_USER_KEYRING));
	EXPECT_OK("request_key", syscall(SYS_request_key, "user", desc, NULL, KEY_SPEC_SESSION_KEYRING));
	char buf[256];
	EXPECT_OK("keyctl(READ, user keyring)", syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_USER_KEYRING, buf, sizeof buf));
	EXPECT_OK("keyctl(JOIN_SESSION_KEYRING)", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, desc));
	EXPECT_ERR("open /proc/keys", open("/proc/keys", O_RDONLY), ENOENT);
	return esc_finish();
}
