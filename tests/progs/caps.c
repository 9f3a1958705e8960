/* Capabilities: capget and capset (the v1, v2 and v3 headers and the
 * version negotiation), the prctl calls (KEEPCAPS, the bounding set,
 * ambient capabilities, securebits), what set*id calls do to the sets,
 * permission checks that consult the capabilities rather than the uid,
 * and execve's transformation of the sets.
 *
 *   caps                  the checks; runs as root with the test process's
 *                         capabilities (each step in a forked child, so
 *                         that the parent keeps them)
 *   caps show LABEL FULL  prints its own sets (re-executed by the exec
 *                         steps); FULL is the starting permitted set
 *   caps default          prints the sets it was started with and a few
 *                         permission checks: for `husk run`'s default set
 *
 * Sets are printed relative to the starting permitted set ("full",
 * "full-CHOWN", "KILL+NET_RAW", "0"), so that the output does not depend
 * on the host's bounding set. */
#include "common.h"

#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#ifndef SECBIT_EXEC_RESTRICT_FILE
#define SECBIT_EXEC_RESTRICT_FILE (1 << 8)
#endif

static const char *self = "/progs/caps";

static const char *cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
#define NCAPS (int)(sizeof cap_names / sizeof cap_names[0])

#define BIT(c) (1ULL << (c))

typedef unsigned long long u64;

struct sets {
	u64 eff, prm, inh;
};

/* The permitted set at the start: what "full" means in the output. */
static u64 full;

static long capget_raw(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d)
{
	return syscall(SYS_capget, h, d);
}

static long capset_raw(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d)
{
	return syscall(SYS_capset, h, d);
}

static int get_of(int pid, struct sets *s)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
	struct __user_cap_data_struct d[2];
	if (capget_raw(&h, d) != 0)
		return -1;
	s->eff = d[0].effective | (u64)d[1].effective << 32;
	s->prm = d[0].permitted | (u64)d[1].permitted << 32;
	s->inh = d[0].inheritable | (u64)d[1].inheritable << 32;
	return 0;
}

static struct sets get(void)
{
	struct sets s = { 0, 0, 0 };
	if (get_of(0, &s) != 0)
		printf("capget: %s: bad\n", errname(errno));
	return s;
}

static long set(struct sets s)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)s.eff, (uint32_t)s.prm, (uint32_t)s.inh },
		{ (uint32_t)(s.eff >> 32), (uint32_t)(s.prm >> 32), (uint32_t)(s.inh >> 32) },
	};
	return capset_raw(&h, d);
}

static u64 bounding(void)
{
	u64 b = 0;
	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			b |= BIT(c);
	return b;
}

static u64 ambient(void)
{
	u64 a = 0;
	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			a |= BIT(c);
	return a;
}

static int popcount(u64 v)
{
	return __builtin_popcountll(v);
}

static void names(char *out, size_t len, u64 v, const char *sep)
{
	out[0] = 0;
	int first = 1;
	for (int c = 0; c < 64; c++) {
		if (!(v & BIT(c)))
			continue;
		char one[32];
		if (c < NCAPS)
			snprintf(one, sizeof one, "%s%s", first ? "" : sep, cap_names[c]);
		else
			snprintf(one, sizeof one, "%s#%d", first ? "" : sep, c);
		strncat(out, one, len - strlen(out) - 1);
		first = 0;
	}
}

/* A set as text, relative to `full`. */
static const char *desc(u64 v)
{
	static char bufs[6][512];
	static int next;
	char *b = bufs[next++ % 6];
	if (v == full) {
		snprintf(b, 512, "full");
	} else if (v == 0) {
		snprintf(b, 512, "0");
	} else if ((v & ~full) == 0 && popcount(full & ~v) <= popcount(v)) {
		char n[480];
		names(n, sizeof n, full & ~v, "-");
		snprintf(b, 512, "full-%s", n);
	} else {
		names(b, 512, v, "+");
	}
	return b;
}

static void state(const char *label)
{
	struct sets s = get();
	printf("  %s: eff=%s prm=%s inh=%s bnd=%s amb=%s\n", label, desc(s.eff), desc(s.prm), desc(s.inh),
	       desc(bounding()), desc(ambient()));
}

