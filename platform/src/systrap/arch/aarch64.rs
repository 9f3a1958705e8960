//! aarch64's systrap pieces: the stub's code page (entry, SIGSYS and fault
//! handler, factory) in A64 assembly (`svc #0` with the number in x8);
//! the registers as arm64's `struct sigcontext` holds them (fault_address,
//! x0..x30, sp, pc, pstate); `tpidr_el0`, which the stub reads and writes
//! itself (`mrs`/`msr`: EL0 may); faults' access from the `esr_context`
//! record of the frame; the FP/SIMD state in its `fpsimd_context` record;
//! the probe's code.
//!
//! The frame the first resume loads (there is no signal frame yet) is laid
//! out by the Sentry when it sets the control region up ([`init_ctrl`]):
//! the stack the kernel's rt_sigreturn restores, an `fpsimd_context`
//! record (rt_sigreturn refuses a frame without one) and the end marker.
//! The stub copies the registers in and returns through it.

use super::super::shared::{self, Ctrl, CTRL_LEN, PAGE, SIGSTACK_LEN};
use super::super::{stub, SystrapAddressSpace};
use crate::{access_from_esr, FpState, PlatformError, Regs, SwitchOutcome, FP_STATE_CAP, PSTATE_USER};

/// `struct ucontext`: offset of `uc_mcontext` (after the flags, link,
/// stack, the kernel's 8-byte mask and glibc's 1024-bit one's padding,
/// 16-aligned).
const MCTX: usize = 176;
/// `uc_stack.ss_sp` and `uc_stack.ss_size`.
const UC_SS_SP: usize = 16;
const UC_SS_SIZE: usize = 32;
/// `struct sigcontext`: offset of `__reserved`, where the records are.
const RESERVED: usize = MCTX + 288;
/// The size of `__reserved`.
const RESERVED_LEN: usize = 4096;
/// The size of `struct ucontext`.
const UCTX_LEN: usize = RESERVED + RESERVED_LEN;
/// The siginfo before the ucontext in `struct rt_sigframe`.
const SIGINFO_LEN: usize = 128;
/// `FPSIMD_MAGIC` and the size of `struct fpsimd_context`.
const FPSIMD_MAGIC: u32 = 0x4650_8001;
const FPSIMD_LEN: usize = 528;
/// `ESR_MAGIC` and the size of `struct esr_context`.
const ESR_MAGIC: u32 = 0x4553_5201;
const ESR_LEN: usize = 16;
/// `EXTRA_MAGIC`: records continue elsewhere (the FP/SIMD and ESR
/// records are always in `__reserved`, so it is not followed).
const EXTRA_MAGIC: u32 = 0x4558_5401;

/// The event's registers, as `struct sigcontext` holds them:
/// fault_address, x0..x30, sp, pc, pstate (35 words), right after the
/// words of the first cache line and the failed operation's.
pub const GREGS: usize = shared::OPS_N + 8;
/// How many words of [`GREGS`] the stub copies out of the signal frame.
pub const GREGS_OUT: usize = 35;
/// How many words the stub copies back in on resume (x0 through pstate,
/// from the second word).
pub const GREGS_IN: usize = 34;
/// The event's siginfo (128 bytes; not copied for SIGSYS).
pub const SIGINFO: usize = 0x200;
/// The ucontext of the frame the first resume loads (an offset in the
/// control region, near the signal stack's top, 16-aligned; its siginfo
/// is the 128 bytes before it).
pub const SYNTH_UCTX: usize = (CTRL_LEN - UCTX_LEN - 32) & !15;
/// That frame's `fpsimd_context` record: the FP/SIMD state a new thread
/// starts with (a thread inherits its parent's), written there by the
/// Sentry.
pub const SYNTH_FP_AREA: usize = SYNTH_UCTX + RESERVED;
const _: () = assert!(SYNTH_UCTX - SIGINFO_LEN >= PAGE && SYNTH_UCTX + UCTX_LEN <= CTRL_LEN);
/// tpidr_el0 (the slot x86_64 keeps the fs base in).
const TLS: usize = shared::FS_BASE;
const _: () = assert!(shared::STATE == 0 && shared::F_STATE == 0 && shared::OP_COPY == u64::MAX);

