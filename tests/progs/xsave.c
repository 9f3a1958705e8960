/* The XSAVE area in signal frames, as Linux x86_64 builds it: the
 * fpstate 64-byte aligned, the _fpx_sw_bytes marker (magic1,
 * extended_size, xfeatures, xstate_size) and magic2 after the area,
 * UC_FP_XSTATE in uc_flags; AVX state (ymm upper halves) kept across a
 * handler that clobbers it; a handler's edits of xmm and ymm in the frame
 * loaded by sigreturn; a frame without the marker restoring the legacy
 * area only; a reserved xstate_bv bit making sigreturn deliver SIGSEGV.
 *
 *   xsave          the checks (exit 0); the AVX ones print "no AVX"
 *                  where the CPU or the OS lacks it
 *   xsave corrupt  a child's handler sets xstate_bv bit 63 in its frame:
 *                  the child dies of SIGSEGV and the program exits 139
 *
 * Prints booleans, never sizes or addresses, which differ between hosts.
 * The signal is raised with a raw kill syscall inside the asm that loads
 * and reads the registers, so no libc code (which may use AVX or
 * vzeroupper) runs between them. */
#include "common.h"

#include <cpuid.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#ifndef UC_FP_XSTATE
#define UC_FP_XSTATE 0x1 /* asm/ucontext.h */
#endif
#define XFEATURE_MASK_YMM (1ull << 2)

/* The fpstate's _fpx_sw_bytes, at byte 464 of the FXSAVE area. */
struct sw_bytes {
	uint32_t magic1, extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size, padding[7];
};

static int have_avx;
static unsigned avx_offset; /* of the ymm upper halves, from CPUID */
static pid_t me;

static uint8_t *frame_fp(void *ucv)
{
	return (uint8_t *)((ucontext_t *)ucv)->uc_mcontext.fpregs;
}

static struct sw_bytes *frame_sw(void *ucv)
{
	return (struct sw_bytes *)(frame_fp(ucv) + 464);
}

static uint64_t *frame_xstate_bv(void *ucv)
{
	return (uint64_t *)(frame_fp(ucv) + 512);
}

/* What the frame-layout handler saw. */
static int seen_aligned, seen_magic1, seen_sizes, seen_magic2, seen_flag, seen_bv_fpsse;

static void inspect(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	uint8_t *fp = frame_fp(ucv);
	struct sw_bytes *sw = frame_sw(ucv);
	seen_aligned = fp && (uintptr_t)fp % 64 == 0;
	seen_magic1 = sw->magic1 == FP_XSTATE_MAGIC1;
	seen_sizes = sw->xstate_size >= 576 && sw->xstate_size <= 64 * 1024 &&
		     sw->extended_size == sw->xstate_size + 4 && (sw->xfeatures & 3) == 3;
	seen_magic2 = *(uint32_t *)(fp + sw->xstate_size) == FP_XSTATE_MAGIC2;
	seen_flag = (uc->uc_flags & UC_FP_XSTATE) != 0;
	seen_bv_fpsse = (*frame_xstate_bv(ucv) & 3) == 3;
}

static void set_action(void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa = {0};
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, 0);
}

static void check_layout(void)
{
	set_action(inspect);
	syscall(SYS_kill, me, SIGUSR1);
	CHECK("fpregs 64-byte aligned", seen_aligned);
	CHECK("magic1 in sw_reserved", seen_magic1);
	CHECK("extended_size, xstate_size and xfeatures plausible", seen_sizes);
	CHECK("magic2 at fpregs + xstate_size", seen_magic2);
	CHECK("UC_FP_XSTATE in uc_flags", seen_flag);
	CHECK("x87 and SSE in xstate_bv", seen_bv_fpsse);
}

