/* Prints what the loader handed the program: argc/argv, the environment
 * and the deterministic parts of the auxiliary vector. Addresses are never
 * printed; they are compared with what the running binary knows about
 * itself and reported as ok/bad. */
#include "common.h"

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <sys/auxv.h>

extern const ElfW(Ehdr) __ehdr_start;
extern char _start[];
extern char **environ;

int main(int argc, char **argv, char **envp)
{
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	int nenv = 0;
	for (char **e = envp; *e; e++, nenv++)
		printf("env[%d]=%s\n", nenv, *e);
	printf("envc=%d\n", nenv);

	/* The initial stack, as the kernel laid it out: argc, argv[], NULL,
	 * envp[], NULL, auxv[]. glibc's _start passes pointers into it. */
	long *sp = (long *)argv - 1;
	CHECK("initial sp 16-byte aligned", ((uintptr_t)sp & 15) == 0);
	CHECK("argc at initial sp", *sp == argc);
	CHECK("argv NULL-terminated", argv[argc] == NULL);
	CHECK("envp follows argv", envp == argv + argc + 1);
	CHECK("environ is envp", environ == envp);

	/* Walk the auxv on the stack and compare it with getauxval(). */
	ElfW(auxv_t) *av = (ElfW(auxv_t) *)(envp + nenv + 1);
	int seen_pagesz = 0, seen_null = 0;
	for (int i = 0; i < 256; i++) {
		if (av[i].a_type == AT_NULL) {
			seen_null = 1;
			break;
		}
		if (av[i].a_type == AT_PAGESZ)
			seen_pagesz = av[i].a_un.a_val == getauxval(AT_PAGESZ);
	}
	CHECK("auxv follows envp and is AT_NULL-terminated", seen_null);
	CHECK("auxv on stack agrees with getauxval", seen_pagesz);

	printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
	printf("AT_PHENT=%lu\n", getauxval(AT_PHENT));
	printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));
	printf("AT_UID=%lu\n", getauxval(AT_UID));
	printf("AT_EUID=%lu\n", getauxval(AT_EUID));
	printf("AT_GID=%lu\n", getauxval(AT_GID));
	printf("AT_EGID=%lu\n", getauxval(AT_EGID));
	printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
	printf("AT_BASE=%lu\n", getauxval(AT_BASE));
	CHECK("AT_UID is getuid()", getauxval(AT_UID) == (unsigned long)syscall(SYS_getuid));
	CHECK("AT_EUID is geteuid()", getauxval(AT_EUID) == (unsigned long)syscall(SYS_geteuid));
	CHECK("AT_GID is getgid()", getauxval(AT_GID) == (unsigned long)syscall(SYS_getgid));
	CHECK("AT_EGID is getegid()", getauxval(AT_EGID) == (unsigned long)syscall(SYS_getegid));
	CHECK("AT_PHENT is sizeof(Phdr)", getauxval(AT_PHENT) == sizeof(ElfW(Phdr)));

	const char *phdr = (const char *)&__ehdr_start + __ehdr_start.e_phoff;
	CHECK("AT_PHDR is this binary's program headers", getauxval(AT_PHDR) == (uintptr_t)phdr);
	CHECK("AT_PHNUM is e_phnum", getauxval(AT_PHNUM) == __ehdr_start.e_phnum);
	CHECK("AT_ENTRY is _start", getauxval(AT_ENTRY) == (uintptr_t)_start);
	/* A static-pie is linked at 0 and loaded at a bias; a static
	 * executable is loaded where it was linked. */
	uintptr_t bias = __ehdr_start.e_type == ET_DYN ? (uintptr_t)&__ehdr_start : 0;
	CHECK("AT_ENTRY is e_entry plus the load bias", getauxval(AT_ENTRY) == __ehdr_start.e_entry + bias);
	printf("e_type=%s\n", __ehdr_start.e_type == ET_DYN ? "ET_DYN" : "ET_EXEC");

	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	if (rnd) {
		/* Touch all 16 bytes; a bad pointer crashes the program. */
		volatile unsigned sum = 0;
		for (int i = 0; i < 16; i++)
			sum += rnd[i];
		(void)sum;
	}
	CHECK("AT_RANDOM non-null and readable", rnd != NULL);

	const char *execfn = (const char *)getauxval(AT_EXECFN);
	printf("AT_EXECFN=%s\n", execfn ? execfn : "(null)");
	const char *plat = (const char *)getauxval(AT_PLATFORM);
	printf("AT_PLATFORM=%s\n", plat ? plat : "(null)");
	return 0;
}
