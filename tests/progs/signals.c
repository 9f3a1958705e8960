/* Signal delivery: siginfo from kill, sigqueue and tgkill; sa_mask and
 * blocking; sigpending; rt_sigtimedwait; sigsuspend; SA_RESTART and EINTR
 * on a blocking pipe read; sigaltstack; FPU registers kept across a
 * handler; synchronous SIGSEGV (si_addr), SIGFPE, SIGILL and SIGTRAP
 * caught and longjmp'd out of; default actions.
 *
 *   signals          the checks (exit 0)
 *   signals sigterm  a child sends itself SIGTERM (default action); the
 *                    program exits with 143, as a shell reports that death
 *   signals abort    a child calls abort(): SIGABRT, 134
 * (see die_in_child in common.h for why a child does the dying)
 */
#include "common.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static volatile sig_atomic_t count[65];
static siginfo_t last_info;
static volatile sig_atomic_t order[8], norder;

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	count[sig]++;
	last_info = *si;
	if (norder < 8)
		order[norder++] = sig;
}

static void on_plain(int sig)
{
	count[sig]++;
	if (norder < 8)
		order[norder++] = sig;
}

static void set_handler(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

static void set_info_handler(int sig, int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | flags;
	sigaction(sig, &sa, NULL);
}

static const char *code_name(int code)
{
	switch (code) {
	case SI_USER: return "SI_USER";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_TKILL: return "SI_TKILL";
	case SI_KERNEL: return "SI_KERNEL";
	default: {
		static char buf[32];
		snprintf(buf, sizeof buf, "%d", code);
		return buf;
	}
	}
}

static void siginfo_sources(void)
{
	pid_t me = getpid();
	set_info_handler(SIGUSR1, 0);

	kill(me, SIGUSR1);
	printf("kill: handler ran %d, si_signo %d, si_code %s, si_pid is me: %s, si_uid %d\n", (int)count[SIGUSR1],
	       last_info.si_signo, code_name(last_info.si_code), last_info.si_pid == me ? "ok" : "bad",
	       (int)last_info.si_uid);

	union sigval v = { .sival_int = 42 };
	sigqueue(me, SIGUSR1, v);
	printf("sigqueue: handler ran %d, si_code %s, si_value %d, si_pid is me: %s\n", (int)count[SIGUSR1],
	       code_name(last_info.si_code), last_info.si_value.sival_int, last_info.si_pid == me ? "ok" : "bad");

	syscall(SYS_tgkill, me, syscall(SYS_gettid), SIGUSR1);
	printf("tgkill: handler ran %d, si_code %s\n", (int)count[SIGUSR1], code_name(last_info.si_code));

	syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR1);
	printf("tkill: handler ran %d, si_code %s\n", (int)count[SIGUSR1], code_name(last_info.si_code));

	raise(SIGUSR1);
	printf("raise: handler ran %d, si_code %s\n", (int)count[SIGUSR1], code_name(last_info.si_code));

	/* Real-time signals queue; standard ones merge. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	set_info_handler(SIGRTMIN + 1, 0);
	set_info_handler(SIGUSR2, 0);
	for (int i = 0; i < 3; i++) {
		union sigval rv = { .sival_int = 100 + i };
		sigqueue(me, SIGRTMIN + 1, rv);
		kill(me, SIGUSR2);
	}
	count[SIGRTMIN + 1] = 0;
	count[SIGUSR2] = 0;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("3 queued SIGRTMIN+1: delivered %d; 3 SIGUSR2: delivered %d\n", (int)count[SIGRTMIN + 1],
	       (int)count[SIGUSR2]);

	errno = 0;
	long r = kill(me, 65);
	printf("kill with signal 65: %ld %s\n", r, errname(errno));
	errno = 0;
	r = kill(me, 0);
	printf("kill with signal 0: %ld\n", r);
	errno = 0;
	r = kill(1 << 22, SIGUSR1);
	printf("kill of a missing pid: %ld %s\n", r, errname(errno));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_plain;
	errno = 0;
	r = sigaction(SIGKILL, &sa, NULL);
	printf("sigaction(SIGKILL): %ld %s\n", r, errname(errno));
	errno = 0;
	r = sigaction(SIGSTOP, &sa, NULL);
	printf("sigaction(SIGSTOP): %ld %s\n", r, errname(errno));
}

static void masks(void)
{
	/* Blocked: pending, not delivered; delivered on unblock. */
	set_handler(SIGUSR2, on_plain, 0);
	count[SIGUSR2] = 0;
	sigset_t set, old, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &old);
	kill(getpid(), SIGUSR2);
	sigpending(&pending);
	printf("blocked SIGUSR2: delivered %d, pending %s\n", (int)count[SIGUSR2],
	       sigismember(&pending, SIGUSR2) ? "yes" : "no");
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigpending(&pending);
	printf("after unblocking: delivered %d, pending %s\n", (int)count[SIGUSR2],
	       sigismember(&pending, SIGUSR2) ? "yes" : "no");

	/* SIGKILL and SIGSTOP cannot be blocked. */
	sigset_t all, got;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	sigprocmask(SIG_SETMASK, &old, &got);
	printf("blocking everything leaves SIGKILL and SIGSTOP unblocked: %s\n",
	       !sigismember(&got, SIGKILL) && !sigismember(&got, SIGSTOP) && sigismember(&got, SIGUSR1) ? "ok" : "bad");
	errno = 0;
	long r = syscall(SYS_rt_sigprocmask, 99, &set, NULL, 8);
	printf("rt_sigprocmask with a bad how: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4);
	printf("rt_sigprocmask with sigsetsize 4: %ld %s\n", r, errname(errno));
}