static void attempt(const char *label, long r)
{
	printf("  %s: %s\n", label, r == -1 ? errname(errno) : "ok");
}

static void value(const char *label, long r)
{
	if (r == -1)
		printf("  %s: -1 %s\n", label, errname(errno));
	else
		printf("  %s: %ld\n", label, r);
}

/* Takes `drop` out of the effective set (and `drop_prm` out of the
 * permitted and effective sets). */
static void lower(u64 drop, u64 drop_prm)
{
	struct sets s = get();
	s.eff &= ~(drop | drop_prm);
	s.prm &= ~drop_prm;
	if (set(s) != 0)
		printf("  capset to lower %s: %s: bad\n", desc(drop | drop_prm), errname(errno));
}

static void raise_eff(u64 add)
{
	struct sets s = get();
	s.eff |= add;
	if (set(s) != 0)
		printf("  capset to raise %s: %s: bad\n", desc(add), errname(errno));
}

static void set_inh(u64 inh)
{
	struct sets s = get();
	s.inh = inh;
	if (set(s) != 0)
		printf("  capset inheritable %s: %s: bad\n", desc(inh), errname(errno));
}

/* Runs fn in a child, so that the parent keeps its capabilities. */
static void in_child(const char *label, void (*fn)(void))
{
	printf("%s:\n", label);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("  child: %s: bad\n", status_str(st));
}

/* ---- capget and capset ------------------------------------------------ */

static void versions(void)
{
	struct __user_cap_header_struct h;
	struct __user_cap_data_struct d[2];
	long r;

	h = (struct __user_cap_header_struct){ 0, 0 };
	r = capget_raw(&h, NULL);
	printf("  capget version 0, NULL data: %ld, version now 0x%x\n", r, h.version);
	h = (struct __user_cap_header_struct){ 0x12345678, 0 };
	errno = 0;
	r = capget_raw(&h, d);
	printf("  capget version 0x12345678: %ld %s, version now 0x%x\n", r, errname(errno), h.version);
	h = (struct __user_cap_header_struct){ 0x12345678, 0 };
	errno = 0;
	r = capset_raw(&h, d);
	printf("  capset version 0x12345678: %ld %s, version now 0x%x\n", r, errname(errno), h.version);
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, 0 };
	printf("  capget v3, NULL data: %ld\n", capget_raw(&h, NULL));

	const struct {
		const char *name;
		uint32_t version;
	} vs[] = {
		{ "v1", _LINUX_CAPABILITY_VERSION_1 },
		{ "v2", _LINUX_CAPABILITY_VERSION_2 },
		{ "v3", _LINUX_CAPABILITY_VERSION_3 },
	};
	for (unsigned i = 0; i < 3; i++) {
		memset(d, 0xa5, sizeof d);
		h = (struct __user_cap_header_struct){ vs[i].version, 0 };
		r = capget_raw(&h, d);
		int low = d[0].permitted == (uint32_t)full && d[0].effective == (uint32_t)full;
		int high_written = d[1].permitted != 0xa5a5a5a5;
		int high = d[1].permitted == (uint32_t)(full >> 32);
		printf("  capget %s: %ld, low words: %s, second struct %s%s\n", vs[i].name, r, low ? "ok" : "bad",
		       high_written ? "written" : "untouched", high_written ? (high ? " (ok)" : " (bad)") : "");
	}

	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, getpid() };
	attempt("capget of its own pid", capget_raw(&h, d));
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, -1 };
	attempt("capget pid -1", capget_raw(&h, d));
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, 0x3fffffff };
	attempt("capget of no such pid", capget_raw(&h, d));
	attempt("capget with a bad header pointer", capget_raw((void *)8, d));
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, 0 };
	attempt("capget with a bad data pointer", capget_raw(&h, (void *)8));
	attempt("capset with NULL data", capset_raw(&h, NULL));
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, child };
	capget_raw(&h, d);
	attempt("capset of another pid", capset_raw(&h, d));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, 0x3fffffff };
	attempt("capset of no such pid", capset_raw(&h, d));
}