/// Word indices into GREGS.
const G_X0: usize = 1;
const G_SP: usize = 32;
const G_PC: usize = 33;
const G_PSTATE: usize = 34;

std::arch::global_asm!(
    ".pushsection .text.husk_systrap,\"ax\",%progbits",
    ".globl husk_systrap_start",
    ".globl husk_systrap_handler",
    ".globl husk_systrap_restorer",
    ".globl husk_systrap_end",
    ".p2align 12",
    "husk_systrap_start:",
    ".Lsys_start:",
    // Entry from the forked child: x0 = this page, x1 = the region's end,
    // x2 = TASK_SIZE, x3 = 1 for the stub factory, 0 for a stub. Unmap
    // everything outside the region.
    "mov x19, x1",
    "mov x20, x2",
    "mov x21, x3",
    "mov x1, x0",
    "mov x0, #0",
    "mov x8, #215", // munmap(0, region start)
    "svc #0",
    "mov x0, x19",
    "sub x1, x20, x19",
    "mov x8, #215", // munmap(region end, TASK_SIZE - region end)
    "svc #0",
    "cbnz x21, .Lfactory",
    "adr x28, .Lsys_start + {PAGE}",
    "mov x27, #0", // no signal frame yet
    "b .Lpost",
    // The handler: x0 = signo, x1 = siginfo (the frame's start, where sp
    // is), x2 = ucontext. Everything the app had is in the frame, so any
    // register may be used. x28 holds the control page and x27 the
    // ucontext throughout; sp is left at the frame.
    ".p2align 4",
    "husk_systrap_handler:",
    "adr x28, .Lsys_start + {PAGE}",
    "mov x27, x2",
    "str x2, [x28, #{UCTX}]",
    "str x0, [x28, #{SIGNO}]",
    "add x9, x2, #{MCTX}",
    "add x10, x28, #{GREGS}",
    "mov x11, #{GREGS_OUT}",
    ".Lcopy_out:",
    "ldr x12, [x9], #8",
    "str x12, [x10], #8",
    "subs x11, x11, #1",
    "b.ne .Lcopy_out",
    // A SIGSYS carries nothing in its siginfo the Sentry needs, but one that
    // the seccomp filter did not raise (kill(2) from outside) is ignored.
    "cmp w0, #{SIGSYS}",
    "b.ne .Lcopy_info",
    "ldr w12, [x1, #8]",
    "cmp w12, #{SYS_SECCOMP}",
    "b.eq .Ltls",
    "mov x8, #139", // rt_sigreturn with the frame as it is (sp is on it)
    "svc #0",
    ".Lcopy_info:",
    "add x10, x28, #{SIGINFO}",
    "mov x11, #16",
    ".Lcopy_info_word:",
    "ldr x12, [x1], #8",
    "str x12, [x10], #8",
    "subs x11, x11, #1",
    "b.ne .Lcopy_info_word",
    ".Ltls:",
    "mrs x9, tpidr_el0",
    "str x9, [x28, #{TLS}]",
    // Give the turn to the Sentry; wake it if it sleeps. (No CPU number:
    // EL0 cannot read it cheaply here, so the Sentry always spins first.)
    ".Lpost:",
    "mov x9, #-1",
    "str x9, [x28, #{STUB_CPU}]",
    "mov w10, #{S_SENTRY}",
    ".Lxchg:",
    "ldaxr w11, [x28]",
    "stlxr w12, w10, [x28]",
    "cbnz w12, .Lxchg",
    "tst w11, #{WAITING}",
    "b.eq .Lwait",
    "mov x0, x28",
    "mov x1, #1", // FUTEX_WAKE
    "mov x2, #1",
    "mov x8, #98",
    "svc #0",
    // Wait for the turn: spin, then sleep.
    ".Lwait:",
    "ldr x13, [x28, #{SPIN}]",
    ".Lspin:",
    "ldar w11, [x28]",
    "and w11, w11, #{TURN_MASK}",
    "cmp w11, #{S_APP}",
    "b.eq .Lserve",
    "cbz x13, .Lsleep",
    "sub x13, x13, #1",
    "isb", // what Rust's spin_loop() is on aarch64, which SPIN is measured in
    "b .Lspin",
    ".Lsleep:",
    "mov w10, #{S_SENTRY_W}",
    ".Lcas:",
    "ldaxr w11, [x28]",
    "cmp w11, #{S_SENTRY}",
    "b.ne .Lcas_failed",
    "stlxr w12, w10, [x28]",
    "cbnz w12, .Lcas",
    "mov x0, x28",
    "mov x1, #0", // FUTEX_WAIT, no timeout
    "mov x2, #{S_SENTRY_W}",
    "mov x3, #0",
    "mov x8, #98",
    "svc #0",
    "b .Lwait",
    ".Lcas_failed:",
    "clrex",
    "b .Lwait",
    // Our turn: run the address-space operations the Sentry queued (in
    // order; the first failure gives the turn back at once), then resume
    // the app or give the turn back. x26 says which.
    ".Lserve:",
    "ldr x9, [x28, #{REQ}]",
    "cmp x9, #{REQ_RESUME}",
    "cset x26, eq",
    "ldr x25, [x28, #{OPS_N}]",
    "add x24, x28, #{OPS}",
    ".Lop:",
    "cbz x25, .Lops_done",
    "ldp x8, x0, [x24]",
    "ldp x1, x2, [x24, #16]",
    "ldp x3, x4, [x24, #32]",
    "ldr x5, [x24, #48]",
    "cmn x8, #1", // OP_COPY (u64::MAX)
    "b.eq .Lop_copy",
    "svc #0",
    "cmn x0, #4095",
    "b.hs .Lop_failed",
    ".Lop_next:",
    "add x24, x24, #{OP_LEN}",
    "sub x25, x25, #1",
    "b .Lop",
    // Not a syscall: copy x2 bytes from x1 to x0.
    ".Lop_copy:",
    "cbz x2, .Lop_next",
    ".Lop_copy_byte:",
    "ldrb w9, [x1], #1",
    "strb w9, [x0], #1",
    "subs x2, x2, #1",
    "b.ne .Lop_copy_byte",
    "b .Lop_next",
    ".Lop_failed:",
    "str x0, [x28, #{RESULT}]",
    "str x25, [x28, #{OPS_N}]",
    "b .Lpost",
    ".Lops_done:",
    "str xzr, [x28, #{OPS_N}]",
    "cbz x26, .Lpost",
    // Resume: the registers into the frame (the first time, the one the
    // Sentry laid out), tpidr_el0 set here, and rt_sigreturn with sp at
    // the frame's start.
    "cbnz x27, .Lhave_frame",
    "mov x9, #{SYNTH_UCTX}",
    "add x27, x28, x9",
    ".Lhave_frame:",
    "add x9, x28, #{GREGS_X0}",
    "add x10, x27, #{MCTX_X0}",
    "mov x11, #{GREGS_IN}",
    ".Lcopy_in:",
    "ldr x12, [x9], #8",
    "str x12, [x10], #8",
    "subs x11, x11, #1",
    "b.ne .Lcopy_in",
    "ldr x9, [x28, #{TLS}]",
    "msr tpidr_el0, x9",
    "sub x9, x27, #{SIGINFO_LEN}",
    "mov sp, x9",
    "mov x8, #139", // rt_sigreturn
    "svc #0",
    "brk #0",
    // Never used (the handler returns with its own rt_sigreturn), but
    // without SA_RESTORER the kernel would return through the vDSO, which
    // the stub has unmapped.
    ".p2align 4",
    "husk_systrap_restorer:",
    "mov x8, #139",
    "svc #0",
    "brk #0",
    // The stub factory, once it has unmapped all but the region (its
    // factory page is mapped): serve requests, each a clone into a new stub
    // (a child of the Sentry, CLONE_PARENT), which maps its control region
    // from the pool, seals itself and starts as a forked stub does. Every
    // signal stays blocked here, as in the stubs.
    ".Lfactory:",
    "adr x28, .Lsys_start + {FACTORY_PAGE}",
    ".Lf_wait:",
    "ldar w9, [x28]",
    "cmp w9, #{F_REQUEST}",
    "b.eq .Lf_clone",
    "mov x0, x28",
    "mov x1, #0", // FUTEX_WAIT while the word is what we read
    "mov w2, w9",
    "mov x3, #0",
    "mov x8, #98",
    "svc #0",
    "b .Lf_wait",
    ".Lf_clone:",
    // What the child needs, read before the clone: once the reply is posted
    // the Sentry may rewrite the page for its next request.
    "ldr x23, [x28, #{F_SLOT}]",
    "ldr x24, [x28, #{F_POOL_FD}]",
    "ldr x25, [x28, #{F_SENTRY_PID}]",
    "mov x0, #{CLONE_PARENT}",
    "mov x1, #0",
    "mov x2, #0",
    "mov x3, #0",
    "mov x4, #0",
    "mov x8, #220", // clone
    "svc #0",
    "cbz x0, .Lf_child",
    "str x0, [x28, #{F_RESULT}]",
    "mov w9, #{F_DONE}",
    "stlr w9, [x28]",
    "mov x0, x28",
    "mov x1, #1", // FUTEX_WAKE
    "mov x2, #1",
    "mov x8, #98",
    "svc #0",
    "b .Lf_wait",
    ".Lf_child:",
    "mov x0, #1", // prctl(PR_SET_PDEATHSIG, SIGKILL)
    "mov x1, #9",
    "mov x8, #167",
    "svc #0",
    "mov x8, #173", // getppid: still the Sentry's child?
    "svc #0",
    "cmp x0, x25",
    "b.ne .Lf_die",
    "adr x19, .Lsys_start + {PAGE}",
    "mov x0, x19",
    "mov x1, #{CTRL_LEN}",
    "mov x2, #3", // PROT_READ | PROT_WRITE
    "mov x3, #{SHARED_FIXED}",
    "mov x4, x24",
    "mov x5, x23",
    "mov x8, #222", // mmap the control region
    "svc #0",
    "cmp x0, x19",
    "b.ne .Lf_die",
    "mov x0, x24",
    "mov x8, #57", // close the pool
    "svc #0",
    "mov x0, #1", // seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)
    "mov x1, #0",
    "add x2, x28, #{F_PROG}",
    "mov x8, #277",
    "svc #0",
    "cbnz x0, .Lf_die",
    "mov x0, x28",
    "mov x1, #{PAGE}",
    "mov x8, #215", // munmap the factory page
    "svc #0",
    "mov x28, x19",
    "mov x27, #0", // no signal frame yet
    "b .Lpost",
    ".Lf_die:",
    "mov x0, #110",
    "mov x8, #94", // exit_group
    "svc #0",
    "brk #0",
    "husk_systrap_end:",
    ".popsection",
    PAGE = const PAGE,
    UCTX = const shared::UCTX,
    SIGNO = const shared::SIGNO,
    MCTX = const MCTX,
    MCTX_X0 = const MCTX + 8 * G_X0,
    GREGS = const GREGS,
    GREGS_X0 = const GREGS + 8 * G_X0,
    GREGS_OUT = const GREGS_OUT,
    GREGS_IN = const GREGS_IN,
    SIGINFO = const SIGINFO,
    SIGINFO_LEN = const SIGINFO_LEN,
    TLS = const TLS,
    SPIN = const shared::SPIN,
    STUB_CPU = const shared::STUB_CPU,
    SIGSYS = const libc::SIGSYS,
    SYS_SECCOMP = const 1,
    REQ = const shared::REQ,
    OPS_N = const shared::OPS_N,
    OPS = const shared::OPS,
    OP_LEN = const shared::OP_LEN,
    RESULT = const shared::RESULT,
    S_SENTRY = const shared::S_SENTRY,
    S_SENTRY_W = const shared::S_SENTRY | shared::WAITING,
    S_APP = const shared::S_APP,
    WAITING = const shared::WAITING,
    TURN_MASK = const shared::TURN_MASK,
    REQ_RESUME = const shared::REQ_RESUME,
    SYNTH_UCTX = const SYNTH_UCTX,
    FACTORY_PAGE = const shared::FACTORY_PAGE,
    F_REQUEST = const shared::F_REQUEST,
    F_DONE = const shared::F_DONE,
    F_SLOT = const shared::F_SLOT,
    F_POOL_FD = const shared::F_POOL_FD,
    F_SENTRY_PID = const shared::F_SENTRY_PID,
    F_RESULT = const shared::F_RESULT,
    F_PROG = const shared::F_PROG,
    CLONE_PARENT = const libc::CLONE_PARENT,
    CTRL_LEN = const CTRL_LEN,
    SHARED_FIXED = const libc::MAP_SHARED | libc::MAP_FIXED,
);

