/* Kernel keys: add_key, request_key and keyctl in a session keyring of
 * the program's own: user, logon and keyring keys, updates, links and
 * their cycles, reads (whole count, no copy into a short buffer),
 * descriptions, permissions and possession, revocation, expiry,
 * invalidation, searches, the thread, process and session keyrings
 * across threads and fork, and Linux's errors for each. Serial numbers
 * are never printed, only compared. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

typedef int32_t key_serial_t;

#define KEY_SPEC_THREAD_KEYRING -1
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_GROUP_KEYRING -6
#define KEY_SPEC_REQKEY_AUTH_KEY -7

#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_UPDATE 2
#define KEYCTL_REVOKE 3
#define KEYCTL_CHOWN 4
#define KEYCTL_SETPERM 5
#define KEYCTL_DESCRIBE 6
#define KEYCTL_CLEAR 7
#define KEYCTL_LINK 8
#define KEYCTL_UNLINK 9
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11
#define KEYCTL_INSTANTIATE 12
#define KEYCTL_SET_REQKEY_KEYRING 14
#define KEYCTL_SET_TIMEOUT 15
#define KEYCTL_ASSUME_AUTHORITY 16
#define KEYCTL_GET_SECURITY 17
#define KEYCTL_INVALIDATE 21
#define KEYCTL_MOVE 30

static long add_key(const char *type, const char *desc, const void *payload, size_t plen, key_serial_t ring)
{
	return syscall(SYS_add_key, type, desc, payload, plen, ring);
}

static long request_key(const char *type, const char *desc, const char *callout, key_serial_t ring)
{
	return syscall(SYS_request_key, type, desc, callout, ring);
}

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
	return syscall(SYS_keyctl, op, a, b, c, d);
}

static void show_read(const char *label, key_serial_t k)
{
	char buf[64] = { 0 };
	long n = keyctl(KEYCTL_READ, k, (unsigned long)buf, sizeof buf - 1, 0);
	if (n < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %ld '%s'\n", label, n, buf);
}

static void show_describe(const char *label, key_serial_t k)
{
	char buf[128] = { 0 };
	long n = keyctl(KEYCTL_DESCRIBE, k, (unsigned long)buf, sizeof buf, 0);
	if (n < 0)
		printf("%s: %s\n", label, errname(errno));
	else
		printf("%s: %ld '%s'\n", label, n, buf);
}

/* The keys `uid` holds against its quota, and the quota, from
 * /proc/key-users. */
static void quota(unsigned uid, int *used, int *max)
{
	FILE *f = fopen("/proc/key-users", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		unsigned u;
		if (sscanf(line, "%u: %*d %*d/%*d %d/%d", &u, used, max) == 3 && u == uid)
			break;
	}
	if (f)
		fclose(f);
}

static void *other_thread(void *arg)
{
	(void)arg;
	report("another thread's GET_KEYRING_ID(thread, no create)", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0));
	return NULL;
}