static void capset_rules(void)
{
	struct sets s = get();
	s.eff &= ~BIT(CAP_CHOWN);
	attempt("drop CHOWN from effective", set(s));
	state("now");
	s.eff |= BIT(CAP_CHOWN);
	attempt("raise it again (it is permitted)", set(s));
	s.prm &= ~BIT(CAP_NET_RAW);
	s.eff &= ~BIT(CAP_NET_RAW);
	attempt("drop NET_RAW from permitted", set(s));
	s.prm |= BIT(CAP_NET_RAW);
	attempt("add it back to permitted", set(s));
	s.prm &= ~BIT(CAP_NET_RAW);
	s.eff |= BIT(CAP_NET_RAW);
	attempt("effective beyond permitted", set(s));
	s.eff &= ~BIT(CAP_NET_RAW);
	s.inh = BIT(CAP_KILL);
	attempt("inheritable KILL (permitted)", set(s));
	s.inh |= BIT(CAP_NET_RAW);
	attempt("inheritable NET_RAW (not permitted, with SETPCAP)", set(s));
	state("now");
	s.eff &= ~BIT(CAP_SETPCAP);
	attempt("drop SETPCAP from effective", set(s));
	s.inh |= BIT(CAP_MKNOD);
	attempt("inheritable MKNOD (permitted)", set(s));
	s.prm &= ~BIT(CAP_SYS_TIME);
	s.eff &= ~BIT(CAP_SYS_TIME);
	attempt("drop SYS_TIME from permitted", set(s));
	s.inh |= BIT(CAP_SYS_TIME);
	attempt("inheritable SYS_TIME (not permitted, no SETPCAP)", set(s));
	s.inh &= ~BIT(CAP_SYS_TIME);
	state("now");

	/* Bits past the last capability are dropped without an error. */
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	capget_raw(&h, d);
	d[1].effective = d[1].permitted = 0xffffffff;
	d[1].inheritable = 0;
	attempt("capset with bits past the last capability", capset_raw(&h, d));
	state("now");

	/* A v1 capset sets only the low 32 bits: the others are cleared. */
	h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_1, 0 };
	capget_raw(&h, d);
	attempt("v1 capset of the low words", capset_raw(&h, d));
	state("after the v1 capset");
}

static void capget_other(void)
{
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		lower(BIT(CAP_CHOWN), BIT(CAP_NET_RAW));
		char c = 1;
		write(done[1], &c, 1);
		read(go[0], &c, 1);
		_exit(0);
	}
	char c;
	read(done[0], &c, 1);
	struct sets s;
	if (get_of(pid, &s) == 0)
		printf("  the child's sets: eff=%s prm=%s\n", desc(s.eff), desc(s.prm));
	else
		printf("  capget of the child: %s\n", errname(errno));
	s = get();
	printf("  its own: eff=%s prm=%s\n", desc(s.eff), desc(s.prm));
	write(go[1], &c, 1);
	waitpid(pid, NULL, 0);
}

/* ---- prctl ---------------------------------------------------------- */

