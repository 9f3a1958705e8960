/* System V shared memory: shmget's creation rules and errors (keys,
 * IPC_EXCL, sizes), shmat at any address, at a fixed one with and without
 * SHM_RND and SHM_REMAP, read-only attaches (a write faults), two attaches
 * of one segment in one process, sharing with fork children (inherited
 * attaches and ones made after the fork), shmdt's errors, shmctl IPC_STAT
 * (size, attach count, pids, mode, owner), IPC_SET, IPC_RMID while
 * attached (SHM_DEST, the key freed, the segment alive until the last
 * detach), IPC_INFO, and the /proc/sys/kernel limits.
 *
 * Natively this runs in the host's IPC namespace, so keys are made from
 * the pid (unique among running processes) and everything created is
 * removed, at exit too. Each check prints "NAME: ok" or "NAME: bad", or
 * the errno name for error cases. */
#include "common.h"
#include "ipc_common.h"

#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define PAGE 4096

/* This program's keys: 0x41, 0x42, ... in the top byte. */
static key_t key_for(int tag)
{
	return pid_key(0x40 + tag);
}

/* The remover of the segments track() records. */
static void remove_segment(int id)
{
	shmctl(id, IPC_RMID, NULL);
}

static struct shmid_ds stat_of(int id)
{
	struct shmid_ds ds;
	memset(&ds, 0xff, sizeof ds);
	shmctl(id, IPC_STAT, &ds);
	return ds;
}

/* shmat's result as report() wants it: -1 on failure. */
static long at(int id, const void *addr, int flags)
{
	void *p = shmat(id, addr, flags);
	return p == (void *)-1 ? -1 : 0;
}

/* The size of the mapping that starts at p, from /proc/self/maps, and
 * its name (the rest of the line) in name. */
static long mapping_size(void *p, char *name, size_t cap)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[512];
	long size = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int off = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2)
			continue;
		if (lo == (unsigned long)p) {
			size = hi - lo;
			snprintf(name, cap, "%s", line + off);
			name[strcspn(name, "\n")] = 0;
			break;
		}
	}
	fclose(f);
	return size;
}

static void creation(void)
{
	key_t k = key_for(1), missing = key_for(2);
	int id = track(shmget(k, 2 * PAGE, IPC_CREAT | IPC_EXCL | 0640));
	report("shmget: a new key, IPC_CREAT|IPC_EXCL", id);
	report("shmget: the key again, IPC_CREAT|IPC_EXCL", shmget(k, 2 * PAGE, IPC_CREAT | IPC_EXCL | 0640));
	CHECK("shmget: the key again, IPC_CREAT: the same id", shmget(k, 2 * PAGE, IPC_CREAT | 0640) == id);
	CHECK("shmget: the key, no flags: the same id", shmget(k, 0, 0) == id);
	CHECK("shmget: the key, a smaller size: the same id", shmget(k, 100, 0) == id);
	report("shmget: the key, a larger size", shmget(k, 3 * PAGE, 0));
	report("shmget: a missing key without IPC_CREAT", shmget(missing, PAGE, 0));
	report("shmget: IPC_PRIVATE, size 0", track(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600)));
	report("shmget: a new key, size 0", track(shmget(missing, 0, IPC_CREAT | 0600)));
	report("shmget: SIZE_MAX bytes", track(shmget(IPC_PRIVATE, SIZE_MAX, IPC_CREAT | 0600)));
	struct shmid_ds ds = stat_of(id);
	CHECK("IPC_STAT: the key", ds.shm_perm.__key == k);
	printf("IPC_STAT of a 2-page keyed segment: segsz %zu, mode %o, nattch %lu\n", ds.shm_segsz,
	       ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	report("IPC_RMID", shmctl(id, IPC_RMID, NULL));
	report("IPC_STAT after IPC_RMID with no attaches", shmctl(id, IPC_STAT, &ds));
	report("shmget: the removed key without IPC_CREAT", shmget(k, PAGE, 0));
}

