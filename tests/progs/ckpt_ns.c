/* Namespaces kept across a checkpoint: a time namespace with offsets
 * (its child's clocks, by syscall and through libc's vDSO, stay 1000 s
 * and 2000 s on from its parent's; its offsets stay fixed; a child
 * forked after the restore enters it too) and a UTS namespace with its
 * own host name; and open namespace files: the process's own UTS and
 * network namespaces', and one of a UTS namespace only that file holds
 * (its maker gone). Says "ready" and waits for SIGUSR1 (a checkpoint and a
 * restore come in between). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_wait.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

static double sys_now(clockid_t c)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double libc_now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *yes(int c)
{
	return c ? "yes" : "no";
}

/* In the time namespace: reads the parent's clocks from `in`, compares. */
static void check_clocks(int in, const char *who)
{
	double parent[2];
	if (read(in, parent, sizeof parent) != sizeof parent) {
		printf("%s: no clocks from the parent\n", who);
		return;
	}
	double m = sys_now(CLOCK_MONOTONIC) - parent[0], ml = libc_now(CLOCK_MONOTONIC) - parent[0];
	double b = libc_now(CLOCK_BOOTTIME) - parent[1];
	printf("%s: CLOCK_MONOTONIC 1000 s on: %s (syscall), %s (libc)\n", who, yes(m > 999.9 && m < 1002),
	       yes(ml > 999.9 && ml < 1002));
	printf("%s: CLOCK_BOOTTIME 2000 s on: %s\n", who, yes(b > 1999.9 && b < 2002));
}

static void send_clocks(int out)
{
	double now[2] = { sys_now(CLOCK_MONOTONIC), sys_now(CLOCK_BOOTTIME) };
	if (write(out, now, sizeof now) != sizeof now)
		printf("write to the child failed\n");
}

static int offsets_writable(void)
{
	int fd = open("/proc/self/timens_offsets", O_WRONLY);
	int ok = write(fd, "monotonic 5 0", 13) == 13;
	close(fd);
	return ok;
}

/* Whether the open namespace file `fd` is the namespace /proc/self/ns/NAME
 * names. */
static const char *is_own(int fd, const char *name)
{
	char path[64], link[64] = "";
	snprintf(path, sizeof path, "/proc/self/ns/%s", name);
	struct stat st;
	if (readlink(path, link, sizeof link - 1) < 0 || fstat(fd, &st) != 0)
		return "unknown";
	char *open_bracket = strchr(link, '[');
	unsigned long ino = open_bracket ? strtoul(open_bracket + 1, NULL, 10) : 0;
	return yes(ino == st.st_ino);
}

/* An open file of a UTS namespace whose only process is gone. */
static int held_uts_namespace(void)
{
	int go[2], done[2];
	char c;
	if (pipe(go) || pipe(done))
		return -1;
	pid_t maker = fork();
	if (maker == 0) {
		if (unshare(CLONE_NEWUTS) != 0 || sethostname("held-only", 9) != 0)
			_exit(1);
		if (write(go[1], "u", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	if (read(go[0], &c, 1) != 1)
		return -1;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/uts", maker);
	int fd = open(path, O_RDONLY);
	if (write(done[1], "d", 1) != 1)
		return -1;
	waitpid(maker, NULL, 0);
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);
	return fd;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	ckpt_block_usr1();
	if (unshare(CLONE_NEWTIME | CLONE_NEWUTS) != 0) {
		printf("unshare: %s\n", strerrorname_np(errno));
		return 1;
	}
	int fd = open("/proc/self/timens_offsets", O_WRONLY);
	const char *offsets = "monotonic 1000 0\nboottime 2000 0\n";
	if (write(fd, offsets, strlen(offsets)) < 0) {
		printf("timens_offsets: %s\n", strerrorname_np(errno));
		return 1;
	}
	close(fd);
	sethostname("ns-kept", 7);
	char before[64] = "";
	if (readlink("/proc/self/ns/time_for_children", before, sizeof before - 1) < 0)
		return 1;
	int p[2];
	if (pipe(p) != 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		ckpt_wait_usr1();
		/* The vDSO's page is calibrated by now. */
		usleep(300000);
		check_clocks(p[0], "child");
		printf("child: its offsets still fixed: %s\n", yes(!offsets_writable()));
		return 0;
	}
	int uts_fd = open("/proc/self/ns/uts", O_RDONLY);
	int net_fd = open("/proc/self/ns/net", O_RDONLY);
	int held_fd = held_uts_namespace();
	if (uts_fd < 0 || net_fd < 0 || held_fd < 0) {
		printf("namespace files: %s\n", strerrorname_np(errno));
		return 1;
	}
	/* Long enough for the vDSO's page to be calibrated. */
	usleep(300000);
	printf("ready\n");
	ckpt_wait_usr1();
	usleep(300000);
	kill(child, SIGUSR1);
	send_clocks(p[1]);
	int st;
	waitpid(child, &st, 0);
	struct utsname u;
	uname(&u);
	printf("hostname: %s\n", u.nodename);
	char after[64] = "";
	if (readlink("/proc/self/ns/time_for_children", after, sizeof after - 1) < 0)
		return 1;
	printf("time_for_children the same namespace: %s\n", yes(strcmp(before, after) == 0));
	char own[64] = "";
	if (readlink("/proc/self/ns/time", own, sizeof own - 1) < 0)
		return 1;
	printf("the parent still outside it: %s\n", yes(strcmp(own, after) != 0));
	child = fork();
	if (child == 0) {
		check_clocks(p[0], "a child forked after");
		return 0;
	}
	send_clocks(p[1]);
	waitpid(child, &st, 0);
	printf("the open uts file is its namespace: %s\n", is_own(uts_fd, "uts"));
	printf("the open net file is its namespace: %s\n", is_own(net_fd, "net"));
	child = fork();
	if (child == 0) {
		if (setns(held_fd, CLONE_NEWUTS) != 0) {
			printf("setns: %s\n", strerrorname_np(errno));
			return 1;
		}
		uname(&u);
		printf("in the namespace only a file held: %s\n", u.nodename);
		return 0;
	}
	waitpid(child, &st, 0);
	double m = libc_now(CLOCK_MONOTONIC) - sys_now(CLOCK_MONOTONIC);
	printf("the parent's clocks unshifted: %s\n", yes(m > -1 && m < 1));
	return 0;
}
