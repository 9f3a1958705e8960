//! x86_64's systrap pieces: the stub's code page (entry, SIGSYS and fault
//! handler, factory) in x86_64 assembly; the registers as `struct
//! sigcontext` holds them; the fs and gs bases (rd/wr{fs,gs}base, or
//! arch_prctl without FSGSBASE); faults' access from the trap number and
//! error code; the XSAVE area in the signal frame; the probe's code.

use super::super::shared::{self, Ctrl, CTRL_LEN, PAGE, SIGSTACK_LEN};
use super::super::{stub, SystrapAddressSpace};
use crate::{
    fp_layout, Access, FpState, PlatformError, Regs, SwitchOutcome, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FX_SW_BYTES,
    XFEATURE_FPSSE, XSAVE_HEADER, XSAVE_MIN,
};

/// `struct ucontext`: offset of `uc_mcontext`.
const MCTX: usize = 40;
/// `struct ucontext` up to and including the (kernel's 8-byte) signal mask.
const UCTX_QWORDS: usize = (40 + 256 + 8) / 8;
/// The selector of the GDT entry whose limit holds the CPU number
/// (`__CPUNODE_SEG`: entry 15, RPL 3).
const CPUNODE_SEG: u32 = 15 * 8 + 3;
/// `cs` = 0x33 and `ss` = 0x2b as the sigcontext's cs/gs/fs/ss word has them.
const CSGSFS: u64 = 0x33 | (0x2b << 48);