int main(void)
{
	long ses = keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
	CHECK("join a new session keyring", ses > 0);
	CHECK("GET_KEYRING_ID(session) is it", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0) == ses);
	show_describe("describe the session keyring", ses);

	/* User keys: add, read, update in place. */
	long k1 = add_key("user", "k1", "hello", 5, KEY_SPEC_SESSION_KEYRING);
	CHECK("add_key user k1", k1 > 0);
	show_read("read k1", k1);
	char small[4] = "xyz";
	long n = keyctl(KEYCTL_READ, k1, (unsigned long)small, 2, 0);
	printf("read k1 into 2 bytes: %ld, buffer untouched: %s\n", n, strcmp(small, "xyz") == 0 ? "yes" : "no");
	printf("read k1's length: %ld\n", keyctl(KEYCTL_READ, k1, 0, 0, 0));
	show_describe("describe k1", k1);
	CHECK("add_key user k1 again updates it", add_key("user", "k1", "bye", 3, KEY_SPEC_SESSION_KEYRING) == k1);
	show_read("read k1", k1);
	report("KEYCTL_UPDATE", keyctl(KEYCTL_UPDATE, k1, (unsigned long)"again", 5, 0));
	show_read("read k1", k1);
	report("KEYCTL_UPDATE of 4097 bytes", keyctl(KEYCTL_UPDATE, k1, (unsigned long)calloc(1, 4097), 4097, 0));

	/* Errors of add_key. */
	report("add_key of type nosuch", add_key("nosuch", "d", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key of type .dead", add_key(".dead", "d", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key of a 32-byte type", add_key("abcdefghijabcdefghijabcdefghijab", "d", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key user of 32768 bytes", add_key("user", "big", calloc(1, 32768), 32768, KEY_SPEC_SESSION_KEYRING));
	report("add_key of 1 MiB", add_key("user", "big", calloc(1, 1 << 20), 1 << 20, KEY_SPEC_SESSION_KEYRING));
	report("add_key user without payload", add_key("user", "np", NULL, 0, KEY_SPEC_SESSION_KEYRING));
	report("add_key user from a NULL payload", add_key("user", "np", NULL, 5, KEY_SPEC_SESSION_KEYRING));
	report("add_key user with an empty description", add_key("user", "", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key keyring with a payload", add_key("keyring", "r", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key keyring .r", add_key("keyring", ".r", NULL, 0, KEY_SPEC_SESSION_KEYRING));
	report("add_key logon without a colon", add_key("logon", "nocolon", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("add_key logon :x", add_key("logon", ":x", "x", 1, KEY_SPEC_SESSION_KEYRING));
	long lg = add_key("logon", "svc:x", "secret", 6, KEY_SPEC_SESSION_KEYRING);
	CHECK("add_key logon svc:x", lg > 0);
	show_read("read the logon key", lg);
	show_describe("describe the logon key", lg);
	report("add_key into a user key", add_key("user", "in", "x", 1, k1));
	report("add_key into key 0", add_key("user", "in", "x", 1, 0));
	report("add_key into the group keyring", add_key("user", "in", "x", 1, KEY_SPEC_GROUP_KEYRING));

	/* Keyrings: links, cycles, reads of their contents. */
	long ring = add_key("keyring", "ring", NULL, 0, KEY_SPEC_SESSION_KEYRING);
	long ring2 = add_key("keyring", "ring2", NULL, 0, ring);
	CHECK("two keyrings, one in the other", ring > 0 && ring2 > 0);
	show_describe("describe ring", ring);
	report("link k1 into ring", keyctl(KEYCTL_LINK, k1, ring, 0, 0));
	key_serial_t ids[4] = { 0 };
	n = keyctl(KEYCTL_READ, ring, (unsigned long)ids, sizeof ids, 0);
	printf("read ring: %ld bytes, ring2 then k1: %s\n", n, ids[0] == ring2 && ids[1] == k1 ? "yes" : "no");
	ids[0] = 0;
	n = keyctl(KEYCTL_READ, ring, (unsigned long)ids, 4, 0);
	printf("read ring into 4 bytes: %ld, nothing copied: %s\n", n, ids[0] == 0 ? "yes" : "no");
	report("link ring into itself", keyctl(KEYCTL_LINK, ring, ring, 0, 0));
	report("link ring into ring2", keyctl(KEYCTL_LINK, ring, ring2, 0, 0));
	report("link into a user key", keyctl(KEYCTL_LINK, ring, k1, 0, 0));
	report("unlink k1 from ring", keyctl(KEYCTL_UNLINK, k1, ring, 0, 0));
	report("unlink k1 from ring again", keyctl(KEYCTL_UNLINK, k1, ring, 0, 0));
	report("move ring2 to the session, excl", keyctl(KEYCTL_MOVE, ring2, ring, KEY_SPEC_SESSION_KEYRING, 1));
	n = keyctl(KEYCTL_READ, ring, 0, 0, 0);
	printf("ring after the move: %ld bytes\n", n);
	long dup = add_key("keyring", "ring2", NULL, 0, ring);
	report("move a second ring2 to the session, excl", keyctl(KEYCTL_MOVE, dup, ring, KEY_SPEC_SESSION_KEYRING, 1));
	report("move with flags 2", keyctl(KEYCTL_MOVE, dup, ring, KEY_SPEC_SESSION_KEYRING, 2));
	report("clear ring", keyctl(KEYCTL_CLEAR, ring, 0, 0, 0));
	printf("ring after clear: %ld bytes\n", keyctl(KEYCTL_READ, ring, 0, 0, 0));
	report("clear a user key", keyctl(KEYCTL_CLEAR, k1, 0, 0, 0));

	/* Searches. */
	long k2 = add_key("user", "k2", "two", 3, ring2);
	CHECK("search the session for k2 (in ring2)",
	      keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"k2", 0) == k2);
	report("search for k3", keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"k3", 0));
	report("search of type nosuch", keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"nosuch", (unsigned long)"k2", 0));
	report("search in a user key", keyctl(KEYCTL_SEARCH, k1, (unsigned long)"user", (unsigned long)"k2", 0));
	CHECK("request_key finds k2", request_key("user", "k2", NULL, 0) == k2);
	CHECK("request_key finds ring2 itself", request_key("keyring", "ring2", NULL, 0) == ring2);
	report("request_key of k3, no callout info", request_key("user", "k3", NULL, 0));
	long r = request_key("user", "k3", "info", KEY_SPEC_SESSION_KEYRING);
	CHECK("request_key of k3 with callout info fails ENOENT (no /sbin/request-key) or ENOKEY",
	      r == -1 && (errno == ENOENT || errno == ENOKEY));
	long neg = keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"k3", 0);
	printf("search for k3 now: %s\n", neg < 0 ? errname(errno) : "found");
	report("request_key of k3 again", request_key("user", "k3", "info", KEY_SPEC_SESSION_KEYRING));
	report("request_key of a keyring with callout info", request_key("keyring", "nosuchring", "info", 0));
	report("request_key of type .x", request_key(".x", "d", NULL, 0));
	report("request_key of type nosuch", request_key("nosuch", "d", NULL, 0));
	report("request_key from a bad description", request_key("user", (char *)-1, NULL, 0));

	/* Revocation, invalidation, expiry. */
	report("revoke k2", keyctl(KEYCTL_REVOKE, k2, 0, 0, 0));
	show_read("read k2", k2);
	show_describe("describe k2", k2);
	report("revoke k2 again", keyctl(KEYCTL_REVOKE, k2, 0, 0, 0));
	report("unlink k2 (revoked) from ring2", keyctl(KEYCTL_UNLINK, k2, ring2, 0, 0));
	long k2b = add_key("user", "k2", "new", 3, ring2);
	CHECK("add_key k2 again makes a new key", k2b > 0 && k2b != k2);
	report("invalidate the new k2", keyctl(KEYCTL_INVALIDATE, k2b, 0, 0, 0));
	/* Linux's garbage collector takes it out of its keyring soon after. */
	sleep_ms(200);
	show_read("read it", k2b);
	long k4 = add_key("user", "k4", "four", 4, KEY_SPEC_SESSION_KEYRING);
	report("set a 1 s timeout on k4", keyctl(KEYCTL_SET_TIMEOUT, k4, 1, 0, 0));
	sleep_ms(2100);
	show_read("read k4 after 2 s", k4);
	report("request_key k4 after its timeout", request_key("user", "k4", NULL, 0));

	/* Permissions and possession. */
	long k5 = add_key("user", "k5", "five", 4, KEY_SPEC_SESSION_KEYRING);
	report("setperm with unknown bits", keyctl(KEYCTL_SETPERM, k5, 0x40000000, 0, 0));
	report("setperm: possessor all but read", keyctl(KEYCTL_SETPERM, k5, 0x3d010000, 0, 0));
	show_read("read it (possessed)", k5);
	report("setperm: possessor all but read and search", keyctl(KEYCTL_SETPERM, k5, 0x35010000, 0, 0));
	show_read("read it (not possessed)", k5);
	show_describe("describe it", k5);
	report("setperm: owner view and read only", keyctl(KEYCTL_SETPERM, k5, 0x00030000, 0, 0));
	show_read("read it as its owner", k5);
	report("update it", keyctl(KEYCTL_UPDATE, k5, (unsigned long)"x", 1, 0));
	report("setperm without setattr", keyctl(KEYCTL_SETPERM, k5, 0x3f010000, 0, 0));
	long k6 = add_key("user", "k6", "six", 3, KEY_SPEC_SESSION_KEYRING);
	report("chown k6 to uid 1000", keyctl(KEYCTL_CHOWN, k6, 1000, -1, 0));
	show_describe("describe k6", k6);
	report("setperm of another's key", keyctl(KEYCTL_SETPERM, k6, 0x3f3f0000, 0, 0));
	printf("KEYCTL_GET_SECURITY: %ld\n", keyctl(KEYCTL_GET_SECURITY, k1, 0, 0, 0));
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		/* The session is inherited; as uid 65534 the keys are reached
		 * through it (possessed), but not chowned or set. */
		/* The saved uid stays root's, to become another user below. */
		setgid(65534);
		setresuid(65534, 65534, 0);
		CHECK("the child's session keyring is the parent's",
		      keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0) == ses);
		show_read("uid 65534 reads k1 through the session", k1);
		report("uid 65534 chowns k1 to itself", keyctl(KEYCTL_CHOWN, k1, 65534, -1, 0));
		report("uid 65534 sets k1's permissions", keyctl(KEYCTL_SETPERM, k1, 0x3f3f0000, 0, 0));
		report("the child's process keyring, no create", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0, 0, 0));
		/* The quota of keys: as many as /proc/key-users says, then
		 * EDQUOT. As a uid of this run's own: natively, quotas are the
		 * host's, which other runs share. */
		unsigned uid = 100000 + getpid() % 50000;
		setresuid(0, 0, 0);
		if (setuid(uid) != 0)
			printf("setuid: bad\n");
		keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
		int used = -1, max = -1;
		quota(uid, &used, &max);
		CHECK("the uid's quota of keys in /proc/key-users", used > 0 && max > used);
		int i;
		char desc[16];
		for (i = 0; i < 100000; i++) {
			snprintf(desc, sizeof desc, "q%d", i);
			if (add_key("user", desc, "x", 1, KEY_SPEC_SESSION_KEYRING) < 0)
				break;
		}
		printf("adding keys until one fails: %s\n", errname(errno));
		int after = -1;
		quota(uid, &after, &max);
		CHECK("then the quota is used up exactly", after == max && i == max - used);
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);

	/* Thread and process keyrings. */
	report("GET_KEYRING_ID(thread, no create)", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0));
	long th = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1, 0, 0);
	CHECK("GET_KEYRING_ID(thread, create)", th > 0);
	CHECK("and again, no create", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0, 0, 0) == th);
	show_describe("describe the thread keyring", th);
	pthread_t t;
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	long pk = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1, 0, 0);
	CHECK("GET_KEYRING_ID(process, create)", pk > 0 && pk != th);
	printf("SET_REQKEY_KEYRING(thread): old %ld\n", keyctl(KEYCTL_SET_REQKEY_KEYRING, 1, 0, 0, 0));
	printf("SET_REQKEY_KEYRING(no change): %ld\n", keyctl(KEYCTL_SET_REQKEY_KEYRING, -1, 0, 0, 0));
	report("SET_REQKEY_KEYRING(6)", keyctl(KEYCTL_SET_REQKEY_KEYRING, 6, 0, 0, 0));
	r = request_key("user", "k7", "info", 0);
	printf("request_key k7 with callout info: %s\n", r < 0 && (errno == ENOENT || errno == ENOKEY) ? "failed" : "?");
	n = keyctl(KEYCTL_READ, th, (unsigned long)ids, sizeof ids, 0);
	printf("the thread keyring now holds %ld bytes\n", n);
	show_read("read the negative key", ids[0]);
	show_describe("describe the negative key", ids[0]);

	/* Special ids and other commands. */
	report("GET_KEYRING_ID(0)", keyctl(KEYCTL_GET_KEYRING_ID, 0, 0, 0, 0));
	report("GET_KEYRING_ID(group)", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_GROUP_KEYRING, 0, 0, 0));
	report("GET_KEYRING_ID(reqkey auth)", keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_REQKEY_AUTH_KEY, 0, 0, 0));
	report("GET_KEYRING_ID(-9)", keyctl(KEYCTL_GET_KEYRING_ID, -9, 0, 0, 0));
	key_serial_t none = INT32_MAX;
	while (keyctl(KEYCTL_READ, none, 0, 0, 0) != -1 || errno != ENOKEY)
		none--;
	report("revoke a key that does not exist", keyctl(KEYCTL_REVOKE, none, 0, 0, 0));
	report("describe it", keyctl(KEYCTL_DESCRIBE, none, 0, 0, 0));
	report("INSTANTIATE without authority", keyctl(KEYCTL_INSTANTIATE, k1, (unsigned long)"x", 1, 0));
	report("ASSUME_AUTHORITY(0)", keyctl(KEYCTL_ASSUME_AUTHORITY, 0, 0, 0, 0));
	report("ASSUME_AUTHORITY(k1)", keyctl(KEYCTL_ASSUME_AUTHORITY, k1, 0, 0, 0));
	report("keyctl 1000", keyctl(1000, 0, 0, 0, 0));
	report("join session .x", keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)".x", 0, 0, 0));
	long named = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"husk-keys-test", 0, 0, 0);
	CHECK("join a named session keyring", named > 0 && named != ses);
	show_describe("describe it", named);
	/* Its owner may not search it unpossessed (no user search bit): a
	 * new keyring of that name. */
	long again = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)"husk-keys-test", 0, 0, 0);
	CHECK("join it again: another keyring", again > 0 && again != named);
	return 0;
}
