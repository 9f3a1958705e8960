/* The vDSO: each process has one (AT_SYSINFO_EHDR), an ELF shared object
 * exporting the LINUX_2.6 clock functions, mapped as [vdso] above its
 * [vvar] page; the clocks it serves never go back and agree with the
 * syscalls' (within 5 ms); its clock_getres and gettimeofday's time zone
 * are the syscalls'; the parameter page cannot be made writable. The same
 * natively and under Husk. */
#include "common.h"

#include <elf.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

static long long ns_of(struct timespec t)
{
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Whether the vDSO's dynamic string table names `name`. */
static int names(const unsigned char *base, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	unsigned long load = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
	}
	if (!dyn)
		return 0;
	const char *strtab = NULL;
	unsigned long strsz = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_STRTAB)
			strtab = (const char *)base + (dyn->d_un.d_ptr - load);
		if (dyn->d_tag == DT_STRSZ)
			strsz = dyn->d_un.d_val;
	}
	for (unsigned long i = 0; strtab && i < strsz; i += strlen(strtab + i) + 1)
		if (strcmp(strtab + i, name) == 0)
			return 1;
	return 0;
}

/* The first address of the mapping /proc/self/maps names `tag`. */
static unsigned long mapping(const char *tag, char *perms)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long start = 0;
	while (f && fgets(line, sizeof line, f)) {
		if (strstr(line, tag)) {
			sscanf(line, "%lx-%*lx %4s", &start, perms);
			break;
		}
	}
	if (f)
		fclose(f);
	return start;
}

int main(void)
{
	/* Time for Husk's timekeeper to calibrate (50 ms after boot), so that
	 * the clocks below are read in the process, not by syscall. */
	usleep(200000);
	const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	printf("AT_SYSINFO_EHDR set: %d\n", base != NULL);
	if (!base)
		return 1;
	CHECK("an ELF shared object", memcmp(base, ELFMAG, SELFMAG) == 0 && ((Elf64_Ehdr *)base)->e_type == ET_DYN);
	const char *want[] = { "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_getcpu",
			       "__vdso_clock_getres", "LINUX_2.6", "linux-vdso.so.1" };
	for (unsigned i = 0; i < sizeof want / sizeof *want; i++)
		printf("names %s: %d\n", want[i], names(base, want[i]));
	char vdso_perms[8] = "", vvar_perms[8] = "";
	unsigned long vdso = mapping("[vdso]", vdso_perms), vvar = mapping("[vvar]", vvar_perms);
	printf("[vdso] at AT_SYSINFO_EHDR: %d, %.3s\n", vdso == (unsigned long)base, vdso_perms);
	printf("[vvar] below it: %d, %.3s\n", vvar != 0 && vvar < vdso, vvar_perms);

	clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_COARSE,
			       CLOCK_MONOTONIC_COARSE };
	const char *clock_names[] = { "REALTIME", "MONOTONIC", "BOOTTIME", "REALTIME_COARSE", "MONOTONIC_COARSE" };
	for (unsigned c = 0; c < 5; c++) {
		struct timespec a, b, prev = { 0, 0 };
		int back = 0;
		for (int i = 0; i < 200000; i++) {
			clock_gettime(clocks[c], &a);
			if (c != 0 && c != 3 && ns_of(a) < ns_of(prev))
				back++;
			prev = a;
		}
		clock_gettime(clocks[c], &a);
		syscall(SYS_clock_gettime, clocks[c], &b);
		long long d = ns_of(b) - ns_of(a);
		printf("%s: never back %d, the syscall's within 5 ms %d\n", clock_names[c], back == 0,
		       d > -5000000 && d < 5000000);
		struct timespec r1, r2;
		clock_getres(clocks[c], &r1);
		syscall(SYS_clock_getres, clocks[c], &r2);
		printf("%s: clock_getres as the syscall's %d\n", clock_names[c], ns_of(r1) == ns_of(r2));
	}
	struct timeval tv;
	struct timezone tz = { 99, 99 };
	gettimeofday(&tv, &tz);
	time_t t = time(NULL);
	/* time() reads the coarse clock, up to a tick behind gettimeofday's:
	 * across a second boundary it may name the second before. */
	printf("gettimeofday and time agree: %d, zone %d %d\n", t - tv.tv_sec <= 1 && tv.tv_sec - t <= 1, tz.tz_minuteswest,
	       tz.tz_dsttime);
	unsigned cpu = 99, node = 99;
	printf("getcpu: %d, node %u\n", getcpu(&cpu, &node) == 0 && cpu < 4096, node);
	/* The parameter page stays read-only (whether the code may be made
	 * writable depends on the kernel's configuration: sealed or not). */
	report("mprotect [vvar] writable", mprotect((void *)vvar, 4096, PROT_READ | PROT_WRITE));
	struct timespec after;
	CHECK("clock_gettime after", clock_gettime(CLOCK_MONOTONIC, &after) == 0 && ns_of(after) > 0);
	return 0;
}
