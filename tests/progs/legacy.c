/* The legacy calls: sysfs(2) against /proc/filesystems, ustat(2) of
 * mounted filesystems and its errors, personality(2) (inherited by fork,
 * READ_IMPLIES_EXEC cleared by execve, READ_IMPLIES_EXEC making readable
 * mappings executable, STICKY_TIMEOUTS keeping select's and ppoll's
 * timeouts and not restarting them), and vhangup(2) of a pseudo-terminal
 * that is the caller's controlling terminal. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <sys/ioctl.h>

#define BAD_ADDR ((void *)-1)

struct kernel_ustat {
	int f_tfree;
	unsigned long f_tinode;
	char f_fname[6];
	char f_fpack[6];
};

static long sys_sysfs(int option, unsigned long a1, unsigned long a2)
{
	return syscall(SYS_sysfs, option, a1, a2);
}

static long sys_ustat(unsigned dev, void *buf)
{
	return syscall(SYS_ustat, dev, buf);
}

static unsigned long get_personality(void)
{
	return (unsigned int)syscall(SYS_personality, 0xffffffffUL);
}

static void test_sysfs(void)
{
	/* /proc/filesystems lists the types in sysfs(2)'s order. */
	FILE *f = fopen("/proc/filesystems", "r");
	if (!f) {
		printf("open /proc/filesystems: %s\n", errname(errno));
		return;
	}
	char line[256];
	long n = 0;
	int names_ok = 1;
	while (fgets(line, sizeof line, f)) {
		char *name = strchr(line, '\t');
		if (!name)
			continue;
		name++;
		name[strcspn(name, "\n")] = 0;
		char buf[64] = { 0 };
		if (sys_sysfs(2, n, (unsigned long)buf) != 0 || strcmp(buf, name) != 0)
			names_ok = 0;
		if (sys_sysfs(1, (unsigned long)name, 0) != n)
			names_ok = 0;
		n++;
	}
	fclose(f);
	CHECK("sysfs(3) counts /proc/filesystems' types", sys_sysfs(3, 0, 0) == n);
	CHECK("sysfs(2) names and sysfs(1) numbers each in order", names_ok);
	char buf[64];
	report("sysfs(1, \"ext0\")", sys_sysfs(1, (unsigned long)"ext0", 0));
	report("sysfs(1, \"\")", sys_sysfs(1, (unsigned long)"", 0));
	report("sysfs(1, a bad address)", sys_sysfs(1, (unsigned long)BAD_ADDR, 0));
	report("sysfs(2, past the last)", sys_sysfs(2, n, (unsigned long)buf));
	report("sysfs(2, 1 << 32 (the index is an unsigned int))", sys_sysfs(2, 1UL << 32, (unsigned long)buf));
	report("sysfs(2, 0, a bad address)", sys_sysfs(2, 0, (unsigned long)BAD_ADDR));
	report("sysfs(0)", sys_sysfs(0, 0, 0));
	report("sysfs(4)", sys_sysfs(4, 0, 0));
}

static void test_ustat(void)
{
	struct stat st;
	struct kernel_ustat u;
	stat("/", &st);
	report("ustat of /'s device", sys_ustat(st.st_dev, &u));
	stat("/proc", &st);
	memset(&u, 0x55, sizeof u);
	long r = sys_ustat(st.st_dev, &u);
	report("ustat of /proc's device", r);
	CHECK("/proc: no free blocks or inodes, no names", r == 0 && u.f_tfree == 0 && u.f_tinode == 0 &&
	      u.f_fname[0] == 0 && u.f_fpack[5] == 0);
	report("ustat of device -1", sys_ustat(-1, &u));
	report("ustat of /dev/null's rdev (no filesystem)", sys_ustat(makedev(1, 3), &u));
	stat("/", &st);
	report("ustat of /'s device into a bad address", sys_ustat(st.st_dev, BAD_ADDR));
}

/* The permissions /proc/self/maps shows for the mapping at addr. */
static void maps_perms(void *addr, char *perms)
{
	strcpy(perms, "????");
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char p[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && lo == (unsigned long)addr) {
			strcpy(perms, p);
			break;
		}
	}
	fclose(f);
}