/* sa_mask: SIGUSR2 raised inside the SIGUSR1 handler waits for it to
 * return. SA_NODEFER lets the handler's own signal nest. */
static volatile sig_atomic_t depth, max_depth;

static void on_usr1_raises_usr2(int sig)
{
	on_plain(sig);
	raise(SIGUSR2);
	if (norder < 8)
		order[norder++] = 100; /* the handler's end */
}

static void on_nested(int sig)
{
	count[sig]++;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (count[sig] < 3)
		raise(sig);
	depth--;
}

static void handler_masks(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1_raises_usr2;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	set_handler(SIGUSR2, on_plain, 0);
	norder = 0;
	raise(SIGUSR1);
	printf("sa_mask defers SIGUSR2 until the SIGUSR1 handler returns: order");
	for (int i = 0; i < norder; i++)
		printf(" %s", order[i] == 100 ? "end" : sigabbrev_np(order[i]));
	printf("\n");

	/* Without SA_NODEFER the handler's own signal waits. */
	count[SIGUSR1] = 0;
	depth = max_depth = 0;
	set_handler(SIGUSR1, on_nested, 0);
	raise(SIGUSR1);
	printf("no SA_NODEFER: ran %d, max depth %d\n", (int)count[SIGUSR1], (int)max_depth);
	count[SIGUSR1] = 0;
	depth = max_depth = 0;
	set_handler(SIGUSR1, on_nested, SA_NODEFER);
	raise(SIGUSR1);
	printf("SA_NODEFER: ran %d, max depth %d\n", (int)count[SIGUSR1], (int)max_depth);

	/* SA_RESETHAND: the second one gets the default action (ignored
	 * here: SIGCHLD's default is to ignore it). */
	count[SIGCHLD] = 0;
	set_handler(SIGCHLD, on_plain, SA_RESETHAND);
	raise(SIGCHLD);
	raise(SIGCHLD);
	struct sigaction now;
	sigaction(SIGCHLD, NULL, &now);
	printf("SA_RESETHAND: ran %d, handler now SIG_DFL: %s\n", (int)count[SIGCHLD],
	       now.sa_handler == SIG_DFL ? "ok" : "bad");

	/* The mask inside a handler includes the signal; restored after. */
	sigset_t before, after;
	sigprocmask(SIG_SETMASK, NULL, &before);
	raise(SIGUSR2);
	sigprocmask(SIG_SETMASK, NULL, &after);
	printf("mask restored after the handler: %s\n", sigismember(&after, SIGUSR2) == sigismember(&before, SIGUSR2) ? "ok" : "bad");
}

