/* Namespaces made inside the sandbox (what LTP's clock_gettime03,
 * clock_nanosleep03, sysinfo03, timerfd04, setns and ioctl_ns tests
 * need): UTS and time namespaces by unshare, their /proc/PID/ns links,
 * setns back, NS_GET_* ioctls, and a time namespace's offsets on
 * clock_gettime (the syscall and libc's vDSO path), absolute sleeps and
 * timers, sysinfo and /proc/uptime. */
#include "common.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <mqueue.h>
#include <sys/ioctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <stdint.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#define NS_GET_USERNS 0xb701
#define NS_GET_PARENT 0xb702
#define NS_GET_NSTYPE 0xb703
#define NS_GET_OWNER_UID 0xb704

static void link_of(const char *path, char *buf, size_t n)
{
	ssize_t r = readlink(path, buf, n - 1);
	buf[r < 0 ? 0 : r] = 0;
}

static double now_sys(clockid_t c)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_libc(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double uptime_proc(void)
{
	double up = -1;
	FILE *f = fopen("/proc/uptime", "r");
	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = -1;
		fclose(f);
	}
	return up;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = write(fd, text, strlen(text)) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static void uts(void)
{
	struct utsname before, after;
	uname(&before);
	char outer[64], inner[64];
	link_of("/proc/self/ns/uts", outer, sizeof outer);
	CHECK("uts link names a uts namespace", strncmp(outer, "uts:[", 5) == 0);
	int old = open("/proc/self/ns/uts", O_RDONLY);
	report("open /proc/self/ns/uts", old);
	struct stat st;
	fstat(old, &st);
	char want[64];
	snprintf(want, sizeof want, "uts:[%lu]", (unsigned long)st.st_ino);
	CHECK("fstat's inode is the link's", strcmp(want, outer) == 0);
	printf("NS_GET_NSTYPE is CLONE_NEWUTS: %s\n", ioctl(old, NS_GET_NSTYPE) == CLONE_NEWUTS ? "ok" : "bad");
	report("NS_GET_PARENT of a uts namespace", ioctl(old, NS_GET_PARENT));
	uid_t uid;
	report("NS_GET_OWNER_UID of a uts namespace", ioctl(old, NS_GET_OWNER_UID, &uid));
	int user = open("/proc/self/ns/user", O_RDONLY);
	report("NS_GET_USERNS of the first user namespace", ioctl(user, NS_GET_USERNS));
	close(user);
	report("setns with another kind's flag", setns(old, CLONE_NEWTIME));

	pid_t pid = fork();
	if (pid == 0) {
		report("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
		link_of("/proc/self/ns/uts", inner, sizeof inner);
		CHECK("a new uts link", strcmp(inner, outer) != 0 && strncmp(inner, "uts:[", 5) == 0);
		report("sethostname in it", sethostname("inner-ns", 8));
		uname(&after);
		printf("hostname in the new namespace: %s\n", after.nodename);
		report("setns back to the first", setns(old, CLONE_NEWUTS));
		uname(&after);
		CHECK("hostname after setns back", strcmp(after.nodename, before.nodename) == 0);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	uname(&after);
	CHECK("the parent's hostname unchanged", strcmp(after.nodename, before.nodename) == 0);
	pid = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		sethostname("cloned", 6);
		uname(&after);
		printf("hostname in clone(CLONE_NEWUTS)'s child: %s\n", after.nodename);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	uname(&after);
	CHECK("the parent's hostname still unchanged", strcmp(after.nodename, before.nodename) == 0);
	close(old);
}

/* Whether /proc/sysvipc/shm lists a segment of `key`. */
static int listed(key_t key)
{
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	char line[512];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		long k;
		if (sscanf(line, "%ld", &k) == 1 && k == key)
			found = 1;
	}
	if (f)
		fclose(f);
	return found;
}

static void ipc(void)
{
	/* Natively, parallel runs may share the host's IPC namespace: a key
	 * and a name of this process's own. */
	key_t key = 0x4e000000 | (getpid() & 0xffffff);
	char qname[32];
	snprintf(qname, sizeof qname, "/ns-queue-%d", (int)getpid());
	int id = shmget(key, 4096, IPC_CREAT | 0600);
	report("shmget in the first IPC namespace", id);
	struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
	mqd_t q = mq_open(qname, O_CREAT | O_RDWR, 0600, &attr);
	report("mq_open in the first IPC namespace", q == (mqd_t)-1 ? -1 : 0);
	CHECK("/proc/sysvipc/shm lists it", listed(key));
	int old = open("/proc/self/ns/ipc", O_RDONLY);
	report("clone(CLONE_NEWIPC | CLONE_SYSVSEM)", syscall(SYS_clone, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0));
	pid_t pid = fork();
	if (pid == 0) {
		report("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
		report("shmget of the key in the new namespace", shmget(key, 0, 0));
		CHECK("/proc/sysvipc/shm does not list it", !listed(key));
		report("mq_open of the queue in the new namespace",
		       mq_open(qname, O_RDWR) == (mqd_t)-1 ? -1 : 0);
		int own = shmget(key, 4096, IPC_CREAT | 0600);
		report("a segment of the same key of its own", own);
		report("setns back to the first", setns(old, CLONE_NEWIPC));
		CHECK("the first namespace's segment again", shmget(key, 0, 0) == id);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK("the parent's segment unchanged", shmget(key, 0, 0) == id);
	shmctl(id, IPC_RMID, NULL);
	mq_close(q);
	mq_unlink(qname);
	close(old);
}

/* clone3(CLONE_NEWTIME): the child is in a new time namespace. */
static void clone3_newtime(void)
{
	char parent[64], child[64];
	link_of("/proc/self/ns/time", parent, sizeof parent);
	uint64_t args[11] = { 0 };
	args[0] = CLONE_NEWTIME;
	args[4] = SIGCHLD;
	int p[2];
	if (pipe(p) != 0)
		return;
	long pid = syscall(435 /* clone3 */, args, 88);
	if (pid == 0) {
		link_of("/proc/self/ns/time", child, sizeof child);
		if (write(p[1], child, sizeof child) < 0)
			_exit(1);
		_exit(0);
	}
	printf("clone3(CLONE_NEWTIME): %s\n", pid < 0 ? errname(errno) : "ok");
	if (pid < 0)
		return;
	waitpid(pid, NULL, 0);
	if (read(p[0], child, sizeof child) != sizeof child)
		child[0] = 0;
	CHECK("clone3's child in a new time namespace", strcmp(parent, child) != 0 && strncmp(child, "time:[", 6) == 0);
	close(p[0]);
	close(p[1]);
}

static void time_ns(void)
{
	char own[64], kids[64], mine[64];
	int first = open("/proc/self/ns/time", O_RDONLY);
	report("open /proc/self/ns/time", first);
	report("timens_offsets of the first time namespace", write_file("/proc/self/timens_offsets", "monotonic 1 0"));
	report("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
	link_of("/proc/self/ns/time", own, sizeof own);
	link_of("/proc/self/ns/time_for_children", kids, sizeof kids);
	CHECK("the caller stays; its children go elsewhere", strcmp(own, kids) != 0 && strncmp(kids, "time:[", 6) == 0);
	report("timens_offsets written",
	       write_file("/proc/self/timens_offsets", "monotonic 100 0\nboottime 200 0\n"));
	errno = 0;
	report("timens_offsets for CLOCK_REALTIME", write_file("/proc/self/timens_offsets", "0 1 0"));
	report("timens_offsets with nanoseconds past a second",
	       write_file("/proc/self/timens_offsets", "monotonic 1 1000000000"));
	char text[200] = "";
	int fd = open("/proc/self/timens_offsets", O_RDONLY);
	ssize_t n = read(fd, text, sizeof text - 1);
	text[n < 0 ? 0 : n] = 0;
	close(fd);
	printf("timens_offsets:\n%s", text);
	/* A process whose children go elsewhere makes no CLONE_VM child. */
	long r = syscall(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	printf("vfork-style clone after unshare(CLONE_NEWTIME): %s\n", r < 0 ? errname(errno) : "ok");

	/* Long enough for Husk's vDSO page to be calibrated: the libc reads
	 * below would take the vDSO's fast path if the child had it. */
	sleep_ms(300);
	double mono = now_sys(CLOCK_MONOTONIC), boot = now_sys(CLOCK_BOOTTIME);
	double raw = now_sys(CLOCK_MONOTONIC_RAW), real = now_sys(CLOCK_REALTIME);
	struct sysinfo si;
	sysinfo(&si);
	long up = si.uptime;
	pid_t pid = fork();
	if (pid == 0) {
		link_of("/proc/self/ns/time", mine, sizeof mine);
		CHECK("the child is in time_for_children", strcmp(mine, kids) == 0);
		double d = now_sys(CLOCK_MONOTONIC) - mono;
		CHECK("CLOCK_MONOTONIC 100 s on (syscall)", d > 99.9 && d < 101);
		d = now_libc(CLOCK_MONOTONIC) - mono;
		CHECK("CLOCK_MONOTONIC 100 s on (libc)", d > 99.9 && d < 101);
		d = now_libc(CLOCK_BOOTTIME) - boot;
		CHECK("CLOCK_BOOTTIME 200 s on", d > 199.9 && d < 201);
		d = now_sys(CLOCK_MONOTONIC_RAW) - raw;
		CHECK("CLOCK_MONOTONIC_RAW 100 s on", d > 99.9 && d < 101);
		d = now_libc(CLOCK_REALTIME) - real;
		CHECK("CLOCK_REALTIME as it was", d > -0.1 && d < 1);
		sysinfo(&si);
		CHECK("sysinfo's uptime 200 s on", si.uptime - up >= 200 && si.uptime - up <= 201);
		double pu = uptime_proc();
		CHECK("/proc/uptime as sysinfo's", pu <= si.uptime && pu > si.uptime - 1.01);
		report("timens_offsets once entered", write_file("/proc/self/timens_offsets", "monotonic 5 0"));

		/* An absolute sleep 50 ms on, on the namespace's clock. */
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		double start = now_sys(CLOCK_MONOTONIC);
		t.tv_nsec += 50000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		report("clock_nanosleep(TIMER_ABSTIME)", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL));
		d = now_sys(CLOCK_MONOTONIC) - start;
		CHECK("slept about 50 ms", d > 0.04 && d < 2);
		int tfd = timerfd_create(CLOCK_BOOTTIME, 0);
		struct itimerspec its = { { 0, 0 }, { 0, 0 } };
		clock_gettime(CLOCK_BOOTTIME, &its.it_value);
		its.it_value.tv_nsec += 50000000;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
		start = now_sys(CLOCK_MONOTONIC);
		report("timerfd_settime(TFD_TIMER_ABSTIME)", timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL));
		uint64_t ticks = 0;
		n = read(tfd, &ticks, 8);
		d = now_sys(CLOCK_MONOTONIC) - start;
		CHECK("the timer fired once, about 50 ms on", n == 8 && ticks == 1 && d > 0.04 && d < 2);
		close(tfd);

		report("setns to the first time namespace", setns(first, CLONE_NEWTIME));
		d = now_libc(CLOCK_MONOTONIC) - mono;
		CHECK("CLOCK_MONOTONIC as the parent's again", d > -0.1 && d < 2);
		link_of("/proc/self/ns/time_for_children", mine, sizeof mine);
		CHECK("time_for_children follows setns", strcmp(mine, own) == 0);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child: %s\n", status_str(status));
	double d = now_libc(CLOCK_MONOTONIC) - mono;
	CHECK("the parent's clock unshifted", d > -0.1 && d < 5);
	report("timens_offsets after a child entered", write_file("/proc/self/timens_offsets", "monotonic 5 0"));
	close(first);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	uts();
	ipc();
	clone3_newtime();
	time_ns();
	char buf[32] = "";
	int fd = open("/proc/sys/user/max_time_namespaces", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	CHECK("max_time_namespaces: a number", atol(buf) > 0);
	printf("done\n");
	return 0;
}