std::arch::global_asm!(
    ".pushsection .text.husk_systrap,\"ax\",@progbits",
    ".globl husk_systrap_start",
    ".globl husk_systrap_handler",
    ".globl husk_systrap_restorer",
    ".globl husk_systrap_end",
    ".p2align 12",
    "husk_systrap_start:",
    ".Lsys_start:",
    // Entry from the forked child: rdi = this page, rsi = the region's end,
    // rdx = TASK_SIZE, r14 = 1 for the stub factory, 0 for a stub. Unmap
    // everything outside the region.
    "mov r12, rsi",
    "mov r13, rdx",
    "mov rsi, rdi",
    "xor edi, edi",
    "mov eax, 11", // munmap(0, region start)
    "syscall",
    "mov rdi, r12",
    "mov rsi, r13",
    "sub rsi, r12",
    "mov eax, 11", // munmap(region end, TASK_SIZE - region end)
    "syscall",
    "test r14, r14",
    "jnz .Lfactory",
    "lea r15, [rip + .Lsys_start + {PAGE}]",
    "xor r12d, r12d", // no signal frame yet
    "jmp .Lpost",
    // The handler: rdi = signo, rsi = siginfo, rdx = ucontext. Everything the
    // app had is in the frame, so any register may be used. r15 holds the
    // control page and r12 the ucontext throughout.
    ".p2align 4",
    "husk_systrap_handler:",
    "lea r15, [rip + .Lsys_start + {PAGE}]",
    "mov r12, rdx",
    "mov [r15 + {UCTX}], rdx",
    "mov [r15 + {SIGNO}], rdi",
    "mov rbx, rsi",
    "cld",
    "lea rsi, [rdx + {MCTX}]",
    "lea rdi, [r15 + {GREGS}]",
    "mov ecx, {GREGS_OUT}",
    "rep movsq",
    // A SIGSYS carries nothing in its siginfo the Sentry needs, but one that
    // the seccomp filter did not raise (kill(2) from outside) is ignored.
    "cmp dword ptr [r15 + {SIGNO}], {SIGSYS}",
    "jne .Lcopy_info",
    "cmp dword ptr [rbx + 8], {SYS_SECCOMP}",
    "je .Lbases",
    "mov rsp, r12",
    "mov eax, 15", // rt_sigreturn with the frame as it is
    "syscall",
    ".Lcopy_info:",
    "mov rsi, rbx",
    "lea rdi, [r15 + {SIGINFO}]",
    "mov ecx, 16",
    "rep movsq",
    ".Lbases:",
    "cmp qword ptr [r15 + {FSGS_MODE}], 0",
    "je .Lpost",
    "rdfsbase rax",
    "mov [r15 + {FS_BASE}], rax",
    "rdgsbase rax",
    "mov [r15 + {GS_BASE}], rax",
    // Give the turn to the Sentry; wake it if it sleeps.
    ".Lpost:",
    // Record our CPU, as the kernel's vDSO getcpu reads it: the limit of the
    // per-CPU GDT entry holds the CPU number (and the node above bit 12).
    "mov eax, {CPUNODE_SEG}",
    "lsl eax, eax",
    "and eax, 0xfff",
    "mov [r15 + {STUB_CPU}], rax",
    "mov eax, {S_SENTRY}",
    "xchg dword ptr [r15 + {STATE}], eax",
    "test eax, {WAITING}",
    "jz .Lwait",
    "lea rdi, [r15 + {STATE}]",
    "mov esi, 1", // FUTEX_WAKE
    "mov edx, 1",
    "mov eax, 202",
    "syscall",
    // Wait for the turn: spin, then sleep.
    ".Lwait:",
    "mov rcx, [r15 + {SPIN}]",
    "mov rax, [r15 + {STUB_CPU}]",
    "cmp rax, [r15 + {SENTRY_CPU}]",
    "jne .Lspin",
    "xor ecx, ecx", // the Sentry runs on our CPU: spinning would only delay it

    ".Lspin:",
    "mov eax, dword ptr [r15 + {STATE}]",
    "and eax, {TURN_MASK}",
    "cmp eax, {S_APP}",
    "je .Lserve",
    "test rcx, rcx",
    "jz .Lsleep",
    "dec rcx",
    "pause",
    "jmp .Lspin",
    ".Lsleep:",
    "mov eax, {S_SENTRY}",
    "mov edx, {S_SENTRY_W}",
    "lock cmpxchg dword ptr [r15 + {STATE}], edx",
    "jne .Lwait",
    "lea rdi, [r15 + {STATE}]",
    "xor esi, esi", // FUTEX_WAIT, no timeout
    "mov edx, {S_SENTRY_W}",
    "xor r10d, r10d",
    "mov eax, 202",
    "syscall",
    "jmp .Lwait",
    // Our turn: run the address-space operations the Sentry queued (in
    // order; the first failure gives the turn back at once), then resume
    // the app or give the turn back. r13 says which.
    ".Lserve:",
    "xor r13d, r13d",
    "cmp qword ptr [r15 + {REQ}], {REQ_RESUME}",
    "jne .Lops",
    "mov r13d, 1",
    ".Lops:",
    "mov rbx, [r15 + {OPS_N}]",
    "lea r14, [r15 + {OPS}]",
    ".Lop:",
    "test rbx, rbx",
    "jz .Lops_done",
    "mov rax, [r14]",
    "mov rdi, [r14 + 8]",
    "mov rsi, [r14 + 16]",
    "cmp rax, {OP_COPY}",
    "je .Lop_copy",
    "mov rdx, [r14 + 24]",
    "mov r10, [r14 + 32]",
    "mov r8, [r14 + 40]",
    "mov r9, [r14 + 48]",
    "syscall",
    "cmp rax, -4095",
    "jae .Lop_failed",
    ".Lop_next:",
    "add r14, {OP_LEN}",
    "dec rbx",
    "jmp .Lop",
    // Not a syscall: copy arg2 bytes from arg1 to arg0 (the kernel clears
    // the direction flag for a signal handler).
    ".Lop_copy:",
    "mov rcx, [r14 + 24]",
    "rep movsb",
    "jmp .Lop_next",
    ".Lop_failed:",
    "mov [r15 + {RESULT}], rax",
    "mov [r15 + {OPS_N}], rbx",
    "jmp .Lpost",
    ".Lops_done:",
    "mov qword ptr [r15 + {OPS_N}], 0",
    "test r13d, r13d",
    "jz .Lpost",
    ".Lresume:",
    "test r12, r12",
    "jnz .Lhave_frame",
    // First start: build a zeroed frame (no FPU state: rt_sigreturn then
    // gives the app a clean FPU) with the signal stack and user segments.
    "lea r12, [r15 + {SYNTH_UCTX}]",
    "mov rdi, r12",
    "xor eax, eax",
    "mov ecx, {UCTX_QWORDS}",
    "rep stosq",
    "lea rax, [r15 + {PAGE}]",
    "mov [r12 + 16], rax", // uc_stack.ss_sp
    "mov qword ptr [r12 + 32], {SIGSTACK_LEN}", // uc_stack.ss_size
    "movabs rax, {CSGSFS}",
    "mov [r12 + {MCTX} + 18 * 8], rax",
    // The FPU state the Sentry left for this thread, if any (fpstate).
    "mov rax, [r15 + {SYNTH_FP}]",
    "mov [r12 + {MCTX} + 23 * 8], rax",
    ".Lhave_frame:",
    "lea rsi, [r15 + {GREGS}]",
    "lea rdi, [r12 + {MCTX}]",
    "mov ecx, {GREGS_IN}",
    "rep movsq",
    "cmp qword ptr [r15 + {FSGS_MODE}], 0",
    "je .Larch",
    "mov rax, [r15 + {FS_BASE}]",
    "wrfsbase rax",
    "mov rax, [r15 + {GS_BASE}]",
    "wrgsbase rax",
    "jmp .Lreturn",
    ".Larch:",
    "mov rbx, [r15 + {SET_FSGS}]",
    "test ebx, 1",
    "jz .Lno_fs",
    "mov edi, 0x1002", // ARCH_SET_FS
    "mov rsi, [r15 + {FS_BASE}]",
    "mov eax, 158",
    "syscall",
    ".Lno_fs:",
    "test ebx, 2",
    "jz .Lreturn",
    "mov edi, 0x1001", // ARCH_SET_GS
    "mov rsi, [r15 + {GS_BASE}]",
    "mov eax, 158",
    "syscall",
    ".Lreturn:",
    "mov rsp, r12",
    "mov eax, 15", // rt_sigreturn
    "syscall",
    "ud2",
    // Never used (the handler returns with its own rt_sigreturn), but x86_64
    // signal delivery requires SA_RESTORER.
    ".p2align 4",
    "husk_systrap_restorer:",
    "mov eax, 15",
    "syscall",
    "ud2",
    // The stub factory, once it has unmapped all but the region (its
    // factory page is mapped): serve requests, each a clone into a new stub
    // (a child of the Sentry, CLONE_PARENT), which maps its control region
    // from the pool, seals itself and starts as a forked stub does. Every
    // signal stays blocked here, as in the stubs.
    ".Lfactory:",
    "lea r15, [rip + .Lsys_start + {FACTORY_PAGE}]",
    ".Lf_wait:",
    "mov eax, dword ptr [r15 + {F_STATE}]",
    "cmp eax, {F_REQUEST}",
    "je .Lf_clone",
    "lea rdi, [r15 + {F_STATE}]",
    "xor esi, esi", // FUTEX_WAIT while the word is what we read
    "mov edx, eax",
    "xor r10d, r10d",
    "mov eax, 202",
    "syscall",
    "jmp .Lf_wait",
    ".Lf_clone:",
    // What the child needs, read before the clone: once the reply is posted
    // the Sentry may rewrite the page for its next request.
    "mov r13, [r15 + {F_SLOT}]",
    "mov r14, [r15 + {F_POOL_FD}]",
    "mov rbx, [r15 + {F_SENTRY_PID}]",
    "mov edi, {CLONE_PARENT}",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "mov eax, 56", // clone
    "syscall",
    "test rax, rax",
    "jz .Lf_child",
    "mov [r15 + {F_RESULT}], rax",
    "mov dword ptr [r15 + {F_STATE}], {F_DONE}",
    "lea rdi, [r15 + {F_STATE}]",
    "mov esi, 1", // FUTEX_WAKE
    "mov edx, 1",
    "mov eax, 202",
    "syscall",
    "jmp .Lf_wait",
    ".Lf_child:",
    "mov edi, 1", // prctl(PR_SET_PDEATHSIG, SIGKILL)
    "mov esi, 9",
    "mov eax, 157",
    "syscall",
    "mov eax, 110", // getppid: still the Sentry's child?
    "syscall",
    "cmp rax, rbx",
    "jne .Lf_die",
    "lea rdi, [rip + .Lsys_start + {PAGE}]",
    "mov esi, {CTRL_LEN}",
    "mov edx, 3", // PROT_READ | PROT_WRITE
    "mov r10d, {SHARED_FIXED}",
    "mov r8, r14",
    "mov r9, r13",
    "mov eax, 9", // mmap the control region
    "syscall",
    "lea rdi, [rip + .Lsys_start + {PAGE}]",
    "cmp rax, rdi",
    "jne .Lf_die",
    "mov rdi, r14",
    "mov eax, 3", // close the pool
    "syscall",
    "mov edi, 1", // seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)
    "xor esi, esi",
    "lea rdx, [r15 + {F_PROG}]",
    "mov eax, 317",
    "syscall",
    "test rax, rax",
    "jnz .Lf_die",
    "mov rdi, r15",
    "mov esi, {PAGE}",
    "mov eax, 11", // munmap the factory page
    "syscall",
    "lea r15, [rip + .Lsys_start + {PAGE}]",
    "xor r12d, r12d", // no signal frame yet
    "jmp .Lpost",
    ".Lf_die:",
    "mov edi, 110",
    "mov eax, 231", // exit_group
    "syscall",
    "ud2",
    "husk_systrap_end:",
    ".popsection",
    PAGE = const PAGE,
    UCTX = const shared::UCTX,
    SIGNO = const shared::SIGNO,
    MCTX = const MCTX,
    GREGS = const GREGS,
    GREGS_OUT = const shared::GREGS_OUT,
    GREGS_IN = const GREGS_IN,
    SIGINFO = const shared::SIGINFO,
    FSGS_MODE = const shared::FSGS_MODE,
    SET_FSGS = const shared::SET_FSGS,
    FS_BASE = const shared::FS_BASE,
    GS_BASE = const shared::GS_BASE,
    STATE = const shared::STATE,
    SPIN = const shared::SPIN,
    STUB_CPU = const shared::STUB_CPU,
    SENTRY_CPU = const shared::SENTRY_CPU,
    CPUNODE_SEG = const CPUNODE_SEG,
    SIGSYS = const libc::SIGSYS,
    SYS_SECCOMP = const 1,
    REQ = const shared::REQ,
    OPS_N = const shared::OPS_N,
    OPS = const shared::OPS,
    OP_LEN = const shared::OP_LEN,
    OP_COPY = const shared::OP_COPY as i64,
    RESULT = const shared::RESULT,
    S_SENTRY = const shared::S_SENTRY,
    S_SENTRY_W = const shared::S_SENTRY | shared::WAITING,
    S_APP = const shared::S_APP,
    WAITING = const shared::WAITING,
    TURN_MASK = const shared::TURN_MASK,
    REQ_RESUME = const shared::REQ_RESUME,
    SYNTH_UCTX = const shared::SYNTH_UCTX,
    SYNTH_FP = const shared::SYNTH_FP,
    UCTX_QWORDS = const UCTX_QWORDS,
    SIGSTACK_LEN = const SIGSTACK_LEN,
    CSGSFS = const CSGSFS,
    FACTORY_PAGE = const shared::FACTORY_PAGE,
    F_STATE = const shared::F_STATE,
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
            "jmp {entry}",
            entry = in(reg) base,
            in("r14") factory,
            in("rdi") base,
            in("rsi") end,
            in("rdx") task_size,
            options(noreturn),
        );
    }
}

