/* Helpers shared by the test programs in tests/progs/.
 *
 * Every program prints deterministic text only (no addresses, times or
 * random bytes), so its output under Husk can be compared byte for byte
 * with a native run. Checks print "NAME: ok" or "NAME: bad (...)".
 *
 * The programs call the kernel through syscall() where a libc wrapper
 * could take another path (vDSO, a different syscall, an emulation). */
#ifndef HUSK_PROGS_COMMON_H
#define HUSK_PROGS_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* errno's symbolic name, e.g. "ENOENT"; "0" for success. */
static inline const char *errname(int e)
{
	if (e == 0)
		return "0";
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* Prints "label: <result>" where result is the return value of a
 * syscall-style call: the errno name when it failed (-1), else "ok". */
static inline void report(const char *label, long ret)
{
	if (ret == -1)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: ok\n", label);
}

/* Prints "label: ok" when cond holds, else "label: bad". */
#define CHECK(label, cond) printf("%s: %s\n", (label), (cond) ? "ok" : "bad")

#endif