static void test_personality(const char *self)
{
	printf("initial personality: %#lx\n", get_personality());
	printf("personality(PER_BSD) returns the old: %#lx\n", (unsigned long)syscall(SYS_personality, PER_BSD));
	printf("now: %#lx\n", get_personality());
	/* Any value is taken: Linux checks none. */
	syscall(SYS_personality, 0x7fff1234UL);
	printf("after 0x7fff1234: %#lx\n", get_personality());
	syscall(SYS_personality, PER_BSD);

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("a fork child's: %#lx\n", get_personality());
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);

	/* READ_IMPLIES_EXEC: PROT_READ maps (and mprotects) executable. */
	syscall(SYS_personality, PER_BSD | READ_IMPLIES_EXEC);
	char perms[5];
	void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	maps_perms(m, perms);
	printf("READ_IMPLIES_EXEC: a PROT_READ mapping is %s\n", perms);
	mprotect(m, 4096, PROT_READ | PROT_WRITE);
	maps_perms(m, perms);
	printf("READ_IMPLIES_EXEC: mprotect(PROT_READ | PROT_WRITE) makes it %s\n", perms);
	void *w = mmap(NULL, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	maps_perms(w, perms);
	printf("READ_IMPLIES_EXEC: a PROT_WRITE mapping is %s\n", perms);
	munmap(m, 4096);
	munmap(w, 4096);

	/* execve keeps the personality, less READ_IMPLIES_EXEC. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "exec-child", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("exec child: %s\n", status_str(st));
	syscall(SYS_personality, PER_LINUX);

	/* STICKY_TIMEOUTS: the timeouts stay as given. */
	struct timeval tv = { 0, 10000 };
	select(0, NULL, NULL, NULL, &tv);
	printf("select's timeout after it, PER_LINUX: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	syscall(SYS_personality, PER_LINUX | STICKY_TIMEOUTS);
	tv.tv_sec = 0;
	tv.tv_usec = 10000;
	select(0, NULL, NULL, NULL, &tv);
	printf("select's timeout after it, STICKY_TIMEOUTS: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	struct timespec ts = { 0, 10000000 };
	syscall(SYS_ppoll, NULL, 0, &ts, NULL, 8);
	printf("ppoll's timeout after it, STICKY_TIMEOUTS: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	ts.tv_sec = 0;
	ts.tv_nsec = 10000000;
	syscall(SYS_pselect6, 0, NULL, NULL, NULL, &ts, NULL);
	printf("pselect6's timeout after it, STICKY_TIMEOUTS: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);

	/* A stop and continue restarts a select, unless its timeout is
	 * sticky: then it fails with EINTR. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct timeval t2 = { 3, 0 };
		int r = select(0, NULL, NULL, NULL, &t2);
		printf("STICKY_TIMEOUTS select, stopped and continued: %s\n", r == -1 ? errname(errno) : "0");
		fflush(stdout);
		_exit(0);
	}
	stop_then_continue(pid);
	waitpid(pid, &st, 0);
	syscall(SYS_personality, PER_LINUX);
}

static volatile sig_atomic_t hups;

static void on_hup(int sig)
{
	(void)sig;
	hups++;
}

static void test_vhangup(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		setuid(65534);
		report("vhangup as uid 65534", syscall(SYS_vhangup));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);

	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		printf("posix_openpt: %s\n", errname(errno));
		return;
	}
	char name[64];
	ptsname_r(master, name, sizeof name);
	pid = fork();
	if (pid == 0) {
		setsid();
		report("vhangup without a controlling terminal", syscall(SYS_vhangup));
		int fd = open(name, O_RDWR); /* becomes the controlling terminal */
		signal(SIGHUP, on_hup);
		write(master, "typed\n", 6);
		usleep(100000);
		int avail = -1;
		ioctl(fd, FIONREAD, &avail);
		printf("input waiting before: %d\n", avail);
		report("vhangup with a controlling terminal", syscall(SYS_vhangup));
		printf("SIGHUPs to the session leader: %d\n", (int)hups);
		char c;
		long n = read(fd, &c, 1);
		printf("read of the hung-up fd: %ld\n", n);
		report("write to it", write(fd, "x", 1));
		struct termios tio;
		report("tcgetattr on it", tcgetattr(fd, &tio));
		report("FIONREAD on it", ioctl(fd, FIONREAD, &avail));
		pid_t pg = getpgrp();
		report("TIOCSPGRP on it", ioctl(fd, TIOCSPGRP, &pg));
		int on = 1;
		report("FIONBIO on it", ioctl(fd, FIONBIO, &on));
		struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
		poll(&p, 1, 0);
		printf("poll: %#x\n", p.revents);
		int fd2 = open(name, O_RDWR | O_NOCTTY);
		report("open the replica again", fd2);
		/* It is nobody's controlling terminal any more. */
		report("tcgetsid of it", tcgetsid(fd2));
		avail = -1;
		ioctl(fd2, FIONREAD, &avail);
		printf("input waiting after: %d\n", avail);
		report("write through the new fd", write(fd2, "y", 1));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	printf("vhangup child: %s\n", status_str(st));
	char buf[64];
	usleep(100000);
	fcntl(master, F_SETFL, O_NONBLOCK);
	long n = read(master, buf, sizeof buf);
	printf("master read: %ld\n", n);
	close(master);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
		printf("after execve: %#lx\n", get_personality());
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_sysfs();
	test_ustat();
	test_personality(argv[0]);
	test_vhangup();
	return 0;
}