/// Jumps to the code page's entry at `base`, telling it the region's end,
/// where the address space ends, and whether this is the stub factory.
///
/// # Safety
/// Only in a forked stub or factory child, set up as `stub::child_main`
/// sets it up, whose code page is mapped at `base`.
pub(in crate::systrap) unsafe fn enter(base: u64, end: u64, task_size: u64, factory: u64) -> ! {
    // SAFETY: the caller guarantees the page; the stub code never returns.
    unsafe {
        std::arch::asm!(
            "br {entry}",
            entry = in(reg) base,
            in("x0") base,
            in("x1") end,
            in("x2") task_size,
            in("x3") factory,
            options(noreturn),
        );
    }
}

/// Makes the code just copied to `start` visible to instruction fetches:
/// arm64's instruction cache is not coherent with data writes.
pub(in crate::systrap) fn sync_icache(start: u64, len: u64) {
    crate::ptrace::sync_icache(start, len);
}

/// The probe's app code: `svc #0; udf #0`.
pub(in crate::systrap) const PROBE_CODE: &[u8] = &[0x01, 0x00, 0x00, 0xd4, 0x00, 0x00, 0x00, 0x00];

/// The probe's registers: at `at`, asking for getpid.
pub(in crate::systrap) fn probe_regs(at: u64) -> Regs {
    let mut regs = Regs::for_entry(at, 0);
    regs.regs[8] = libc::SYS_getpid as u64;
    regs
}

