/* sethostname and setdomainname: served, inside the sandbox only (it has
 * UTS names of its own): uname and /proc/sys/kernel/hostname show the new
 * names; the test checks the host's are unchanged. */
#include "escape.h"

#include <sys/utsname.h>

int main(void)
{
	struct utsname u;
	char buf[128];
	EXPECT_OK("sethostname(escaped)", sethostname("escaped", 7));
	EXPECT_OK("setdomainname(escaped.example)", setdomainname("escaped.example", 15));
	uname(&u);
	esc_check("uname: nodename", strcmp(u.nodename, "escaped") == 0, "%s", u.nodename);
	esc_check("uname: domainname", strcmp(u.domainname, "escaped.example") == 0, "%s", u.domainname);
	long r = esc_read("/proc/sys/kernel/hostname", buf, sizeof buf);
	int same = r > 0 && strcmp(buf, "escaped\n") == 0;
	buf[strcspn(buf, "\n")] = 0;
	esc_check("/proc/sys/kernel/hostname", same, "%s", r > 0 ? buf : "?");
	EXPECT_ERR("sethostname of 65 bytes", sethostname("0123456789012345678901234567890123456789012345678901234567890123", 65),
		   EINVAL);
	return esc_finish();
}