/// Makes the code just copied to `start` visible to instruction fetches
/// (x86_64's caches are coherent: nothing to do).
pub(in crate::systrap) fn sync_icache(_start: u64, _len: u64) {}

/// Addresses at or above this are not canonical user addresses.
const USER_LIMIT: u64 = 0x7fff_ffff_f000;
/// The page-fault trap number.
const TRAP_PF: u64 = 14;

/// The event's general registers, as the kernel's `struct sigcontext`
/// holds them: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags,
/// cs/gs/fs/ss, err, trapno, oldmask, cr2 (23 words).
pub const GREGS: usize = 0x100;
/// How many words of `GREGS` the stub copies out of the signal frame.
pub const GREGS_OUT: usize = 23;
/// How many words the stub copies back in on resume (r8 through eflags).
pub const GREGS_IN: usize = 18;
/// The event's siginfo (128 bytes; not copied for SIGSYS).
pub const SIGINFO: usize = 0x200;
/// Where the stub builds a signal frame of its own to start the app with
/// (an offset in the control region, near the signal stack's top).
pub const SYNTH_UCTX: usize = CTRL_LEN - 1024;
/// Where the Sentry puts the FPU state a new thread starts with (an XSAVE
/// area with its signal-frame marker and trailing magic word), 64-byte
/// aligned, below [`SYNTH_UCTX`]: a thread inherits its parent's FPU.
pub const SYNTH_FP_AREA: usize = (SYNTH_UCTX - crate::FP_STATE_CAP - 64) & !63;
const _: () = assert!(SYNTH_FP_AREA >= PAGE && SYNTH_FP_AREA.is_multiple_of(64));