static void timedwait(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	union sigval v = { .sival_int = 7 };
	sigqueue(getpid(), SIGUSR2, v);
	siginfo_t si;
	struct timespec ts = { 1, 0 };
	int sig = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait with one pending: SIG%s, si_code %s, si_value %d\n", sig > 0 ? sigabbrev_np(sig) : "?",
	       code_name(si.si_code), si.si_value.sival_int);
	ts.tv_sec = 0;
	ts.tv_nsec = 20 * 1000000;
	long start = now_ms();
	errno = 0;
	sig = sigtimedwait(&set, &si, &ts);
	long waited = now_ms() - start;
	printf("sigtimedwait with none pending: %d %s, waited at least 20 ms: %s\n", sig, errname(errno),
	       waited >= 19 ? "ok" : "bad");
	ts.tv_nsec = 0;
	errno = 0;
	sig = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait with a zero timeout: %d %s\n", sig, errname(errno));
	ts.tv_nsec = 2000000000;
	errno = 0;
	sig = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait with tv_nsec out of range: %d %s\n", sig, errname(errno));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* sigsuspend: a child sends SIGUSR1 while the parent waits with it
 * unblocked only for the duration of the call. */
static void suspend(void)
{
	set_handler(SIGUSR1, on_plain, 0);
	count[SIGUSR1] = 0;
	sigset_t set, old, waitmask;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	sigprocmask(SIG_BLOCK, NULL, &waitmask);
	sigdelset(&waitmask, SIGUSR1);
	errno = 0;
	int r = sigsuspend(&waitmask);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("sigsuspend: %d %s, handler ran %d, SIGUSR1 blocked again after: %s\n", r, errname(errno),
	       (int)count[SIGUSR1], sigismember(&now, SIGUSR1) ? "ok" : "bad");
	waitpid(pid, NULL, 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* A child keeps sending SIGUSR1 (every 10 ms) to the parent blocked in
 * read() on a pipe, until the parent says it is done on `ack`. With
 * SA_RESTART the read is restarted and returns the data the child sends
 * after a few signals; without it the read fails with EINTR. */
static void restart(int sa_flags)
{
	int data[2], ack[2];
	if (pipe(data) || pipe(ack))
		abort();
	set_handler(SIGUSR1, on_plain, sa_flags);
	count[SIGUSR1] = 0;
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(data[0]);
		close(ack[1]);
		fcntl(ack[0], F_SETFL, O_NONBLOCK);
		for (int i = 0;; i++) {
			char c;
			if (read(ack[0], &c, 1) >= 0)
				_exit(0);
			kill(parent, SIGUSR1);
			sleep_ms(10);
			if (i == 5 && write(data[1], "d", 1) != 1)
				_exit(1);
			if (i > 3000)
				_exit(2);
		}
	}
	close(data[1]);
	close(ack[0]);
	char c = 0;
	errno = 0;
	long r = read(data[0], &c, 1);
	if (write(ack[1], "a", 1) != 1)
		abort();
	int st;
	waitpid(pid, &st, 0);
	if (sa_flags & SA_RESTART)
		printf("read with SA_RESTART: %ld '%c', handler ran: %s, sender %s\n", r, c,
		       count[SIGUSR1] > 0 ? "yes" : "no", status_str(st));
	else
		printf("read without SA_RESTART: %ld %s, handler ran: %s, sender %s\n", r, errname(errno),
		       count[SIGUSR1] > 0 ? "yes" : "no", status_str(st));
	close(data[0]);
	close(ack[1]);
}

static char *altstack;
static volatile int on_alt, alt_flags;

static void on_alt_handler(int sig)
{
	(void)sig;
	char local;
	on_alt = &local >= altstack && &local < altstack + SIGSTKSZ * 4;
	stack_t cur;
	sigaltstack(NULL, &cur);
	alt_flags = cur.ss_flags;
}

static void altstacks(void)
{
	altstack = malloc(SIGSTKSZ * 4);
	stack_t ss = { .ss_sp = altstack, .ss_size = SIGSTKSZ * 4, .ss_flags = 0 };
	report("sigaltstack", sigaltstack(&ss, NULL));
	stack_t cur;
	sigaltstack(NULL, &cur);
	printf("sigaltstack reads back: %s, flags %d\n", cur.ss_sp == altstack && cur.ss_size == (size_t)SIGSTKSZ * 4 ? "ok" : "bad",
	       cur.ss_flags);
	set_handler(SIGUSR2, on_alt_handler, SA_ONSTACK);
	raise(SIGUSR2);
	printf("SA_ONSTACK handler ran on the alternate stack: %s, ss_flags inside: %s\n", on_alt ? "ok" : "bad",
	       alt_flags == SS_ONSTACK ? "SS_ONSTACK" : "bad");
	set_handler(SIGUSR2, on_alt_handler, 0);
	raise(SIGUSR2);
	printf("handler without SA_ONSTACK ran on the alternate stack: %s\n", on_alt ? "yes" : "no");
	stack_t tiny = { .ss_sp = altstack, .ss_size = 512, .ss_flags = 0 };
	errno = 0;
	long r = sigaltstack(&tiny, NULL);
	printf("sigaltstack of 512 bytes: %ld %s\n", r, errname(errno));
	stack_t off = { .ss_flags = SS_DISABLE };
	sigaltstack(&off, NULL);
	sigaltstack(NULL, &cur);
	printf("disabled: flags %s\n", cur.ss_flags == SS_DISABLE ? "SS_DISABLE" : "bad");
}

/* The handler clobbers xmm0 and xmm8; the interrupted code must find its
 * values intact when the kernel returns to it. */
static void clobber_xmm(int sig)
{
	(void)sig;
	__asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tpxor %%xmm8, %%xmm8\n\t" ::: "xmm0", "xmm8");
}

static void fpu_state(void)
{
	set_handler(SIGUSR1, clobber_xmm, 0);
	static uint64_t in[2] = { 0x1122334455667788ULL, 0x99aabbccddeeff00ULL };
	static uint64_t out[4];
	long pid = getpid();
	__asm__ volatile("movdqu (%[in]), %%xmm0\n\t"
			 "movdqu (%[in]), %%xmm8\n\t"
			 "mov $62, %%eax\n\t" /* SYS_kill */
			 "mov %[pid], %%rdi\n\t"
			 "mov $10, %%esi\n\t" /* SIGUSR1 */
			 "syscall\n\t"
			 "movdqu %%xmm0, (%[out])\n\t"
			 "movdqu %%xmm8, 16(%[out])\n\t"
			 :
			 : [in] "r"(in), [out] "r"(out), [pid] "r"(pid)
			 : "rax", "rdi", "rsi", "rcx", "r11", "xmm0", "xmm8", "memory");
	printf("xmm0 and xmm8 survive a handler that clobbers them: %s\n",
	       out[0] == in[0] && out[1] == in[1] && out[2] == in[0] && out[3] == in[1] ? "ok" : "bad");

	/* x87 and MXCSR state too: a rounding mode set before the signal. */
	volatile double a = 1.0, b = 3.0;
	double before = a / b;
	raise(SIGUSR1);
	double after = a / b;
	printf("floating point result unchanged across a handler: %s\n", before == after ? "ok" : "bad");
}

/* Synchronous faults, caught and escaped from with siglongjmp. */
static sigjmp_buf jb;
static siginfo_t fault;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault = *si;
	siglongjmp(jb, 1);
}