static void attaches(void)
{
	int id = track(shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600));
	struct shmid_ds ds = stat_of(id);
	printf("IPC_STAT of a new 100-byte segment: segsz %zu, mode %o, nattch %lu\n", ds.shm_segsz,
	       ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	CHECK("IPC_STAT: uid, cuid are mine", ds.shm_perm.uid == getuid() && ds.shm_perm.cuid == getuid());
	CHECK("IPC_STAT: gid, cgid are mine", ds.shm_perm.gid == getgid() && ds.shm_perm.cgid == getgid());
	CHECK("IPC_STAT: cpid is me, lpid 0, no attach or detach time",
	      ds.shm_cpid == me && ds.shm_lpid == 0 && ds.shm_atime == 0 && ds.shm_dtime == 0);
	CHECK("IPC_STAT: ctime set", ds.shm_ctime != 0);

	char *p = shmat(id, NULL, 0);
	CHECK("shmat at NULL", p != (void *)-1);
	CHECK("shmat: page-aligned", ((uintptr_t)p & (PAGE - 1)) == 0);
	int zero = 1;
	for (int i = 0; i < PAGE; i++)
		zero &= p[i] == 0;
	CHECK("a new segment reads as zeros, its whole page", zero);
	char name[256] = "";
	printf("a 100-byte segment's mapping: %ld bytes\n", mapping_size(p, name, sizeof name));
	char want[64];
	snprintf(want, sizeof want, "/SYSV%08x (deleted)", 0);
	CHECK("its /proc/self/maps name: /SYSV00000000 (deleted)", strcmp(name, want) == 0);
	p[4095] = 'e';
	ds = stat_of(id);
	printf("after one shmat: nattch %lu\n", (unsigned long)ds.shm_nattch);
	CHECK("IPC_STAT: lpid is me, atime set", ds.shm_lpid == me && ds.shm_atime != 0);

	char *q = shmat(id, NULL, 0);
	CHECK("a second shmat: another address", q != (void *)-1 && q != p);
	strcpy(p, "through the first");
	CHECK("a write through one attach shows in the other", strcmp(q, "through the first") == 0);
	CHECK("beyond the 100 bytes too", q[4095] == 'e');
	printf("after two: nattch %lu\n", (unsigned long)stat_of(id).shm_nattch);
	report("shmdt of the second", shmdt(q));
	ds = stat_of(id);
	printf("after shmdt: nattch %lu\n", (unsigned long)ds.shm_nattch);
	CHECK("IPC_STAT: dtime set", ds.shm_dtime != 0);
	report("shmdt of it again", shmdt(q));
	report("shmdt of an unaligned address", shmdt(p + 1));
	char *anon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report("shmdt of an anonymous mapping", shmdt(anon));
	munmap(anon, PAGE);

	/* At a fixed address: a free spot found by mapping and unmapping. */
	char *area = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(area, 4 * PAGE);
	report("shmat at an unaligned address", at(id, area + PAGE + 123, 0));
	char *r = shmat(id, area + PAGE + 123, SHM_RND);
	CHECK("shmat with SHM_RND rounds down to SHMLBA", r == area + PAGE);
	CHECK("and shows the segment", strcmp(r, "through the first") == 0);
	shmdt(r);
	char *fixed = shmat(id, area + 2 * PAGE, 0);
	CHECK("shmat at an aligned address: there", fixed == area + 2 * PAGE);
	shmdt(fixed);

	/* Over an existing mapping: only with SHM_REMAP, which replaces it. */
	char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	two[0] = 'a';
	two[PAGE] = 'b';
	report("shmat over a mapping", at(id, two, 0));
	report("shmat at NULL with SHM_REMAP", at(id, NULL, SHM_REMAP));
	char *re = shmat(id, two, SHM_REMAP);
	CHECK("shmat over a mapping with SHM_REMAP: there", re == two);
	CHECK("it replaced the first page, not the second", two[0] == 't' && two[PAGE] == 'b');
	shmdt(re);
	munmap(two, 2 * PAGE);

	report("shmat: id -1", at(-1, NULL, 0));
	report("shmat: a bad id", at(id ^ 0x40000000, NULL, 0));
	report("shmctl: a bad id", shmctl(id ^ 0x40000000, IPC_STAT, &ds));
	report("shmctl: command 12345", shmctl(id, 12345, &ds));

	/* IPC_SET changes the permission bits only. */
	ds = stat_of(id);
	ds.shm_perm.mode = 0644 | 070000;
	report("IPC_SET mode 0644", shmctl(id, IPC_SET, &ds));
	printf("mode after IPC_SET: %o\n", stat_of(id).shm_perm.mode);

	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

static void read_only(void)
{
	int id = track(shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600));
	char *w = shmat(id, NULL, 0);
	strcpy(w, "written");
	char *r = shmat(id, NULL, SHM_RDONLY);
	CHECK("SHM_RDONLY: reads the segment", r != (void *)-1 && strcmp(r, "written") == 0);
	pid_t pid = fork_flushed();
	if (pid == 0) {
		r[0] = 'X';
		_exit(0);
	}
	printf("a write through a SHM_RDONLY attach: %s\n", status_str(wait_child(pid)));
	CHECK("and the segment is unchanged", w[0] == 'w');
	shmdt(r);
	shmdt(w);
	shmctl(id, IPC_RMID, NULL);
}