// Word indices into GREGS (glibc's REG_* numbering).
const G_R8: usize = 0;
const G_RDI: usize = 8;
const G_RSI: usize = 9;
const G_RBP: usize = 10;
const G_RBX: usize = 11;
const G_RDX: usize = 12;
const G_RAX: usize = 13;
const G_RCX: usize = 14;
const G_RSP: usize = 15;
const G_RIP: usize = 16;
const G_EFL: usize = 17;
const G_CSGSFS: usize = 18;
/// The page-fault error code.
const G_ERR: usize = 19;
/// The trap number.
const G_TRAPNO: usize = 20;

/// The probe's app code: `syscall; ud2`.
pub(in crate::systrap) const PROBE_CODE: &[u8] = &[0x0f, 0x05, 0x0f, 0x0b];

/// The probe's registers: at `at`, asking for getpid.
pub(in crate::systrap) fn probe_regs(at: u64) -> Regs {
    let mut regs = Regs::for_entry(at, 0);
    regs.rax = libc::SYS_getpid as u64;
    regs
}

/// Whether the stubs may use rd/wr{fs,gs}base (HWCAP2_FSGSBASE).
pub(in crate::systrap) fn has_fsgsbase() -> bool {
    super::super::sys::has_fsgsbase()
}

/// Control-region set-up before a stub starts: none (the stub builds its
/// first frame itself).
pub(in crate::systrap) fn init_ctrl(_ctrl: &Ctrl, _sigstack: u64) {}