static void bounding_set(void)
{
	value("PR_CAPBSET_READ CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0));
	value("PR_CAPBSET_READ 41", prctl(PR_CAPBSET_READ, 41, 0, 0, 0));
	value("PR_CAPBSET_READ -1", prctl(PR_CAPBSET_READ, -1L, 0, 0, 0));
	value("PR_CAPBSET_DROP MKNOD", prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
	value("PR_CAPBSET_READ MKNOD", prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0));
	value("PR_CAPBSET_DROP MKNOD again", prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
	value("PR_CAPBSET_DROP 99", prctl(PR_CAPBSET_DROP, 99, 0, 0, 0));
	state("after dropping MKNOD");
	struct sets s = get();
	s.inh = BIT(CAP_MKNOD);
	attempt("inheritable MKNOD (permitted, not in the bounding set, with SETPCAP)", set(s));
	s.inh = BIT(CAP_KILL);
	attempt("inheritable KILL", set(s));
	lower(BIT(CAP_SETPCAP), 0);
	s = get();
	s.inh |= BIT(CAP_MKNOD);
	attempt("inheritable MKNOD (permitted, not in the bounding set, no SETPCAP)", set(s));
	value("PR_CAPBSET_DROP KILL without SETPCAP", prctl(PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0));
	value("PR_CAPBSET_DROP 99 without SETPCAP", prctl(PR_CAPBSET_DROP, 99, 0, 0, 0));
	value("PR_CAPBSET_READ KILL", prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0));
}

static void ambient_set(void)
{
	const int nbs = CAP_NET_BIND_SERVICE;
	value("IS_SET NET_BIND_SERVICE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, nbs, 0, 0));
	value("RAISE it, not inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 0, 0));
	set_inh(BIT(nbs) | BIT(CAP_KILL));
	value("RAISE it, inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 0, 0));
	value("IS_SET", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, nbs, 0, 0));
	value("RAISE 41", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 41, 0, 0));
	value("IS_SET 41", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 41, 0, 0));
	value("operation 9", prctl(PR_CAP_AMBIENT, 9, nbs, 0, 0));
	value("RAISE with arg4 set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 1, 0));
	value("CLEAR_ALL with arg3 set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
	value("LOWER", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, nbs, 0, 0));
	value("IS_SET after LOWER", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, nbs, 0, 0));
	value("LOWER again", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, nbs, 0, 0));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
	state("both raised");
	set_inh(BIT(CAP_KILL));
	state("NET_BIND_SERVICE no longer inheritable");
	lower(0, BIT(CAP_KILL));
	state("KILL no longer permitted");
	set_inh(BIT(nbs));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 0, 0);
	value("CLEAR_ALL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	state("after CLEAR_ALL");
	prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE, 0, 0, 0);
	value("RAISE under SECBIT_NO_CAP_AMBIENT_RAISE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, nbs, 0, 0));
}