static void catch_faults(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	/* SIGSEGV on an unmapped address: SEGV_MAPERR, exact si_addr. */
	char *volatile page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page, 4096);
	memset(&fault, 0, sizeof fault);
	if (sigsetjmp(jb, 1) == 0) {
		*(volatile char *)(page + 123) = 1;
		printf("write to an unmapped page: no fault: bad\n");
	} else {
		printf("write to an unmapped page: SIG%s, SEGV_MAPERR: %s, si_addr exact: %s\n",
		       sigabbrev_np(fault.si_signo), fault.si_code == SEGV_MAPERR ? "ok" : "bad",
		       fault.si_addr == page + 123 ? "ok" : "bad");
	}

	/* SIGSEGV on a read-only page: SEGV_ACCERR. */
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(&fault, 0, sizeof fault);
	if (sigsetjmp(jb, 1) == 0) {
		*(volatile char *)(page + 7) = 1;
		printf("write to a read-only page: no fault: bad\n");
	} else {
		printf("write to a read-only page: SIG%s, SEGV_ACCERR: %s, si_addr exact: %s\n",
		       sigabbrev_np(fault.si_signo), fault.si_code == SEGV_ACCERR ? "ok" : "bad",
		       fault.si_addr == page + 7 ? "ok" : "bad");
	}
	munmap(page, 4096);

	/* The mask is restored by siglongjmp: a second fault is caught too. */
	memset(&fault, 0, sizeof fault);
	if (sigsetjmp(jb, 1) == 0) {
		(void)*(volatile char *)16;
		printf("read of address 16: no fault: bad\n");
	} else {
		printf("read of address 16: SIG%s, si_addr is 16: %s\n", sigabbrev_np(fault.si_signo),
		       fault.si_addr == (void *)16 ? "ok" : "bad");
	}

	/* SIGFPE: integer division by zero. */
	volatile int zero = 0, ten = 10;
	memset(&fault, 0, sizeof fault);
	if (sigsetjmp(jb, 1) == 0) {
		volatile int q = ten / zero;
		(void)q;
		printf("divide by zero: no fault: bad\n");
	} else {
		printf("divide by zero: SIG%s, FPE_INTDIV: %s\n", sigabbrev_np(fault.si_signo),
		       fault.si_code == FPE_INTDIV ? "ok" : "bad");
	}

	/* SIGILL: ud2, si_addr at the instruction. */
	memset(&fault, 0, sizeof fault);
	void *ud2_addr;
	__asm__ volatile("lea 1f(%%rip), %0" : "=r"(ud2_addr));
	if (sigsetjmp(jb, 1) == 0) {
		__asm__ volatile("1: ud2");
		printf("ud2: no fault: bad\n");
	} else {
		printf("ud2: SIG%s, ILL_ILLOPN: %s, si_addr at the instruction: %s\n", sigabbrev_np(fault.si_signo),
		       fault.si_code == ILL_ILLOPN ? "ok" : "bad", fault.si_addr == ud2_addr ? "ok" : "bad");
	}

	/* SIGTRAP: int3. */
	memset(&fault, 0, sizeof fault);
	if (sigsetjmp(jb, 1) == 0) {
		__asm__ volatile("int3");
		printf("int3: no trap: bad\n");
	} else {
		printf("int3: SIG%s, si_code %s\n", sigabbrev_np(fault.si_signo), code_name(fault.si_code));
	}

	/* A fault with the signal blocked kills (checked in a child). */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		sigprocmask(SIG_BLOCK, &set, NULL);
		*(volatile int *)0 = 1;
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("fault with SIGSEGV blocked: %s\n", status_str(st));
	pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_IGN);
		*(volatile int *)0 = 1;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	printf("fault with SIGSEGV ignored: %s\n", status_str(st));
	signal(SIGSEGV, SIG_DFL);
}

