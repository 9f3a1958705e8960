//! The systrap stub: its code page, its seccomp filter and how it is forked.
//!
//! The stub region sits high in the address space, above every address the app
//! may map: the code page (copied from `husk_systrap_start` below), then the
//! control region (the control page and the signal stack, mapped from a memfd
//! the Sentry shares; see `shared.rs`). The rest of the region is reserved.
//!
//! A stub is forked from a long-lived spawner thread of the Sentry (so that
//! `PR_SET_PDEATHSIG`, which fires when the forking *thread* exits, fires only
//! when the Sentry dies). Before it runs a single app instruction the child:
//! - asks to be killed when the Sentry dies and becomes its own session;
//! - resets every signal action, then installs the stub's handler for SIGSYS,
//!   SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and the interrupt signal
//!   (SIGUSR2) on the signal stack, with every signal blocked while it runs;
//!   stub code only ever runs with every signal blocked, app code with the
//!   app's mask (none at first);
//! - maps the control region, closes every fd but the memory file, drops the
//!   inherited rseq registration;
//! - installs the seccomp filter ([`stub_filter`]): any syscall from outside
//!   the code page traps (SIGSYS), and from the code page only what the
//!   handler needs is allowed, with argument checks;
//! - jumps to the code page, which unmaps everything outside the stub region
//!   and hands the first turn to the Sentry.
//!
//! The code page holds the signal handler, which copies the signal frame's
//! registers and siginfo into the control page, gives the turn to the Sentry,
//! waits for the reply (spinning briefly, then FUTEX_WAIT), and then either
//! runs one syscall for the Sentry (an address-space change) and waits again,
//! or copies the Sentry's registers into the frame and returns through
//! `rt_sigreturn`. At startup there is no frame yet: the first resume builds
//! one on the signal stack, so `rt_sigreturn` loads the full register set,
//! and either the FPU state the Sentry left in the control region (a
//! thread inherits its parent's) or, with none, a clean FPU.

use std::io;
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use super::shared::{self, CTRL_LEN, PAGE, SIGSTACK_LEN};
use crate::arch::TASK_SIZE;
use crate::bpf::*;
use crate::PlatformError;

/// The signal [`super::SystrapInterrupter`] sends; the handler reports it as
/// an event like any other.
pub const INTERRUPT_SIGNAL: i32 = libc::SIGUSR2;

/// The reserved stub region: code page, control region, spare.
pub const REGION_LEN: u64 = 64 * 1024;
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
    // rdx = TASK_SIZE. Unmap everything outside the region.
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
    // Our turn: resume the app, or run one syscall for the Sentry.
    ".Lserve:",
    "cmp qword ptr [r15 + {REQ}], {REQ_RESUME}",
    "je .Lresume",
    "mov rax, [r15 + {NR}]",
    "mov rdi, [r15 + {ARGS}]",
    "mov rsi, [r15 + {ARGS} + 8]",
    "mov rdx, [r15 + {ARGS} + 16]",
    "mov r10, [r15 + {ARGS} + 24]",
    "mov r8, [r15 + {ARGS} + 32]",
    "mov r9, [r15 + {ARGS} + 40]",
    "syscall",
    "mov [r15 + {RESULT}], rax",
    "jmp .Lpost",
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
    "husk_systrap_end:",
    ".popsection",
    PAGE = const PAGE,
    UCTX = const shared::UCTX,
    SIGNO = const shared::SIGNO,
    MCTX = const MCTX,
    GREGS = const shared::GREGS,
    GREGS_OUT = const shared::GREGS_OUT,
    GREGS_IN = const shared::GREGS_IN,
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
    NR = const shared::NR,
    ARGS = const shared::ARGS,
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
);

extern "C" {
    static husk_systrap_start: u8;
    static husk_systrap_handler: u8;
    static husk_systrap_restorer: u8;
    static husk_systrap_end: u8;
}

/// Where the stub region sits; the same in the Sentry and in every stub.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    /// The code page's address (the region's start).
    pub base: u64,
    /// The signal handler's address.
    pub handler: u64,
    /// The restorer's address.
    pub restorer: u64,
}