/// No FSGSBASE here: the stub sets `tpidr_el0` itself.
pub(in crate::systrap) fn has_fsgsbase() -> bool {
    false
}

/// Lays out, in a new control region, the frame the stub's first resume
/// loads (its ucontext at [`SYNTH_UCTX`]; the region is zero): the signal
/// stack that rt_sigreturn restores, an `fpsimd_context` record (the
/// FP/SIMD state the thread starts with: zero, unless the Sentry stages
/// one) and the end marker after it. The registers are copied in by the
/// stub.
pub(in crate::systrap) fn init_ctrl(ctrl: &Ctrl, sigstack: u64) {
    ctrl.set(SYNTH_UCTX + UC_SS_SP, sigstack);
    ctrl.set(SYNTH_UCTX + UC_SS_SIZE, SIGSTACK_LEN as u64);
    ctrl.set(SYNTH_FP_AREA, record_head(FPSIMD_MAGIC, FPSIMD_LEN));
    ctrl.set(SYNTH_FP_AREA + FPSIMD_LEN, 0);
    ctrl.set(SYNTH_FP_AREA + FPSIMD_LEN + 8, 0);
}

/// A record's header `{ u32 magic; u32 size; }` as one word.
fn record_head(magic: u32, len: usize) -> u64 {
    u64::from(magic) | ((len as u64) << 32)
}

