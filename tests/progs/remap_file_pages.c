/* remap_file_pages(2), which LTP's shmctl05 races against IPC_RMID: as
 * Linux 4.0 and later emulate it, the file is mapped again over the range
 * at the page asked for; EINVAL for a prot but 0, an empty range, a
 * private or anonymous or missing mapping; a System V segment marked for
 * removal whose last mapping that was cannot be mapped again (EINVAL, the
 * range left unmapped). */
#include "common.h"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

static long rfp(void *addr, size_t size, int prot, size_t pgoff, int flags)
{
	return syscall(SYS_remap_file_pages, addr, size, prot, pgoff, flags);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	long page = sysconf(_SC_PAGESIZE);

	int fd = open("/tmp/rfp", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[4096];
	for (int i = 0; i < 3; i++) {
		memset(buf, 'a' + i, sizeof buf);
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			return 1;
	}
	char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	report("remap page 0 to the file's page 2", rfp(m, page, 0, 2, 0));
	printf("the pages read: %c %c %c\n", m[0], m[page], m[2 * page]);
	m[0] = 'X';
	char c = 0;
	pread(fd, &c, 1, 2 * page);
	printf("a write through it reaches the file's page 2: %s\n", c == 'X' ? "yes" : "no");
	report("remap two pages from an unaligned start", rfp(m + page + 5, 2 * page, 0, 0, 0));
	printf("the pages read: %c %c %c\n", m[0], m[page], m[2 * page]);
	report("remap with a prot", rfp(m, page, PROT_READ, 0, 0));
	report("remap of 0 bytes", rfp(m, 0, 0, 0, 0));
	report("remap past the mapping's end", rfp(m, 4 * page, 0, 0, 0));
	char *priv = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
	report("remap of a private file mapping", rfp(priv, page, 0, 0, 0));
	char *anon = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report("remap of private anonymous memory", rfp(anon, page, 0, 0, 0));
	munmap(anon, page);
	report("remap of an unmapped page", rfp(anon, page, 0, 0, 0));

	int id = shmget(IPC_PRIVATE, page, IPC_CREAT | 0600);
	char *shm = shmat(id, NULL, 0);
	shm[0] = 'S';
	report("remap of a System V segment", rfp(shm, page, 0, 0, 0));
	printf("its byte: %c\n", shm[0]);
	struct shmid_ds ds;
	shmctl(id, IPC_STAT, &ds);
	printf("nattch: %lu\n", (unsigned long)ds.shm_nattch);
	shmctl(id, IPC_RMID, NULL);
	report("remap of the removed segment's last mapping", rfp(shm, page, 0, 0, 0));
	unsigned char vec;
	report("mincore of the range then", mincore(shm, page, &vec));
	report("shmdt then", shmdt(shm));
	report("shmctl IPC_STAT of the segment then", shmctl(id, IPC_STAT, &ds));
	printf("done\n");
	return 0;
}