static void defaults(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGALRM, SIGQUIT, SIGABRT, SIGKILL };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigset_t set, old;
		sigemptyset(&set);
		sigaddset(&set, sigs[i]);
		sigprocmask(SIG_BLOCK, &set, &old);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			signal(sigs[i], SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			for (;;)
				pause();
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		kill(pid, sigs[i]);
		int st;
		waitpid(pid, &st, 0);
		printf("default action of SIG%s: %s\n", sigabbrev_np(sigs[i]), status_str(st));
	}
	/* Ignored by default: SIGCHLD, SIGURG, SIGWINCH. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		raise(SIGCHLD);
		raise(SIGURG);
		raise(SIGWINCH);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("SIGCHLD, SIGURG and SIGWINCH at their default: %s\n", status_str(st));
	/* A handler is reset to the default by exec, an ignored signal stays
	 * ignored (exec is in execve.c); a handler is inherited by fork. */
	set_handler(SIGUSR2, on_plain, 0);
	pid = fork();
	if (pid == 0) {
		count[SIGUSR2] = 0;
		raise(SIGUSR2);
		_exit(count[SIGUSR2] == 1 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	printf("handler inherited across fork: %s\n", status_str(st));
}

static void self_sigterm(void)
{
	printf("sending myself SIGTERM\n");
	kill(getpid(), SIGTERM);
	sleep_ms(5000);
	printf("survived SIGTERM\n");
}

static void call_abort(void)
{
	printf("calling abort\n");
	abort();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "sigterm") == 0)
		return die_in_child(self_sigterm);
	if (argc > 1 && strcmp(argv[1], "abort") == 0)
		return die_in_child(call_abort);
	siginfo_sources();
	masks();
	handler_masks();
	timedwait();
	suspend();
	restart(SA_RESTART);
	restart(0);
	altstacks();
	fpu_state();
	catch_faults();
	defaults();
	printf("done\n");
	return 0;
}
