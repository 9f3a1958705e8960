/* Keys and keyrings across a checkpoint: a new session keyring with a
 * user key and a keyring holding another, a process keyring's key, a
 * thread keyring's key, a revoked key, a timeout, and request_key's
 * default keyring. After the restore (SIGUSR1) the keys read back with
 * their serial numbers, payloads and descriptions, searches find them, the
 * revoked one says EKEYREVOKED, and a forked child sees the session's but
 * not the process's or the thread's (neither is inherited by fork). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_wait.h"

#define KEY_SPEC_THREAD_KEYRING -1
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_SESSION_KEYRING -3
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_REVOKE 3
#define KEYCTL_DESCRIBE 6
#define KEYCTL_READ 11
#define KEYCTL_SET_REQKEY_KEYRING 14
#define KEYCTL_SET_TIMEOUT 15
#define KEYCTL_SEARCH 10
#define KEY_REQKEY_DEFL_NO_CHANGE -1
#define KEY_REQKEY_DEFL_SESSION_KEYRING 3

static long add(const char *type, const char *desc, const char *payload, long ring)
{
	return syscall(SYS_add_key, type, desc, payload, payload ? strlen(payload) : 0, ring);
}

static long keyctl(int cmd, long a, long b, long c, long d)
{
	return syscall(SYS_keyctl, cmd, a, b, c, d);
}

static void show(const char *what, long key)
{
	char buf[256] = { 0 };
	long n = keyctl(KEYCTL_READ, key, (long)buf, sizeof(buf) - 1, 0);
	if (n < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %.*s\n", what, (int)n, buf);
}

static const char *found(long key, const char *type, const char *desc, long ring)
{
	long s = keyctl(KEYCTL_SEARCH, ring, (long)type, (long)desc, 0);
	if (s < 0)
		return strerror(errno);
	return s == key ? "the same key" : "another key";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	if (keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0) < 0) {
		perror("join session keyring");
		return 2;
	}
	long one = add("user", "ckpt:one", "payload one", KEY_SPEC_SESSION_KEYRING);
	long ring = add("keyring", "ckpt-ring", NULL, KEY_SPEC_SESSION_KEYRING);
	long two = add("user", "ckpt:two", "payload two", ring);
	long proc = add("user", "ckpt:proc", "process's", KEY_SPEC_PROCESS_KEYRING);
	long thr = add("user", "ckpt:thread", "thread's", KEY_SPEC_THREAD_KEYRING);
	long gone = add("user", "ckpt:revoked", "revoked", KEY_SPEC_SESSION_KEYRING);
	if (one < 0 || ring < 0 || two < 0 || proc < 0 || thr < 0 || gone < 0) {
		perror("add_key");
		return 2;
	}
	keyctl(KEYCTL_REVOKE, gone, 0, 0, 0);
	keyctl(KEYCTL_SET_TIMEOUT, two, 100000, 0, 0);
	keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_SESSION_KEYRING, 0, 0, 0);
	printf("ready\n");
	ckpt_wait_usr1();

	show("one", one);
	show("two", two);
	show("the process keyring's", proc);
	show("the thread keyring's", thr);
	show("the revoked one", gone);
	char desc[256] = { 0 };
	keyctl(KEYCTL_DESCRIBE, ring, (long)desc, sizeof(desc) - 1, 0);
	printf("the keyring: %s\n", desc);
	printf("search the session for two: %s\n", found(two, "user", "ckpt:two", KEY_SPEC_SESSION_KEYRING));
	printf("search the process keyring: %s\n", found(proc, "user", "ckpt:proc", KEY_SPEC_PROCESS_KEYRING));
	printf("search the thread keyring: %s\n", found(thr, "user", "ckpt:thread", KEY_SPEC_THREAD_KEYRING));
	printf("request_key's default: %ld\n", keyctl(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_NO_CHANGE, 0, 0, 0));
	long three = add("user", "ckpt:three", "made after", KEY_SPEC_SESSION_KEYRING);
	printf("a new key: %s, a new serial: %s\n", three > 0 ? "made" : strerror(errno),
	       three != one && three != two && three != ring && three != proc && three != thr && three != gone ? "yes"
														: "no");
	pid_t child = fork();
	if (child == 0) {
		printf("the child: session's %s, process's %s, thread's %s\n",
		       found(one, "user", "ckpt:one", KEY_SPEC_SESSION_KEYRING),
		       found(proc, "user", "ckpt:proc", KEY_SPEC_PROCESS_KEYRING),
		       found(thr, "user", "ckpt:thread", KEY_SPEC_THREAD_KEYRING));
		_exit(0);
	}
	waitpid(child, NULL, 0);
	return 0;
}