impl Ctrl {
    /// Writes the registers the stub loads on resume. PSTATE keeps only
    /// what a user thread may hold: rt_sigreturn refuses the rest with a
    /// SIGSEGV, which would kill the stub.
    pub fn put_regs(&self, r: &Regs) {
        for (i, x) in r.regs.iter().enumerate() {
            self.set(GREGS + 8 * (G_X0 + i), *x);
        }
        self.set(GREGS + 8 * G_SP, r.sp);
        self.set(GREGS + 8 * G_PC, r.pc);
        self.set(GREGS + 8 * G_PSTATE, r.pstate & PSTATE_USER);
    }

    /// Reads the event's registers into `r` (not `orig_x0`, the syscall
    /// number or `tpidr_el0`).
    pub fn take_regs(&self, r: &mut Regs) -> [u64; GREGS_OUT] {
        let g: [u64; GREGS_OUT] = self.get_words(GREGS);
        r.regs.copy_from_slice(&g[G_X0..G_X0 + 31]);
        r.sp = g[G_SP];
        r.pc = g[G_PC];
        r.pstate = g[G_PSTATE];
        g
    }
}

impl SystrapAddressSpace {
    /// Writes `regs` and `tpidr_el0` for the stub's resume.
    pub(in crate::systrap) fn put_state(&mut self, regs: &Regs) -> Result<(), PlatformError> {
        self.ctrl.put_regs(regs);
        self.ctrl.set(TLS, regs.tls);
        Ok(())
    }