static void securebits(void)
{
	value("PR_GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	value("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	value("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	value("PR_GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	value("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	value("PR_SET_KEEPCAPS 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
	value("PR_SET_SECUREBITS an unknown bit", prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | (1 << 20), 0, 0, 0));
	value("PR_SET_SECUREBITS KEEP_CAPS, locked",
	      prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0));
	value("PR_SET_KEEPCAPS 0 when locked", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
	value("PR_SET_KEEPCAPS 1 when locked", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	value("PR_SET_SECUREBITS unlocking", prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS, 0, 0, 0));
	value("PR_SET_SECUREBITS clearing a locked bit", prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0));
	long bits = SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NOROOT;
	value("PR_SET_SECUREBITS adding NOROOT", prctl(PR_SET_SECUREBITS, bits, 0, 0, 0));
	value("PR_GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	lower(BIT(CAP_SETPCAP), 0);
	value("without SETPCAP: no change", prctl(PR_SET_SECUREBITS, bits, 0, 0, 0));
	value("without SETPCAP: clearing NOROOT", prctl(PR_SET_SECUREBITS, bits & ~SECBIT_NOROOT, 0, 0, 0));
	value("without SETPCAP: adding EXEC_RESTRICT_FILE",
	      prctl(PR_SET_SECUREBITS, bits | SECBIT_EXEC_RESTRICT_FILE, 0, 0, 0));
	value("PR_GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
}

/* ---- set*id ---------------------------------------------------------- */

/* The ids, and what a change of them does to dumpability and the
 * parent-death signal. */
static void ids(const char *label)
{
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	int pdeathsig = -1;
	prctl(PR_GET_PDEATHSIG, &pdeathsig, 0, 0, 0);
	printf("  %s: uid %d/%d/%d fsuid %d dumpable %d pdeathsig %d\n", label, r, e, s, setfsuid(-1),
	       (int)prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), pdeathsig);
}

/* Also sets a parent-death signal, which a change of ids clears. */
static void with_ambient_kill(void)
{
	set_inh(BIT(CAP_KILL));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
}

static void setuid_plain(void)
{
	with_ambient_kill();
	attempt("setuid(1000)", setuid(1000));
	ids("now");
	state("now");
	attempt("setuid(0)", setuid(0));
}

static void setuid_keepcaps(void)
{
	with_ambient_kill();
	attempt("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	attempt("setuid(1000)", setuid(1000));
	state("now");
	value("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	attempt("open /tmp/caps/secret (0600 root)", open("/tmp/caps/secret", O_RDONLY));
	raise_eff(BIT(CAP_DAC_OVERRIDE));
	attempt("with DAC_OVERRIDE raised", open("/tmp/caps/secret", O_RDONLY));
	attempt("setuid(0)", setuid(0));
	raise_eff(BIT(CAP_SETUID));
	attempt("setuid(0) with SETUID raised", setuid(0));
	ids("now");
	state("now");
}

static void seteuid_both_ways(void)
{
	with_ambient_kill();
	attempt("seteuid(1000)", seteuid(1000));
	ids("now");
	state("now");
	attempt("seteuid(0)", seteuid(0));
	state("now");
	lower(0, BIT(CAP_NET_RAW));
	attempt("seteuid(1000)", seteuid(1000));
	attempt("seteuid(0)", seteuid(0));
	state("back with NET_RAW no longer permitted");
}

static void setresuid_saved(void)
{
	with_ambient_kill();
	attempt("setresuid(1000, 1000, 0)", setresuid(1000, 1000, 0));
	state("saved uid 0");
	attempt("setresuid(-1, -1, 1000)", setresuid(-1, -1, 1000));
	ids("now");
	state("now");
}

static void setreuid_all(void)
{
	with_ambient_kill();
	attempt("setreuid(1000, 1000)", setreuid(1000, 1000));
	ids("now");
	state("now");
}

static void setfsuid_fs(void)
{
	printf("  setfsuid(1000): %d\n", setfsuid(1000));
	ids("now");
	state("now");
	printf("  setfsuid(0): %d\n", setfsuid(0));
	state("now");
	lower(0, BIT(CAP_DAC_OVERRIDE));
	setfsuid(1000);
	setfsuid(0);
	state("fsuid 1000 and back, DAC_OVERRIDE not permitted");
	lower(BIT(CAP_SETUID), 0);
	printf("  setfsuid(1234) without SETUID: %d, fsuid now %d\n", setfsuid(1234), setfsuid(-1));
}

static void no_setuid_fixup(void)
{
	with_ambient_kill();
	attempt("PR_SET_SECUREBITS NO_SETUID_FIXUP", prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0));
	attempt("setuid(1000)", setuid(1000));
	state("now");
	setfsuid(1000);
	state("after setfsuid(1000)");
}

/* ---- permission checks ------------------------------------------------ */

static void open_report(const char *label, const char *path, int flags)
{
	errno = 0;
	int fd = open(path, flags);
	printf("  %s: %s\n", label, fd >= 0 ? "ok" : errname(errno));
	if (fd >= 0)
		close(fd);
}

static void dac(void)
{
	lower(BIT(CAP_DAC_OVERRIDE), 0);
	open_report("without DAC_OVERRIDE: read a 0000 file", "/tmp/caps/zero", O_RDONLY);
	open_report("write it", "/tmp/caps/zero", O_WRONLY);
	open_report("list a 0000 directory", "/tmp/caps/zerodir", O_RDONLY | O_DIRECTORY);
	open_report("create in it", "/tmp/caps/zerodir/new", O_WRONLY | O_CREAT);
	attempt("access(W_OK) (real ids: the permitted set)", access("/tmp/caps/zero", W_OK));
	attempt("faccessat(W_OK, AT_EACCESS)", faccessat(AT_FDCWD, "/tmp/caps/zero", W_OK, AT_EACCESS));
	attempt("exec a file without x bits", execl("/tmp/caps/noexec", "noexec", NULL));
	lower(BIT(CAP_DAC_READ_SEARCH), 0);
	open_report("without DAC_READ_SEARCH too: read a 0000 file", "/tmp/caps/zero", O_RDONLY);
	open_report("list a 0000 directory", "/tmp/caps/zerodir", O_RDONLY | O_DIRECTORY);
	struct stat st;
	attempt("stat a name in it", stat("/tmp/caps/zerodir/f", &st));
	open_report("read a 0644 file of uid 1000", "/tmp/caps/other", O_RDONLY);
	open_report("write it", "/tmp/caps/other", O_WRONLY);
	raise_eff(BIT(CAP_DAC_READ_SEARCH));
	attempt("with DAC_READ_SEARCH: stat a name in a 0000 directory", stat("/tmp/caps/zerodir/f", &st));
}

static void chown_fowner(void)
{
	lower(BIT(CAP_CHOWN), 0);
	attempt("without CHOWN: chown a file of uid 1000 to 0", chown("/tmp/caps/other", 0, -1));
	attempt("chown its own file to its own uid", chown("/tmp/caps/own", 0, -1));
	attempt("give its own file away", chown("/tmp/caps/own", 1000, -1));
	attempt("chgrp its own file to a group of its own", chown("/tmp/caps/own", -1, 0));
	attempt("chgrp its own file to another group", chown("/tmp/caps/own", -1, 1000));
	raise_eff(BIT(CAP_CHOWN));
	lower(BIT(CAP_FOWNER), 0);
	attempt("without FOWNER: chmod a file of uid 1000", chmod("/tmp/caps/other", 0600));
	struct timeval tv[2] = { { 1, 0 }, { 2, 0 } };
	attempt("set its times", utimes("/tmp/caps/other", tv));
	attempt("touch it (write permission suffices)", utimes("/tmp/caps/other", NULL));
	attempt("unlink it from a sticky directory", unlink("/tmp/caps/sticky/f"));
	attempt("chmod its own file", chmod("/tmp/caps/own", 0640));
	raise_eff(BIT(CAP_FOWNER));
	attempt("with FOWNER: chmod the file of uid 1000", chmod("/tmp/caps/other", 0644));
}

static void fsetid(void)
{
	struct stat st;
	lower(BIT(CAP_FSETID), 0);
	attempt("without FSETID: chmod 02755 a file of group 1234", chmod("/tmp/caps/sgid", 02755));
	stat("/tmp/caps/sgid", &st);
	printf("  mode now %04o\n", st.st_mode & 07777);
	raise_eff(BIT(CAP_FSETID));
	attempt("with FSETID", chmod("/tmp/caps/sgid", 02755));
	stat("/tmp/caps/sgid", &st);
	printf("  mode now %04o\n", st.st_mode & 07777);
}

static void kill_setid(void)
{
	int ready[2];
	if (pipe(ready))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		setuid(1000);
		close(ready[1]);
		pause();
		_exit(0);
	}
	close(ready[1]);
	char c;
	read(ready[0], &c, 1);
	lower(BIT(CAP_KILL), 0);
	attempt("without KILL: kill(uid 1000's process, 0)", kill(pid, 0));
	raise_eff(BIT(CAP_KILL));
	attempt("with KILL", kill(pid, 0));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	lower(BIT(CAP_SETUID) | BIT(CAP_SETGID), 0);
	attempt("without SETUID: setuid(1000)", setuid(1000));
	attempt("setresuid(0, 0, 0)", setresuid(0, 0, 0));
	attempt("without SETGID: setgid(1000)", setgid(1000));
	gid_t g[] = { 5 };
	attempt("setgroups", setgroups(1, g));
	raise_eff(BIT(CAP_SETGID));
	attempt("with SETGID: setgid(1000)", setgid(1000));
}

static void nice_ipc(void)
{
	lower(BIT(CAP_SYS_NICE), 0);
	attempt("without SYS_NICE: setpriority -5", setpriority(PRIO_PROCESS, 0, -5));
	raise_eff(BIT(CAP_SYS_NICE));
	attempt("with SYS_NICE", setpriority(PRIO_PROCESS, 0, -5));

	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0000);
	struct {
		long type;
		char text[4];
	} m = { 1, "hi" };
	lower(BIT(CAP_IPC_OWNER), 0);
	attempt("without IPC_OWNER: msgsnd to a mode 0000 queue", msgsnd(q, &m, sizeof m.text, IPC_NOWAIT));
	raise_eff(BIT(CAP_IPC_OWNER));
	attempt("with IPC_OWNER", msgsnd(q, &m, sizeof m.text, IPC_NOWAIT));
	msgctl(q, IPC_RMID, NULL);
}

/* ---- execve ----------------------------------------------------------- */

static void exec_show(const char *label)
{
	char arg[32];
	snprintf(arg, sizeof arg, "%llx", full);
	fflush(stdout);
	execl(self, "caps", "show", label, arg, NULL);
	printf("  execl: %s: bad\n", errname(errno));
}

/* The sets as /proc/self/status shows them. */
static int status_sets(u64 out[5])
{
	static const char *keys[5] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" };
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		for (int i = 0; i < 5; i++) {
			size_t n = strlen(keys[i]);
			if (strncmp(line, keys[i], n) == 0) {
				out[i] = strtoull(line + n, NULL, 16);
				found++;
			}
		}
	}
	fclose(f);
	return found == 5 ? 0 : -1;
}

