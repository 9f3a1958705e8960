/*
 * What a fault's signal frame says of the fault, beyond si_addr, as Linux
 * writes it: on x86_64 the sigcontext's trapno and err (the page fault's
 * error code: present, write, user, instruction fetch); on arm64 the
 * esr_context record with the Exception Syndrome Register (its class,
 * data or instruction abort from EL0, and the write bit). Garbage
 * collectors and JITs read them to tell a write fault from a read. Each
 * case faults once in a fresh mapping; the handler records the frame's
 * view and jumps back out. What depends on the host's page tables at that
 * moment (x86_64's present bit, arm64's translation or permission fault)
 * is left out: no two kernels need agree on it.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile int got_sig;
static volatile uint64_t got_trapno, got_err, got_esr;
static volatile int got_esr_record;

#if defined(__aarch64__)
#define ESR_MAGIC 0x45535201
struct record {
	uint32_t magic, size;
};
#endif

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)si;
	got_sig = sig;
#if defined(__x86_64__)
	got_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	got_err = uc->uc_mcontext.gregs[REG_ERR];
#elif defined(__aarch64__)
	got_esr_record = 0;
	for (size_t at = 0; at + sizeof(struct record) <= sizeof uc->uc_mcontext.__reserved;) {
		struct record *r = (struct record *)(uc->uc_mcontext.__reserved + at);
		if (r->magic == 0 || r->size == 0)
			break;
		if (r->magic == ESR_MAGIC) {
			got_esr_record = 1;
			got_esr = *(uint64_t *)(r + 1);
		}
		at += r->size;
	}
#else
	(void)uc;
#endif
	siglongjmp(back, 1);
}

static void report(const char *what)
{
#if defined(__x86_64__)
	/* err's bits: 2 write, 4 user, 16 instruction fetch (1, present,
	 * left out). */
	printf("%s: sig %d, trapno %lu, err %#lx\n", what, got_sig, (unsigned long)got_trapno,
	       (unsigned long)(got_err & 0x16));
#elif defined(__aarch64__)
	unsigned ec = (got_esr >> 26) & 0x3f, wnr = (got_esr >> 6) & 1;
	printf("%s: sig %d, esr record %d, class %#x, write %u\n", what, got_sig, got_esr_record, ec,
	       ec == 0x24 ? wnr : 0);
#else
	printf("%s: sig %d\n", what, got_sig);
#endif
}

static char *fresh(int prot)
{
	char *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		_exit(1);
	}
	return p;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);

	char *none = fresh(PROT_READ | PROT_WRITE);
	munmap(none, 4096);
	if (!sigsetjmp(back, 1))
		(void)*(volatile char *)none;
	report("read of an unmapped page");
	if (!sigsetjmp(back, 1))
		*(volatile char *)none = 1;
	report("write to an unmapped page");

	char *ro = fresh(PROT_READ);
	if (!sigsetjmp(back, 1))
		*(volatile char *)ro = 1;
	report("write to a read-only page");

	char *noaccess = fresh(PROT_NONE);
	if (!sigsetjmp(back, 1))
		(void)*(volatile char *)noaccess;
	report("read of a PROT_NONE page");

	char *noexec = fresh(PROT_READ | PROT_WRITE);
	if (!sigsetjmp(back, 1))
		((void (*)(void))noexec)();
	report("a call into a page without exec");

	/* A signal that is no fault: Linux's frame keeps the last fault's
	 * trap number and error code (arm64: its ESR) all the same. */
	struct sigaction usr;
	memset(&usr, 0, sizeof usr);
	usr.sa_sigaction = on_fault;
	usr.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &usr, NULL);
	if (!sigsetjmp(back, 1))
		raise(SIGUSR1);
	report("SIGUSR1 after the faults");
	return 0;
}