impl Ctrl {
    /// Writes the registers the stub loads on resume.
    pub fn put_regs(&self, r: &Regs) {
        let mut g = [0u64; GREGS_IN];
        g[G_R8..G_R8 + 8].copy_from_slice(&[r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15]);
        g[G_RDI] = r.rdi;
        g[G_RSI] = r.rsi;
        g[G_RBP] = r.rbp;
        g[G_RBX] = r.rbx;
        g[G_RDX] = r.rdx;
        g[G_RAX] = r.rax;
        g[G_RCX] = r.rcx;
        g[G_RSP] = r.rsp;
        g[G_RIP] = r.rip;
        g[G_EFL] = r.eflags;
        for (i, w) in g.iter().enumerate() {
            self.set(GREGS + 8 * i, *w);
        }
    }

    /// Reads the event's registers into `r`, leaving `orig_rax`, the bases
    /// and the data segment selectors to the caller.
    pub fn take_regs(&self, r: &mut Regs) -> [u64; GREGS_OUT] {
        let g: [u64; GREGS_OUT] = self.get_words(GREGS);
        [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15] = [g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]];
        r.rdi = g[G_RDI];
        r.rsi = g[G_RSI];
        r.rbp = g[G_RBP];
        r.rbx = g[G_RBX];
        r.rdx = g[G_RDX];
        r.rax = g[G_RAX];
        r.rcx = g[G_RCX];
        r.rsp = g[G_RSP];
        r.rip = g[G_RIP];
        r.eflags = g[G_EFL];
        r.cs = g[G_CSGSFS] & 0xffff;
        r.ss = (g[G_CSGSFS] >> 48) & 0xffff;
        g
    }
}

impl SystrapAddressSpace {
    /// Writes `regs` and the fs and gs bases for the stub's resume.
    pub(in crate::systrap) fn put_state(&mut self, regs: &Regs) -> Result<(), PlatformError> {
        if regs.fs_base >= USER_LIMIT || regs.gs_base >= USER_LIMIT {
            return Err(PlatformError::Protocol { pid: self.pid, what: "fs or gs base outside user space" });
        }
        let c = &self.ctrl;
        c.put_regs(regs);
        if self.fsgsbase {
            c.set(shared::FS_BASE, regs.fs_base);
            c.set(shared::GS_BASE, regs.gs_base);
        } else {
            let mut set = 0;
            if self.fs_base != Some(regs.fs_base) {
                c.set(shared::FS_BASE, regs.fs_base);
                set |= 1;
            }
            if self.gs_base != Some(regs.gs_base) {
                c.set(shared::GS_BASE, regs.gs_base);
                set |= 2;
            }
            c.set(shared::SET_FSGS, set);
        }
        self.fs_base = Some(regs.fs_base);
        self.gs_base = Some(regs.gs_base);
        Ok(())
    }