impl Region {
    /// The control page's address in the stub.
    pub fn ctrl(&self) -> u64 {
        self.base + PAGE as u64
    }
    /// The signal stack's address in the stub.
    pub fn sigstack(&self) -> u64 {
        self.ctrl() + PAGE as u64
    }
}

static REGION: OnceLock<Result<Region, i32>> = OnceLock::new();

/// Reserves the stub region once per Sentry process and fills its code page.
pub fn region() -> Result<Region, PlatformError> {
    let r = REGION.get_or_init(|| map_region().map_err(|e| e.raw_os_error().unwrap_or(0)));
    r.map_err(|e| PlatformError::StubCreate(io::Error::from_raw_os_error(e)))
}

fn map_region() -> io::Result<Region> {
    // Taking the addresses of the linker symbols reads nothing.
    let (start, handler, restorer, end) = (
        std::ptr::addr_of!(husk_systrap_start) as u64,
        std::ptr::addr_of!(husk_systrap_handler) as u64,
        std::ptr::addr_of!(husk_systrap_restorer) as u64,
        std::ptr::addr_of!(husk_systrap_end) as u64,
    );
    let len = end - start;
    assert!(len < PAGE as u64, "systrap stub code exceeds a page");
    assert!(CTRL_LEN as u64 + (PAGE as u64) <= REGION_LEN);
    // Below the ptrace platform's first candidate, 4 GiB-aligned so that the
    // code page never straddles a 4 GiB line (the filter compares the low
    // and high halves of the instruction pointer separately).
    let mut candidate: u64 = 0x7ffe_0000_0000;
    for _ in 0..256 {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                candidate as *mut libc::c_void,
                REGION_LEN as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && p as u64 == candidate {
            // SAFETY: the first page of the reservation just made, ours.
            if unsafe { libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `p` is now a writable page of ours; the source is the
            // stub's code in our text, `len` (< one page) bytes long.
            unsafe {
                std::ptr::copy_nonoverlapping(start as *const u8, p.cast::<u8>(), len as usize);
            }
            // SAFETY: as above.
            if unsafe { libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            return Ok(Region {
                base: candidate,
                handler: candidate + (handler - start),
                restorer: candidate + (restorer - start),
            });
        }
        if p != libc::MAP_FAILED {
            // An old kernel that took the address as a hint: give it back.
            // SAFETY: unmapping what we just mapped.
            unsafe { libc::munmap(p, REGION_LEN as usize) };
        }
        candidate -= 0x1_0000_0000;
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}

// Stub-specific constants for the filter.
const ARCH_SET_GS: u32 = 0x1001;
const ARCH_SET_FS: u32 = 0x1002;
const SA_RESTORER: u64 = 0x0400_0000;

/// A jump target while the filter is being built.
#[derive(Clone, Copy)]
enum To {
    Next,
    Allow,
    Trap,
    Kill,
    Label(u8),
}

/// A tiny assembler for the filter: forward jumps to labels and to the three
/// final returns, resolved at the end.
#[derive(Default)]
struct Bpf {
    insns: Vec<(libc::sock_filter, To, To)>,
    labels: Vec<(u8, usize)>,
}

impl Bpf {
    fn ld(&mut self, off: u32) {
        self.insns.push((stmt(BPF_LD_W_ABS, off), To::Next, To::Next));
    }
    fn jeq(&mut self, k: u32, t: To, f: To) {
        self.insns.push((jump(BPF_JEQ_K, k, 0, 0), t, f));
    }
    fn jge(&mut self, k: u32, t: To, f: To) {
        self.insns.push((jump(BPF_JGE_K, k, 0, 0), t, f));
    }
    fn ret(&mut self, k: u32) {
        self.insns.push((stmt(BPF_RET_K, k), To::Next, To::Next));
    }
    fn label(&mut self, l: u8) {
        self.labels.push((l, self.insns.len()));
    }
    fn finish(mut self) -> Vec<libc::sock_filter> {
        let allow = self.insns.len();
        self.ret(SECCOMP_RET_ALLOW);
        self.ret(SECCOMP_RET_TRAP);
        self.ret(SECCOMP_RET_KILL_PROCESS);
        let labels = self.labels;
        let target = |to: To, at: usize| -> u8 {
            let dest = match to {
                To::Next => at + 1,
                To::Allow => allow,
                To::Trap => allow + 1,
                To::Kill => allow + 2,
                To::Label(l) => labels.iter().find(|(n, _)| *n == l).expect("label").1,
            };
            u8::try_from(dest - at - 1).expect("BPF jump too far")
        };
        let n = self.insns.len();
        let mut out = Vec::with_capacity(n);
        for (i, (mut ins, t, f)) in self.insns.into_iter().enumerate() {
            if ins.code == BPF_JEQ_K || ins.code == BPF_JGE_K {
                ins.jt = target(t, i);
                ins.jf = target(f, i);
            }
            out.push(ins);
        }
        out
    }
}

/// The stub's filter.
///
/// - A syscall whose instruction pointer is outside the code page traps
///   (SIGSYS): that is every app syscall.
/// - From the code page: rt_sigreturn; futex WAIT and WAKE only; mmap only of
///   the memory file with exactly MAP_SHARED|MAP_FIXED; munmap; mprotect;
///   arch_prctl ARCH_SET_FS and ARCH_SET_GS only.
/// - Anything else, or a non-x86_64 syscall (int 0x80), kills the process.
pub fn stub_filter(region: Region, memfd: RawFd) -> Vec<libc::sock_filter> {
    const FUTEX: u8 = 1;
    const MMAP: u8 = 2;
    const ARCH_PRCTL: u8 = 3;
    let lo = (region.base & 0xffff_ffff) as u32;
    let hi = (region.base >> 32) as u32;
    let mut b = Bpf::default();
    b.ld(OFF_ARCH);
    b.jeq(AUDIT_ARCH_X86_64, To::Next, To::Kill);
    b.ld(OFF_IP_HI);
    b.jeq(hi, To::Next, To::Trap);
    b.ld(OFF_IP_LO);
    b.jge(lo, To::Next, To::Trap);
    b.jge(lo + PAGE as u32, To::Trap, To::Next);
    b.ld(OFF_NR);
    b.jeq(libc::SYS_rt_sigreturn as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_futex as u32, To::Label(FUTEX), To::Next);
    b.jeq(libc::SYS_mmap as u32, To::Label(MMAP), To::Next);
    b.jeq(libc::SYS_munmap as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_mprotect as u32, To::Allow, To::Next);
    b.jeq(libc::SYS_arch_prctl as u32, To::Label(ARCH_PRCTL), To::Kill);
    b.label(FUTEX);
    b.ld(off_arg_lo(1));
    b.jeq(libc::FUTEX_WAIT as u32, To::Allow, To::Next);
    b.jeq(libc::FUTEX_WAKE as u32, To::Allow, To::Kill);
    b.label(MMAP);
    b.ld(off_arg_lo(3));
    b.jeq((libc::MAP_SHARED | libc::MAP_FIXED) as u32, To::Next, To::Kill);
    b.ld(off_arg_hi(3));
    b.jeq(0, To::Next, To::Kill);
    b.ld(off_arg_lo(4));
    b.jeq(memfd as u32, To::Next, To::Kill);
    b.ld(off_arg_hi(4));
    b.jeq(0, To::Allow, To::Kill);
    b.label(ARCH_PRCTL);
    b.ld(off_arg_hi(0));
    b.jeq(0, To::Next, To::Kill);
    b.ld(off_arg_lo(0));
    b.jeq(ARCH_SET_FS, To::Allow, To::Next);
    b.jeq(ARCH_SET_GS, To::Allow, To::Kill);
    b.finish()
}

/// What the spawner thread needs to fork one stub.
struct SpawnRequest {
    memfd: RawFd,
    ctrl_fd: RawFd,
    region: Region,
    reply: mpsc::Sender<io::Result<i32>>,
}

/// The spawner thread's queue (`None` if the thread could not start).
static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();

/// Blocks every signal in the calling thread. The spawner thread only forks;
/// signals sent to the Sentry process must go to the threads that handle
/// them, never to it.
fn block_all_signals() {
    // SAFETY: building a full sigset_t in a local and installing it as this
    // thread's mask; the pointers are to locals that outlive the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Forks a stub from the spawner thread and returns its pid. The stub maps
/// `ctrl_fd` (a control region) and keeps only `memfd` open.
pub fn spawn(memfd: RawFd, ctrl_fd: RawFd, region: Region) -> Result<i32, PlatformError> {
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("husk-systrap-spawner".into())
            .spawn(move || {
                block_all_signals();
                for req in rx {
                    let r = fork_stub(req.memfd, req.ctrl_fd, req.region);
                    let _ = req.reply.send(r);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let gone = || PlatformError::StubCreate(io::Error::other("the stub spawner thread is gone"));
    let tx = tx.as_ref().ok_or_else(gone)?;
    let (reply, rx) = mpsc::channel();
    let req = SpawnRequest { memfd, ctrl_fd, region, reply };
    tx.lock().unwrap_or_else(|e| e.into_inner()).send(req).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?.map_err(PlatformError::StubCreate)
}

fn fork_stub(memfd: RawFd, ctrl_fd: RawFd, region: Region) -> io::Result<i32> {
    // Built before the fork: the child must not allocate.
    let filter = stub_filter(region, memfd);
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: getpid takes nothing.
    let parent = unsafe { libc::getpid() };
    // SAFETY: fork in a multithreaded process; the child only makes raw
    // syscalls (async-signal-safe) and then jumps to the stub page, never
    // returning into Rust code that could touch locks or the allocator.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child; see `child_main`.
        unsafe { child_main(memfd, ctrl_fd, region, parent, &prog) }
    }
    Ok(pid)
}

/// The kernel's `struct sigaction` (x86_64).
#[repr(C)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

/// The forked child's whole life before the stub code runs.
///
/// # Safety
/// Must be called only in the child of `fork`, with `prog` pointing at a
/// filter that outlives the call. It never returns.
unsafe fn child_main(memfd: RawFd, ctrl_fd: RawFd, region: Region, parent: i32, prog: &libc::sock_fprog) -> ! {
    // SAFETY: raw syscalls with plain values or pointers to live locals; on
    // failure the child exits without unwinding. The control region is mapped
    // over the Sentry's PROT_NONE reservation of it, which nothing else uses.
    // The final jump goes to the stub page, which exists in the child
    // (inherited from the Sentry) and does not return.
    unsafe {
        let fail = |code: i32| -> ! { libc::_exit(code) };
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            fail(101);
        }
        if libc::getppid() != parent {
            fail(102);
        }
        // A session and process group of its own: signals the host's
        // terminal sends its foreground group (^C, ^Z, SIGWINCH) must never
        // reach a stub, only the Sentry, which passes them to the app.
        if libc::setsid() < 0 {
            fail(107);
        }
        // Every signal back to its default action, then ours.
        let dfl = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, 0usize, 8usize);
            }
        }
        let p = libc::mmap(
            region.ctrl() as *mut libc::c_void,
            CTRL_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            ctrl_fd,
            0,
        );
        if p as u64 != region.ctrl() {
            fail(103);
        }
        let ss = libc::stack_t { ss_sp: region.sigstack() as *mut libc::c_void, ss_flags: 0, ss_size: SIGSTACK_LEN };
        if libc::syscall(libc::SYS_sigaltstack, &ss, 0usize) != 0 {
            fail(104);
        }
        let act = KernelSigaction {
            handler: region.handler,
            flags: (libc::SA_SIGINFO | libc::SA_ONSTACK) as u64 | SA_RESTORER,
            restorer: region.restorer,
            mask: u64::MAX,
        };
        for sig in
            [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, INTERRUPT_SIGNAL]
        {
            if libc::syscall(libc::SYS_rt_sigaction, sig, &act, 0usize, 8usize) != 0 {
                fail(105);
            }
        }
        // Stub code runs with every signal blocked: here and at startup by
        // this mask, in the handler by its sa_mask. App code runs with none
        // blocked: the first resume's frame has an empty mask, and every
        // other frame carries the app's.
        let all: u64 = u64::MAX;
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all, 0usize, 8usize);
        if !crate::ptrace::stub::seal_stub(memfd, prog) {
            fail(106);
        }
        std::arch::asm!(
            "jmp {entry}",
            entry = in(reg) region.base,
            in("rdi") region.base,
            in("rsi") region.base + REGION_LEN,
            in("rdx") TASK_SIZE,
            options(noreturn),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic-BPF subset the filter uses over one seccomp_data.
    fn run(filter: &[libc::sock_filter], nr: i64, arch: u32, ip: u64, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&(nr as i32).to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&ip.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = filter[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                BPF_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                other => panic!("unexpected BPF opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn filter_traps_the_app_and_confines_the_stub() {
        let region = Region { base: 0x7ffe_0000_0000, handler: 0x7ffe_0000_0030, restorer: 0x7ffe_0000_0200 };
        let f = stub_filter(region, 7);
        let x86 = AUDIT_ARCH_X86_64;
        let stub_ip = region.base + 0x40;
        let app_ip = 0x40_0007;
        let shared_fixed = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        // Every app syscall traps, whatever it is.
        for nr in [libc::SYS_getpid, libc::SYS_mmap, libc::SYS_rt_sigreturn, libc::SYS_exit_group, 0x4000_0000] {
            assert_eq!(run(&f, nr, x86, app_ip, [0; 6]), SECCOMP_RET_TRAP, "nr {nr}");
        }
        // Just outside the code page is the app's, too.
        assert_eq!(run(&f, libc::SYS_futex, x86, region.base + PAGE as u64, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, x86, region.base - 1, [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&f, libc::SYS_futex, x86, stub_ip + (1 << 32), [0; 6]), SECCOMP_RET_TRAP);
        // What the handler needs, from the code page.
        let allow = |nr, args| run(&f, nr, x86, stub_ip, args);
        assert_eq!(allow(libc::SYS_rt_sigreturn, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 0, 2, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_futex, [0, 1, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mmap, [0x1000, 0x1000, 3, shared_fixed, 7, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_munmap, [0x1000, 0x1000, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_mprotect, [0x1000, 0x1000, 1, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_arch_prctl, [ARCH_SET_FS.into(), 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(allow(libc::SYS_arch_prctl, [ARCH_SET_GS.into(), 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        // Nothing else, and nothing with other arguments.
        let kill = SECCOMP_RET_KILL_PROCESS;
        assert_eq!(allow(libc::SYS_getpid, [0; 6]), kill);
        assert_eq!(allow(libc::SYS_futex, [0, 9, 0, 0, 0, 0]), kill, "FUTEX_WAIT_BITSET");
        assert_eq!(allow(libc::SYS_futex, [0, 128, 0, 0, 0, 0]), kill, "private futex");
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, shared_fixed, 8, 0]), kill, "another fd");
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, shared_fixed, 7 | (1 << 32), 0]), kill);
        let private_fixed = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, private_fixed, 7, 0]), kill, "private");
        let anon = shared_fixed | libc::MAP_ANONYMOUS as u64;
        assert_eq!(allow(libc::SYS_mmap, [0, 0x1000, 3, anon, 7, 0]), kill, "anonymous");
        assert_eq!(allow(libc::SYS_arch_prctl, [0x1003, 0, 0, 0, 0, 0]), kill, "ARCH_GET_FS");
        assert_eq!(allow(libc::SYS_arch_prctl, [u64::from(ARCH_SET_FS) | (1 << 32), 0, 0, 0, 0, 0]), kill);
        // A 32-bit syscall (int 0x80) kills wherever it comes from.
        assert_eq!(run(&f, 20, 0x4000_0003, app_ip, [0; 6]), kill);
    }
}