static void show(const char *label)
{
	struct sets s = get();
	u64 st[5];
	int agrees = status_sets(st) == 0 && st[0] == s.inh && st[1] == s.prm && st[2] == s.eff && st[3] == bounding() &&
		     st[4] == ambient();
	uid_t r, e, su;
	getresuid(&r, &e, &su);
	gid_t gr, ge, gs;
	getresgid(&gr, &ge, &gs);
	int pdeathsig = -1;
	prctl(PR_GET_PDEATHSIG, &pdeathsig, 0, 0, 0);
	printf("  %s: uid %d/%d/%d gid %d/%d/%d eff=%s prm=%s inh=%s bnd=%s amb=%s keepcaps=%d securebits=0x%x secure=%lu "
	       "dumpable=%d pdeathsig=%d, /proc/self/status agrees: %s\n",
	       label, r, e, su, gr, ge, gs, desc(s.eff), desc(s.prm), desc(s.inh), desc(bounding()), desc(ambient()),
	       (int)prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), (int)prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), getauxval(AT_SECURE),
	       (int)prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), pdeathsig, agrees ? "ok" : "bad");
}

static void exec_root(void)
{
	prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
	exec_show("root");
}

static void exec_root_fewer(void)
{
	lower(0, BIT(CAP_NET_RAW));
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
	exec_show("root, NET_RAW not permitted, KEEPCAPS");
}

