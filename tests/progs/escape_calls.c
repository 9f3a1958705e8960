/* Attempts to reach past the sandbox through system calls (issue 11's
 * escape suite): each must fail with a Linux errno, or be served inside the
 * sandbox and change nothing on the host (tests/escape.rs checks the host
 * afterwards). One line per attempt: its name and the result.
 *
 * Run as root inside the sandbox. */
#include "common.h"

#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>

/* The result of a raw syscall, as report() prints it. */
#define TRY(label, call) report(label, (long)(call))

int main(void)
{
	/* Mounts and the root. */
	TRY("mount a tmpfs", mount("none", "/mnt", "tmpfs", 0, NULL));
	TRY("mount --bind /", mount("/", "/mnt", NULL, MS_BIND, NULL));
	TRY("umount /", umount2("/", MNT_DETACH));
	TRY("pivot_root", syscall(SYS_pivot_root, ".", "."));
	TRY("open_by_handle_at (shocker)", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
	/* Namespaces. */
	TRY("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	TRY("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	int ns = open("/proc/1/ns/mnt", O_RDONLY);
	TRY("open /proc/1/ns/mnt", ns);
	TRY("setns", setns(ns, 0));
	/* The kernel itself. */
	TRY("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL));
	TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	TRY("init_module", syscall(SYS_init_module, NULL, 0, ""));
	TRY("finit_module", syscall(SYS_finit_module, 0, "", 0));
	TRY("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK));
	TRY("bpf", syscall(SYS_bpf, 0, NULL, 0));
	TRY("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	TRY("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
	TRY("add_key", syscall(SYS_add_key, "user", "husk", "x", 1, -2));
	TRY("userfaultfd", syscall(SYS_userfaultfd, 0));
	TRY("iopl", syscall(SYS_iopl, 3));
	TRY("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
	TRY("swapon", syscall(SYS_swapon, "/tmp", 0));
	TRY("acct", syscall(SYS_acct, "/tmp/acct"));
	TRY("syslog (read the kernel log)", syscall(SYS_syslog, 3, NULL, 0));
	TRY("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0));
	TRY("quotactl", syscall(SYS_quotactl, 0, "/", 0, NULL));
	TRY("mknod /dev/sda-like (8:0)", mknod("/tmp/disk", S_IFBLK | 0600, makedev(8, 0)) == 0 ? open("/tmp/disk", O_RDONLY) : -1);
	TRY("open /dev/mem", open("/dev/mem", O_RDONLY));
	TRY("open /dev/kmsg", open("/dev/kmsg", O_RDONLY));
	/* Time: the host's clock must not move. */
	struct timeval tv = { 1000000000, 0 };
	TRY("settimeofday", settimeofday(&tv, NULL));
	struct timespec ts = { 1000000000, 0 };
	TRY("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
	/* Names: the sandbox's own. */
	TRY("sethostname", sethostname("escaped", 7));
	/* Other processes. */
	TRY("ptrace(PTRACE_ATTACH) of a pid outside", ptrace(PTRACE_ATTACH, 999999, 0, 0));
	TRY("kill of a pid outside", kill(999999, 0));
	struct iovec local = { &ts, sizeof ts }, remote = { (void *)0x1000, sizeof ts };
	TRY("process_vm_readv of a pid outside", syscall(SYS_process_vm_readv, 999999, &local, 1, &remote, 1, 0));
	/* Raw sockets. */
	TRY("socket(AF_PACKET, SOCK_RAW)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
	TRY("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, 1));
	TRY("socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW, 0));
	/* ioctls on each kind of fd. */
	int p[2];
	pipe(p);
	TRY("ioctl(TIOCSTI) on a pipe", ioctl(p[0], TIOCSTI, "x"));
	int f = open("/tmp/ioctl-file", O_RDWR | O_CREAT, 0600);
	TRY("ioctl(FIBMAP) on a file", ioctl(f, 1, &f));
	TRY("ioctl(0xdeadbeef) on a file", ioctl(f, 0xdeadbeef, 0));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	TRY("ioctl(SIOCGIFCONF-like 0x8912) on a socket", ioctl(s, 0x8912, NULL));
	/* fd guessing: only the fds this program opened are there. */
	int open_fds = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			open_fds++;
	printf("fds open: %d\n", open_fds);
	/* Memory. */
	TRY("mmap 64 TiB", mmap(NULL, 1ULL << 46, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0);
	TRY("brk to 64 TiB", (long)syscall(SYS_brk, (void *)(1ULL << 46)) == (1L << 46) ? 0 : -1);
	/* A deep path. */
	int depth = 0;
	if (chdir("/tmp") == 0) {
		for (; depth < 2000; depth++)
			if (mkdir("d", 0755) != 0 || chdir("d") != 0)
				break;
	}
	printf("directories made deep: %s\n", depth == 2000 ? "2000" : "fewer");
	char *deep = malloc(5000);
	memset(deep, 0, 5000);
	for (int i = 0; i < 2100 && strlen(deep) < 4990; i++)
		strcat(deep, "../");
	TRY("stat of a 6000-byte path", stat(deep, &(struct stat){ 0 }));
	printf("done\n");
	return 0;
}