__attribute__((target("avx"))) static void clobber_ymm(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	(void)ucv;
	__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
			 "vpcmpeqd %%ymm1, %%ymm1, %%ymm1\n\t"
			 "vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\t"
			 "vpcmpeqd %%ymm3, %%ymm3, %%ymm3\n\t"
			 "vpcmpeqd %%ymm4, %%ymm4, %%ymm4\n\t"
			 "vpcmpeqd %%ymm5, %%ymm5, %%ymm5\n\t"
			 "vpcmpeqd %%ymm6, %%ymm6, %%ymm6\n\t"
			 "vpcmpeqd %%ymm7, %%ymm7, %%ymm7\n\t"
			 "vpcmpeqd %%ymm8, %%ymm8, %%ymm8\n\t"
			 "vpcmpeqd %%ymm9, %%ymm9, %%ymm9\n\t"
			 "vpcmpeqd %%ymm10, %%ymm10, %%ymm10\n\t"
			 "vpcmpeqd %%ymm11, %%ymm11, %%ymm11\n\t"
			 "vpcmpeqd %%ymm12, %%ymm12, %%ymm12\n\t"
			 "vpcmpeqd %%ymm13, %%ymm13, %%ymm13\n\t"
			 "vpcmpeqd %%ymm14, %%ymm14, %%ymm14\n\t"
			 "vpcmpeqd %%ymm15, %%ymm15, %%ymm15\n\t" ::
				 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
				   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

/* Loads ymm0..ymm15 from in[], sends SIGUSR1 to the process with a raw
 * syscall, and stores ymm0..ymm15 to out[]. */
__attribute__((target("avx"))) static void ymm_across_signal(const uint8_t in[16][32], uint8_t out[16][32])
{
#define LD(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
#define ST(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"
	__asm__ volatile(LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12)
				 LD(13) LD(14) LD(15)
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t" ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10)
				 ST(11) ST(12) ST(13) ST(14) ST(15)
			 :
			 : [in] "r"(in), [out] "r"(out), [nr] "i"(SYS_kill), "D"((long)me), "S"((long)SIGUSR1)
			 : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
			   "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#undef LD
#undef ST
	__asm__ volatile("vzeroupper");
}

static void fill_pattern(uint8_t in[16][32])
{
	for (int r = 0; r < 16; r++)
		for (int i = 0; i < 32; i++)
			in[r][i] = (uint8_t)(r * 37 + i * 5 + 1);
}

static void check_ymm_survive(void)
{
	static uint8_t in[16][32], out[16][32];
	fill_pattern(in);
	set_action(clobber_ymm);
	ymm_across_signal(in, out);
	int lower = 1, upper = 1;
	for (int r = 0; r < 16; r++) {
		lower &= memcmp(in[r], out[r], 16) == 0;
		upper &= memcmp(in[r] + 16, out[r] + 16, 16) == 0;
	}
	CHECK("ymm0..15 lower halves survive a handler that clobbers them", lower);
	CHECK("ymm0..15 upper halves survive a handler that clobbers them", upper);
}

/* The value the frame-editing handler puts in ymm3: 16 bytes of 0xa5 below
 * (the xmm3 part, in the legacy area), 16 of 0x5a above (the AVX part). */
static void edit_ymm3(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	uint8_t *fp = frame_fp(ucv);
	memset(fp + 160 + 3 * 16, 0xa5, 16);
	memset(fp + avx_offset + 3 * 16, 0x5a, 16);
	*frame_xstate_bv(ucv) |= XFEATURE_MASK_YMM;
}

static void check_frame_edit(void)
{
	static uint8_t in[16][32], out[16][32];
	fill_pattern(in);
	set_action(edit_ymm3);
	ymm_across_signal(in, out);
	int low = 1, high = 1, others = 1;
	for (int i = 0; i < 16; i++) {
		low &= out[3][i] == 0xa5;
		high &= out[3][16 + i] == 0x5a;
	}
	for (int r = 0; r < 16; r++)
		if (r != 3)
			others &= memcmp(in[r], out[r], 32) == 0;
	CHECK("xmm3 written in the frame is loaded by sigreturn", low);
	CHECK("ymm3's upper half written in the frame is loaded by sigreturn", high);
	CHECK("the other ymm registers are as before", others);
}

/* Clears magic1: sigreturn then loads only the legacy area (xmm), and the
 * AVX state comes back in its initial state (upper halves zero). */
static void legacy_only(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	uint8_t *fp = frame_fp(ucv);
	memset(fp + 160 + 5 * 16, 0x3c, 16);
	frame_sw(ucv)->magic1 = 0;
}

static void check_legacy_fallback(void)
{
	static uint8_t in[16][32], out[16][32];
	fill_pattern(in);
	set_action(legacy_only);
	ymm_across_signal(in, out);
	int xmm5 = 1, lows = 1, uppers_zero = 1;
	for (int i = 0; i < 16; i++)
		xmm5 &= out[5][i] == 0x3c;
	for (int r = 0; r < 16; r++) {
		if (r != 5)
			lows &= memcmp(in[r], out[r], 16) == 0;
		for (int i = 16; i < 32; i++)
			uppers_zero &= out[r][i] == 0;
	}
	CHECK("without magic1: xmm5 written in the legacy area is loaded", xmm5);
	CHECK("without magic1: the other xmm registers are as before", lows);
	CHECK("without magic1: ymm upper halves are reset", uppers_zero);
}

static void corrupt_bv(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	*frame_xstate_bv(ucv) |= 1ull << 63;
}

static void corrupt_child(void)
{
	set_action(corrupt_bv);
	syscall(SYS_kill, getpid(), SIGUSR1);
	printf("sigreturn with a reserved xstate_bv bit returned\n");
}

static int os_has_avx(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6)
		return 0;
	__cpuid_count(0xd, 2, a, b, c, d);
	avx_offset = b;
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	me = getpid();
	have_avx = os_has_avx();
	if (argc > 1 && strcmp(argv[1], "corrupt") == 0) {
		printf("setting xstate_bv bit 63 in the frame\n");
		return die_in_child(corrupt_child);
	}
	check_layout();
	if (have_avx) {
		check_ymm_survive();
		check_frame_edit();
		check_legacy_fallback();
	} else {
		printf("no AVX\n");
	}
	printf("done\n");
	return 0;
}