static void exec_root_nnp(void)
{
	lower(0, BIT(CAP_NET_RAW));
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	exec_show("root, NET_RAW not permitted, no_new_privs");
}

static void exec_noroot(void)
{
	with_ambient_kill();
	prctl(PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0);
	exec_show("root under SECBIT_NOROOT, ambient KILL");
}

static void exec_bounding(void)
{
	set_inh(BIT(CAP_MKNOD));
	prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0);
	prctl(PR_CAPBSET_DROP, CAP_SYS_TIME, 0, 0, 0);
	exec_show("root, MKNOD and SYS_TIME out of the bounding set, MKNOD inheritable");
}

static void exec_user_ambient(void)
{
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	setuid(1000);
	set_inh(BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_KILL));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0);
	exec_show("uid 1000, ambient NET_BIND_SERVICE");
}

static void exec_user(void)
{
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	setuid(1000);
	exec_show("uid 1000, permitted kept, no ambient");
}

static void exec_euid_root(void)
{
	setresuid(1000, 0, 0);
	exec_show("uid 1000, euid 0");
}

static void exec_ruid_root(void)
{
	setresuid(0, 1000, 1000);
	exec_show("uid 0, euid 1000");
}

static void exec_suid(void)
{
	setresuid(0, 0, 1000);
	exec_show("saved uid 1000");
}

/* An effective gid that is neither the filesystem gid nor a
 * supplementary group: Linux counts the exec as an id change. */
static void exec_egid(void)
{
	with_ambient_kill();
	setgroups(0, NULL);
	setresgid(0, 50, 0);
	setfsgid(0);
	exec_show("egid 50, fsgid 0, ambient KILL");
}