    /// Decodes the event the stub posted into `regs` and an outcome.
    pub(in crate::systrap) fn event(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let c = &self.ctrl;
        let signo = c.get(shared::SIGNO);
        c.take_regs(regs);
        regs.tls = c.get(TLS);
        let sig = i32::try_from(signo).unwrap_or(-1);
        match sig {
            libc::SIGSYS => {
                // (The stub itself ignores a SIGSYS that seccomp did not
                // raise.) As at a PTRACE_SYSEMU stop: the number from x8,
                // x0 still the first argument, pc after the svc.
                regs.enter_syscall();
                Ok(SwitchOutcome::Syscall)
            }
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                regs.leave_syscall();
                let info = c.siginfo();
                let si_code = (info[1] & 0xffff_ffff) as u32 as i32;
                let addr = info[2];
                let esr = self.esr()?;
                let access = esr.and_then(access_from_esr);
                // The host's ESR, for the app's frame (Linux gives it one).
                let syndrome = esr.map(|code| crate::Syndrome { number: 0, code });
                Ok(SwitchOutcome::Fault { signo: sig as u32, code: si_code, addr, access, syndrome })
            }
            stub::INTERRUPT_SIGNAL => {
                regs.leave_syscall();
                Ok(SwitchOutcome::Interrupted)
            }
            _ => Err(PlatformError::Protocol { pid: self.pid, what: "event with an unexpected signal number" }),
        }
    }

    /// The offset in the control region of the ucontext of the frame the
    /// stub is parked in, checked to lie in the signal stack; `None` before
    /// the first event.
    fn frame(&self) -> Result<Option<usize>, PlatformError> {
        if !self.parked {
            return Err(self.died());
        }
        let uctx = self.ctrl.get(shared::UCTX);
        if uctx == 0 {
            return Ok(None);
        }
        let off = uctx
            .checked_sub(self.stub_ctrl)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|o| *o >= PAGE + SIGINFO_LEN && o.is_multiple_of(16) && *o + UCTX_LEN <= CTRL_LEN);
        match off {
            Some(o) => Ok(Some(o)),
            None => Err(PlatformError::Protocol { pid: self.pid, what: "signal frame outside the signal stack" }),
        }
    }

    /// The offset of the first record with `magic` among the frame's
    /// records (in `__reserved` of the ucontext at `uctx`, a checked
    /// offset), if it is there and at least `len` bytes long.
    fn record(&self, uctx: usize, magic: u32, len: usize) -> Option<usize> {
        let start = uctx + RESERVED;
        let end = start + RESERVED_LEN;
        let mut at = start;
        while at + 16 <= end {
            let head = self.ctrl.get(at);
            let (m, size) = (head as u32, (head >> 32) as usize);
            if m == 0 || m == EXTRA_MAGIC || size < 16 || !size.is_multiple_of(16) || size > end - at {
                return None;
            }
            if m == magic {
                return (size >= len).then_some(at);
            }
            at += size;
        }
        None
    }

    /// The fault's ESR, from the frame's `esr_context` record, if it has
    /// one (the kernel adds it for faults with a syndrome).
    fn esr(&self) -> Result<Option<u64>, PlatformError> {
        let Some(uctx) = self.frame()? else { return Ok(None) };
        Ok(self.record(uctx, ESR_MAGIC, ESR_LEN).map(|at| self.ctrl.get(at + 8)))
    }

    /// The `fpsimd_context` record that rt_sigreturn will load: the parked
    /// frame's or, before the first run (`None`), the first resume's, at
    /// [`SYNTH_FP_AREA`].
    fn fpsimd(&self) -> Result<Option<usize>, PlatformError> {
        let Some(uctx) = self.frame()? else { return Ok(None) };
        match self.record(uctx, FPSIMD_MAGIC, FPSIMD_LEN) {
            Some(at) => Ok(Some(at)),
            None => {
                Err(PlatformError::Protocol { pid: self.pid, what: "signal frame without an fpsimd_context record" })
            }
        }
    }

    /// The FP/SIMD state in the frame the stub is parked in or, before the
    /// thread first ran, the one its first resume will load (`Ok(false)`
    /// if the Sentry staged none: it starts clean).
    pub(in crate::systrap) fn get_fp(&mut self, fp: &mut FpState) -> Result<bool, PlatformError> {
        let at = match self.fpsimd()? {
            Some(at) => at,
            None if self.ctrl.get(shared::SYNTH_FP) == 0 => return Ok(false),
            None => SYNTH_FP_AREA,
        };
        // fpsimd_context: head, fpsr, fpcr, V0..V31; user_fpsimd_state:
        // V0..V31, fpsr, fpcr, reserved.
        let mut rec = [0u8; FPSIMD_LEN];
        self.ctrl.read_bytes(at, &mut rec);
        fp.bytes[..512].copy_from_slice(&rec[16..]);
        fp.bytes[512..520].copy_from_slice(&rec[8..16]);
        fp.bytes[520..FP_STATE_CAP].fill(0);
        Ok(true)
    }

    /// Replaces the FP/SIMD state that rt_sigreturn will load. (Where the
    /// frame also carries SVE state, the kernel takes the V registers from
    /// this record all the same.)
    pub(in crate::systrap) fn set_fp(&mut self, fp: &FpState) -> Result<bool, PlatformError> {
        let found = self.fpsimd()?;
        let at = found.unwrap_or(SYNTH_FP_AREA);
        self.ctrl.write_bytes(at + 8, &fp.bytes[512..520]);
        self.ctrl.write_bytes(at + 16, &fp.bytes[..512]);
        if found.is_none() {
            self.ctrl.set(shared::SYNTH_FP, 1);
        }
        Ok(true)
    }
}