    /// Decodes the event the stub posted into `regs` and an outcome.
    pub(in crate::systrap) fn event(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let c = &self.ctrl;
        let signo = c.get(shared::SIGNO);
        let g = c.take_regs(regs);
        if self.fsgsbase {
            // Only the app's own wrfsbase could have changed them; these are
            // plain register values for the Sentry.
            regs.fs_base = c.get(shared::FS_BASE);
            regs.gs_base = c.get(shared::GS_BASE);
            self.fs_base = Some(regs.fs_base);
            self.gs_base = Some(regs.gs_base);
        }
        let sig = i32::try_from(signo).unwrap_or(-1);
        match sig {
            libc::SIGSYS => {
                // (The stub itself ignores a SIGSYS that seccomp did not
                // raise.)
                // As at a PTRACE_SYSEMU stop: the number in orig_rax,
                // -ENOSYS in rax, rip after the syscall instruction.
                regs.orig_rax = regs.rax;
                regs.rax = (-libc::ENOSYS) as i64 as u64;
                Ok(SwitchOutcome::Syscall)
            }
            libc::SIGILL if (c.siginfo()[1] & 0xffff_ffff) as u32 as i32 == libc::SI_KERNEL => {
                // Only the host kernel raises SIGILL with SI_KERNEL here: the
                // uretprobe syscall (335, Linux 6.11+) made outside a uretprobe
                // trampoline, which seccomp lets through unfiltered since 6.13
                // and which forces SIGILL. It is the app's syscall 335 all
                // the same, with rip after it: the Sentry answers it, as it
                // does under ptrace, rather than the host.
                regs.orig_rax = URETPROBE_SYSCALL;
                regs.rax = (-libc::ENOSYS) as i64 as u64;
                Ok(SwitchOutcome::Syscall)
            }
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                regs.orig_rax = u64::MAX;
                let info = c.siginfo();
                let si_code = (info[1] & 0xffff_ffff) as u32 as i32;
                let addr = info[2];
                let access = (g[G_TRAPNO] == TRAP_PF).then(|| {
                    let err = g[G_ERR];
                    if err & 0x10 != 0 {
                        Access::Exec
                    } else if err & 0x2 != 0 {
                        Access::Write
                    } else {
                        Access::Read
                    }
                });
                let syndrome = Some(crate::Syndrome { number: g[G_TRAPNO], code: g[G_ERR] });
                Ok(SwitchOutcome::Fault { signo: sig as u32, code: si_code, addr, access, syndrome })
            }
            stub::INTERRUPT_SIGNAL => {
                regs.orig_rax = u64::MAX;
                Ok(SwitchOutcome::Interrupted)
            }
            _ => Err(PlatformError::Protocol { pid: self.pid, what: "event with an unexpected signal number" }),
        }
    }
}

/// Offset of `uc_mcontext.fpstate` in `struct ucontext`.
const FPSTATE_PTR: usize = 40 + 23 * 8;

/// x86_64's uretprobe syscall number, which no seccomp filter can trap.
const URETPROBE_SYSCALL: u64 = 335;

impl SystrapAddressSpace {
    /// Leaves `fp` in the control region for the frame that the first
    /// resume builds, with the marker and magic word Linux's `rt_sigreturn`
    /// checks (without them it would load the legacy area alone).
    fn stage_first_fp(&mut self, fp: &FpState) {
        let layout = fp_layout();
        let mut clean = fp.clone();
        clean.sanitize(layout);
        let off = shared::SYNTH_FP_AREA;
        if layout.xsave {
            clean.mark_sigframe(layout);
            self.ctrl.write_bytes(off, &clean.bytes[..layout.size]);
            self.ctrl.write_bytes(off + layout.size, &FP_XSTATE_MAGIC2.to_le_bytes());
        } else {
            clean.bytes[FX_SW_BYTES..XSAVE_HEADER].fill(0);
            self.ctrl.write_bytes(off, &clean.bytes[..XSAVE_HEADER]);
        }
        self.ctrl.set(shared::SYNTH_FP, self.stub_ctrl + off as u64);
    }