static void exec_egid_nnp(void)
{
	setgroups(0, NULL);
	setresgid(0, 50, 0);
	setfsgid(0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	exec_show("egid 50, fsgid 0, no_new_privs");
}

/* ---- husk run's default set ------------------------------------------- */

static void default_set(void)
{
	struct sets s = get();
	printf("uid %d eff %016llx prm %016llx inh %016llx bnd %016llx amb %016llx\n", getuid(), s.eff, s.prm, s.inh,
	       bounding(), ambient());
	u64 st[5];
	if (status_sets(st) == 0)
		printf("status inh %016llx prm %016llx eff %016llx bnd %016llx amb %016llx\n", st[0], st[1], st[2], st[3],
		       st[4]);
	open_report("read a 0000 file", "/tmp/caps/zero", O_RDONLY);
	attempt("setpriority -5", setpriority(PRIO_PROCESS, 0, -5));
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	/* Below fs.nr_open first: no one may raise it past that. */
	rl.rlim_max -= 2;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_max++;
	attempt("raise the hard RLIMIT_NOFILE", setrlimit(RLIMIT_NOFILE, &rl));
	attempt("setuid(1234)", setuid(1234));
}

/* Files the permission checks use, made as root with every capability. */
static void make_files(void)
{
	mkdir("/tmp/caps", 0755);
	close(open("/tmp/caps/secret", O_WRONLY | O_CREAT, 0600));
	close(open("/tmp/caps/zero", O_WRONLY | O_CREAT, 0));
	chmod("/tmp/caps/zero", 0);
	mkdir("/tmp/caps/zerodir", 0755);
	close(open("/tmp/caps/zerodir/f", O_WRONLY | O_CREAT, 0644));
	chmod("/tmp/caps/zerodir", 0);
	close(open("/tmp/caps/other", O_WRONLY | O_CREAT, 0644));
	chown("/tmp/caps/other", 1000, 1000);
	chmod("/tmp/caps/other", 0644);
	close(open("/tmp/caps/own", O_WRONLY | O_CREAT, 0644));
	close(open("/tmp/caps/noexec", O_WRONLY | O_CREAT, 0644));
	mkdir("/tmp/caps/sticky", 0777);
	chmod("/tmp/caps/sticky", 01777);
	chown("/tmp/caps/sticky", 1001, 1001);
	close(open("/tmp/caps/sticky/f", O_WRONLY | O_CREAT, 0666));
	chown("/tmp/caps/sticky/f", 1000, 1000);
	close(open("/tmp/caps/sgid", O_WRONLY | O_CREAT, 0755));
	chown("/tmp/caps/sgid", 0, 1234);
	chmod("/tmp/caps/sgid", 0755);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 3 && strcmp(argv[1], "show") == 0) {
		full = strtoull(argv[3], NULL, 16);
		show(argv[2]);
		return 0;
	}
	make_files();
	if (argc > 1 && strcmp(argv[1], "default") == 0) {
		default_set();
		return 0;
	}
	full = get().prm;
	printf("start: uid %d, effective is permitted: %s, bounding is permitted: %s, inheritable %s, ambient %s\n",
	       getuid(), get().eff == full ? "yes" : "no", bounding() == full ? "yes" : "no", desc(get().inh),
	       desc(ambient()));
	printf("capget and capset versions:\n");
	versions();
	in_child("capset rules", capset_rules);
	in_child("capget of another process", capget_other);
	in_child("the bounding set", bounding_set);
	in_child("ambient capabilities", ambient_set);
	in_child("securebits", securebits);
	in_child("setuid(1000) as root", setuid_plain);
	in_child("setuid(1000) with KEEPCAPS", setuid_keepcaps);
	in_child("seteuid", seteuid_both_ways);
	in_child("setresuid keeping saved uid 0", setresuid_saved);
	in_child("setreuid", setreuid_all);
	in_child("setfsuid", setfsuid_fs);
	in_child("SECBIT_NO_SETUID_FIXUP", no_setuid_fixup);
	in_child("DAC_OVERRIDE and DAC_READ_SEARCH", dac);
	in_child("CHOWN and FOWNER", chown_fowner);
	in_child("FSETID", fsetid);
	in_child("KILL, SETUID and SETGID", kill_setid);
	in_child("SYS_NICE and IPC_OWNER", nice_ipc);
	in_child("execve", exec_root);
	in_child("execve", exec_root_fewer);
	in_child("execve", exec_root_nnp);
	in_child("execve", exec_noroot);
	in_child("execve", exec_bounding);
	in_child("execve", exec_user_ambient);
	in_child("execve", exec_user);
	in_child("execve", exec_euid_root);
	in_child("execve", exec_ruid_root);
	in_child("execve", exec_suid);
	in_child("execve", exec_egid);
	in_child("execve", exec_egid_nnp);
	printf("done\n");
	return 0;
}