static void write_from_child(void *p)
{
	strcpy(p, "from the child");
}

static void with_children(void)
{
	int id = track(shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600));
	char *p = shmat(id, NULL, 0);

	/* The child inherits the attach: the count goes up while it lives. */
	int release;
	pid_t pid = fork_held(write_from_child, p, &release);
	printf("with a fork child alive: nattch %lu\n", (unsigned long)stat_of(id).shm_nattch);
	CHECK("the inherited attach shares the child's write", strcmp(p, "from the child") == 0);
	close(release);
	wait_child(pid);
	struct shmid_ds ds = stat_of(id);
	printf("after it exited: nattch %lu\n", (unsigned long)ds.shm_nattch);
	CHECK("lpid: the child (its exit detached)", ds.shm_lpid == pid);

	/* A child that attaches after the fork, by id. */
	shmdt(p);
	pid = fork();
	if (pid == 0) {
		char *c2 = shmat(id, NULL, 0);
		if (c2 == (void *)-1)
			_exit(1);
		strcpy(c2, "attached in the child");
		_exit(shmdt(c2) == 0 ? 0 : 2);
	}
	printf("child attaching by id: %s\n", status_str(wait_child(pid)));
	p = shmat(id, NULL, 0);
	CHECK("its write is in the segment", strcmp(p, "attached in the child") == 0);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

static void remove_while_attached(void)
{
	key_t k = key_for(3);
	int id = track(shmget(k, PAGE, IPC_CREAT | IPC_EXCL | 0600));
	char *p = shmat(id, NULL, 0);
	strcpy(p, "before RMID");
	report("IPC_RMID while attached", shmctl(id, IPC_RMID, NULL));
	struct shmid_ds ds;
	report("IPC_STAT after it", shmctl(id, IPC_STAT, &ds));
	printf("after IPC_RMID: mode %o, nattch %lu\n", ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	CHECK("SHM_DEST is set", (ds.shm_perm.mode & SHM_DEST) != 0);
	CHECK("the key is now IPC_PRIVATE", ds.shm_perm.__key == IPC_PRIVATE);
	report("shmget: the key without IPC_CREAT", shmget(k, PAGE, 0));
	CHECK("the attach still works", strcmp(p, "before RMID") == 0 && (strcpy(p, "after") != NULL));
	char *q = shmat(id, NULL, 0);
	CHECK("shmat of the removed, still attached segment (Linux allows it)", q != (void *)-1 && strcmp(q, "after") == 0);
	printf("nattch then: %lu\n", (unsigned long)stat_of(id).shm_nattch);
	int id2 = track(shmget(k, PAGE, IPC_CREAT | IPC_EXCL | 0600));
	CHECK("the key makes a new segment", id2 >= 0 && id2 != id);
	char *n = shmat(id2, NULL, 0);
	CHECK("which is new (zeros)", n != (void *)-1 && n[0] == 0);
	shmdt(n);
	shmctl(id2, IPC_RMID, NULL);
	shmdt(q);
	report("IPC_STAT with one attach left", shmctl(id, IPC_STAT, &ds));
	shmdt(p);
	report("IPC_STAT after the last shmdt", shmctl(id, IPC_STAT, &ds));
	report("shmat after the last shmdt", at(id, NULL, 0));
	report("IPC_RMID again", shmctl(id, IPC_RMID, NULL));
}

static void limits(void)
{
	print_files("/proc/sys/kernel", "shmmax", "shmall", "shmmni", NULL);
	struct shminfo info;
	memset(&info, 0, sizeof info);
	CHECK("IPC_INFO returns an index", shmctl(0, IPC_INFO, (struct shmid_ds *)&info) >= 0);
	printf("IPC_INFO: shmmax %lu, shmmin %lu, shmmni %lu, shmseg %lu, shmall %lu\n", info.shmmax, info.shmmin,
	       info.shmmni, info.shmseg, info.shmall);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	remove_at_exit(remove_segment);
	creation();
	attaches();
	read_only();
	with_children();
	remove_while_attached();
	limits();
	printf("done\n");
	return 0;
}