    /// Where the FPU state of the frame the stub is parked in lies in the
    /// control region, if there is such a frame (not before the first run),
    /// and whether it is a whole XSAVE area of [`fp_layout`]'s shape (the
    /// kernel's marker says so), not the FXSAVE area alone.
    fn fp_area(&self) -> Result<Option<(usize, bool)>, PlatformError> {
        if !self.parked {
            return Err(self.died());
        }
        let bad = PlatformError::Protocol { pid: self.pid, what: "signal frame outside the signal stack" };
        let to_off = |addr: u64| -> Option<usize> {
            let off = usize::try_from(addr.checked_sub(self.stub_ctrl)?).ok()?;
            (off >= shared::PAGE && off.is_multiple_of(8)).then_some(off)
        };
        let uctx = self.ctrl.get(shared::UCTX);
        if uctx == 0 {
            return Ok(None);
        }
        let uctx = to_off(uctx).filter(|o| o + FPSTATE_PTR + 8 <= shared::CTRL_LEN);
        let Some(uctx) = uctx else { return Err(bad) };
        let fp = self.ctrl.get(uctx + FPSTATE_PTR);
        if fp == 0 {
            return Ok(None);
        }
        let off = match to_off(fp) {
            Some(o) if o.is_multiple_of(64) && o + XSAVE_MIN <= shared::CTRL_LEN => o,
            _ => return Err(bad),
        };
        let layout = fp_layout();
        let end = off + layout.size;
        let full = layout.xsave && end + 4 <= shared::CTRL_LEN && {
            let sw: [u64; 3] = self.ctrl.get_words(off + FX_SW_BYTES);
            let magic1 = sw[0] as u32;
            let xstate_size = sw[2] as u32 as usize;
            let mut magic2 = [0u8; 4];
            self.ctrl.read_bytes(end, &mut magic2);
            magic1 == FP_XSTATE_MAGIC1 && xstate_size == layout.size && u32::from_le_bytes(magic2) == FP_XSTATE_MAGIC2
        };
        Ok(Some((off, full)))
    }

    pub(in crate::systrap) fn get_fp(&mut self, fp: &mut FpState) -> Result<bool, PlatformError> {
        let Some((off, full)) = self.fp_area()? else {
            // Not run yet: the state the first resume will load, if any.
            if self.ctrl.get(shared::SYNTH_FP) == 0 {
                return Ok(false);
            }
            let layout = fp_layout();
            let len = if layout.xsave { layout.size } else { XSAVE_HEADER };
            self.ctrl.read_bytes(shared::SYNTH_FP_AREA, &mut fp.bytes[..len]);
            fp.bytes[FX_SW_BYTES..XSAVE_HEADER].fill(0);
            return Ok(true);
        };
        let layout = fp_layout();
        if full {
            self.ctrl.read_bytes(off, &mut fp.bytes[..layout.size]);
        } else {
            self.ctrl.read_bytes(off, &mut fp.bytes[..512]);
            if layout.xsave {
                fp.bytes[XSAVE_HEADER..layout.size].fill(0);
                fp.set_xstate_bv(XFEATURE_FPSSE);
            }
        }
        // The kernel's frame marker is not part of the app's state.
        fp.bytes[FX_SW_BYTES..512].fill(0);
        Ok(true)
    }

    pub(in crate::systrap) fn set_fp(&mut self, fp: &FpState) -> Result<bool, PlatformError> {
        let Some((off, full)) = self.fp_area()? else {
            self.stage_first_fp(fp);
            return Ok(true);
        };
        let layout = fp_layout();
        let mut clean = fp.clone();
        clean.sanitize(layout);
        // Keep the kernel's marker (bytes 464..512 and magic2), which says
        // how much XSAVE state follows.
        self.ctrl.write_bytes(off, &clean.bytes[..FX_SW_BYTES]);
        if full {
            self.ctrl.write_bytes(off + XSAVE_HEADER, &clean.bytes[XSAVE_HEADER..layout.size]);
        } else if self.ctrl.get(off + FX_SW_BYTES) as u32 == FP_XSTATE_MAGIC1 {
            // An XSAVE frame of another shape than ours: only x87 and SSE
            // are replaced; mark them present, or the kernel would load
            // their initial state.
            let bv = off + XSAVE_HEADER;
            self.ctrl.set(bv, self.ctrl.get(bv) | XFEATURE_FPSSE);
        }
        Ok(true)
    }
}
