/* /proc/self/maps' names, devices and inodes, and the PROCMAP_QUERY ioctl
 * on it (Linux 6.11; what LTP's ioctl10 checks, and its errors): the
 * program's own mappings named by its path with the device and inode
 * stat gives, [heap], [stack] and [vdso]; a query by exact address, none
 * below it, the next one, by rights and by file, the name and the build
 * ID copied out, an anonymous mapping's answer, another process's maps,
 * and each way the argument can be wrong. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

struct procmap_query {
	uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define Q_READABLE 0x01
#define Q_WRITABLE 0x02
#define Q_COVERING_OR_NEXT 0x10
#define Q_FILE_BACKED 0x20

struct line {
	unsigned long start, end, offset, inode;
	unsigned major, minor;
	char perms[5], name[512];
};

/* The first line of /proc/self/maps whose name is `name` ("" for any
 * line, "-" for a line with rights `perms` and a name starting with
 * `name`...). */
static int find(const char *name, const char *perms, struct line *out)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char buf[1024];
	int found = 0;
	while (!found && f && fgets(buf, sizeof(buf), f)) {
		struct line l = { 0 };
		int n = sscanf(buf, "%lx-%lx %4s %lx %x:%x %lu %511[^\n]", &l.start, &l.end, l.perms, &l.offset,
			       &l.major, &l.minor, &l.inode, l.name);
		if (n < 7)
			continue;
		char *nm = l.name;
		while (*nm == ' ')
			nm++;
		memmove(l.name, nm, strlen(nm) + 1);
		if ((!name[0] || strcmp(l.name, name) == 0) && (!perms || strcmp(l.perms, perms) == 0)) {
			*out = l;
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static int query(int fd, struct procmap_query *q)
{
	return ioctl(fd, PROCMAP_QUERY, q) == 0 ? 0 : errno;
}

static const char *err(int e)
{
	static char b[32];
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case E2BIG: return "E2BIG";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ESRCH: return "ESRCH";
	case ENOTTY: return "ENOTTY";
	case EFAULT: return "EFAULT";
	}
	snprintf(b, sizeof(b), "errno %d", e);
	return b;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char exe[512] = { 0 };
	if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) < 0) {
		perror("readlink");
		return 1;
	}
	/* The heap, grown by brk. */
	char *heap = sbrk(8192);
	heap[0] = 1;
	void *anon = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* maps' names: those of files (sorted, once each), and the specials. */
	FILE *f = fopen("/proc/self/maps", "r");
	char buf[1024], *names[64];
	int nnames = 0;
	int heap_seen = 0, stack_seen = 0, vdso_seen = 0;
	while (f && fgets(buf, sizeof(buf), f)) {
		char *slash = strchr(buf, '/'), *nl = strchr(buf, '\n');
		if (nl)
			*nl = 0;
		heap_seen |= strstr(buf, " [heap]") != NULL;
		stack_seen |= strstr(buf, " [stack]") != NULL;
		vdso_seen |= strstr(buf, " [vdso]") != NULL;
		if (!slash)
			continue;
		int dup = 0;
		for (int i = 0; i < nnames; i++)
			dup |= strcmp(names[i], slash) == 0;
		if (!dup && nnames < 64)
			names[nnames++] = strdup(slash);
	}
	if (f)
		fclose(f);
	qsort(names, nnames, sizeof(char *), cmp);
	for (int i = 0; i < nnames; i++)
		printf("mapped file: %s\n", names[i]);
	printf("[heap] %d, [stack] %d, [vdso] %d\n", heap_seen, stack_seen, vdso_seen);

	struct line first;
	if (!find(exe, NULL, &first)) {
		printf("no maps line names %s\n", exe);
		return 1;
	}
	struct stat st;
	stat(exe, &st);
	printf("the program's line: offset %lu, device and inode as stat's: %s\n", first.offset,
	       first.major == major(st.st_dev) && first.minor == minor(st.st_dev) && first.inode == st.st_ino ? "yes"
															: "no");

	int fd = open("/proc/self/maps", O_RDONLY);
	struct procmap_query q;

	/* Exactly at the program's first mapping. */
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = first.start;
	int e = query(fd, &q);
	int rights = (first.perms[0] == 'r') | (first.perms[1] == 'w') << 1 | (first.perms[2] == 'x') << 2 |
		     (first.perms[3] == 's') << 3;
	printf("exact: %s, start %s, end %s, flags %s, page size %llu, offset %s, inode %s, device %s\n", err(e),
	       q.vma_start == first.start ? "same" : "differs", q.vma_end == first.end ? "same" : "differs",
	       q.vma_flags == (uint64_t)rights ? "same" : "differ", (unsigned long long)q.vma_page_size,
	       q.vma_offset == first.offset ? "same" : "differs", q.inode == first.inode ? "same" : "differs",
	       q.dev_major == first.major && q.dev_minor == first.minor ? "same" : "differs");
	printf("query_addr and query_flags kept: %s\n", q.query_addr == first.start && q.query_flags == 0 ? "yes" : "no");

	/* A hole between two mappings: nothing there, then the next one. */
	char *three = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(three + 4096, 4096);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)three + 4096 + 100;
	printf("in a hole: %s\n", err(query(fd, &q)));
	q.query_flags = Q_COVERING_OR_NEXT;
	e = query(fd, &q);
	printf("in a hole, or the next: %s, the one above the hole: %s\n", err(e),
	       q.vma_start == (uintptr_t)three + 2 * 4096 ? "yes" : "no");

	/* From 0, the first file mapping: the program's. */
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = Q_COVERING_OR_NEXT | Q_FILE_BACKED;
	e = query(fd, &q);
	printf("the first file mapping: %s, the program's: %s\n", err(e), q.vma_start == first.start ? "yes" : "no");

	/* A read-only private mapping asked for as writable. */
	struct line ro;
	if (find("", "r--p", &ro)) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_addr = ro.start;
		q.query_flags = Q_WRITABLE;
		printf("a read-only mapping, asked writable: %s\n", err(query(fd, &q)));
		q.query_flags = Q_READABLE;
		printf("the same, asked readable: %s\n", err(query(fd, &q)));
	}

	/* Its name, and its build ID. */
	char name[512], small[4];
	unsigned char id[64];
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = first.start;
	q.vma_name_addr = (uintptr_t)name;
	q.vma_name_size = sizeof(name);
	q.build_id_addr = (uintptr_t)id;
	q.build_id_size = sizeof(id);
	e = query(fd, &q);
	printf("name: %s, size %s, the path: %s\n", err(e), q.vma_name_size == strlen(exe) + 1 ? "strlen + 1" : "wrong",
	       strcmp(name, exe) == 0 ? "yes" : name);
	printf("build ID: %u bytes:", q.build_id_size);
	for (unsigned i = 0; i < q.build_id_size && i < sizeof(id); i++)
		printf(" %02x", id[i]);
	printf("\n");
	q.vma_name_addr = (uintptr_t)small;
	q.vma_name_size = sizeof(small);
	q.build_id_size = 0;
	q.build_id_addr = 0;
	printf("a name buffer of 4: %s\n", err(query(fd, &q)));
	q.build_id_addr = (uintptr_t)id;
	q.build_id_size = 2;
	q.vma_name_size = 0;
	q.vma_name_addr = 0;
	printf("a build ID buffer of 2: %s\n", err(query(fd, &q)));

	/* An anonymous mapping: no file, no name. */
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)anon + 4096;
	q.vma_name_addr = (uintptr_t)name;
	q.vma_name_size = sizeof(name);
	e = query(fd, &q);
	printf("anonymous: %s, covers it: %s, flags %llu, offset %llu, inode %llu, device %u:%u, name size %u\n", err(e),
	       q.vma_start <= (uintptr_t)anon && q.vma_end >= (uintptr_t)anon + 3 * 4096 ? "yes" : "no",
	       (unsigned long long)q.vma_flags, (unsigned long long)q.vma_offset, (unsigned long long)q.inode,
	       q.dev_major, q.dev_minor, q.vma_name_size);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)heap;
	q.vma_name_addr = (uintptr_t)name;
	q.vma_name_size = sizeof(name);
	e = query(fd, &q);
	printf("the heap: %s, named %s\n", err(e), e ? "-" : name);

	/* Wrong arguments. */
	memset(&q, 0, sizeof(q));
	q.query_addr = first.start;
	q.size = 16;
	printf("size 16: %s\n", err(query(fd, &q)));
	q.size = 24;
	printf("size 24: %s\n", err(query(fd, &q)));
	static unsigned char big[8192];
	memcpy(big, &q, sizeof(q));
	((struct procmap_query *)big)->size = 200;
	printf("size 200, zero past the struct: %s\n", err(ioctl(fd, PROCMAP_QUERY, big) ? errno : 0));
	big[150] = 1;
	printf("size 200, not zero past it: %s\n", err(ioctl(fd, PROCMAP_QUERY, big) ? errno : 0));
	((struct procmap_query *)big)->size = 4097;
	printf("size 4097: %s\n", err(ioctl(fd, PROCMAP_QUERY, big) ? errno : 0));
	q.size = sizeof(q);
	q.query_flags = 0x40;
	printf("an unknown flag: %s\n", err(query(fd, &q)));
	q.query_flags = 0;
	q.vma_name_addr = (uintptr_t)name;
	printf("a name address without a size: %s\n", err(query(fd, &q)));
	q.vma_name_addr = 0;
	q.build_id_size = 20;
	printf("a build ID size without an address: %s\n", err(query(fd, &q)));
	printf("a bad argument address: %s\n", err(ioctl(fd, PROCMAP_QUERY, (void *)8) ? errno : 0));
	int status_fd = open("/proc/self/status", O_RDONLY);
	printf("on /proc/self/status: %s\n", err(ioctl(status_fd, PROCMAP_QUERY, &q) ? errno : 0));

	/* Another process's maps, then that process gone. */
	int go[2];
	pipe(go);
	pid_t child = fork();
	if (child == 0) {
		char c;
		read(go[0], &c, 1);
		_exit(0);
	}
	snprintf(buf, sizeof(buf), "/proc/%d/maps", child);
	int cfd = open(buf, O_RDONLY);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = first.start;
	e = query(cfd, &q);
	printf("the child's: %s, the same mapping: %s\n", err(e), q.vma_start == first.start ? "yes" : "no");
	write(go[1], "x", 1);
	waitpid(child, NULL, 0);
	printf("the child's, reaped: %s\n", err(query(cfd, &q)));

	/* /proc/self/fd of a file kept and of one unlinked while open. */
	int kept = open("/tmp/procmap-kept", O_CREAT | O_RDWR, 0600);
	int gone = open("/tmp/procmap-gone", O_CREAT | O_RDWR, 0600);
	unlink("/tmp/procmap-gone");
	for (int i = 0; i < 2; i++) {
		char link[64], target[256] = { 0 };
		snprintf(link, sizeof(link), "/proc/self/fd/%d", i ? gone : kept);
		readlink(link, target, sizeof(target) - 1);
		printf("fd link: %s\n", target);
	}
	unlink("/tmp/procmap-kept");
	/* And of a working directory removed. */
	char cwd[256] = { 0 };
	mkdir("/tmp/procmap-dir", 0700);
	chdir("/tmp/procmap-dir");
	rmdir("/tmp/procmap-dir");
	readlink("/proc/self/cwd", cwd, sizeof(cwd) - 1);
	printf("cwd link: %s\n", cwd);
	chdir("/");
	printf("done\n");
	return 0;
}
