//! The systrap stub: its code page, its seccomp filter and how it is forked
//! or cloned by the stub factory ([`Factory`]).
//!
//! The stub region sits high in the address space, above every address the app
//! may map: the code page (copied from `husk_systrap_start` below), then the
//! control region (the control page and the signal stack, a slot of the
//! control pool the Sentry shares; see `shared.rs` and `pool.rs`), then the
//! factory page (in the factory only). The rest of the region is reserved.
//!
//! The first stub is forked from a long-lived spawner thread of the Sentry (so that
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
//! - installs the seccomp filter (`seccomp::stub::systrap`): any syscall from outside
//!   the code page traps (SIGSYS), and from the code page only what the
//!   handler needs is allowed, with argument checks;
//! - jumps to the code page, which unmaps everything outside the stub region
//!   and hands the first turn to the Sentry.
//!
//! The code page holds the signal handler, which copies the signal frame's
//! registers and siginfo into the control page, gives the turn to the Sentry,
//! waits for the reply (spinning briefly, then FUTEX_WAIT), makes the
//! address-space changes the Sentry queued, and then either gives the turn
//! back or copies the Sentry's registers into the frame and returns through
//! `rt_sigreturn`. At startup there is no frame yet: the first resume builds
//! one on the signal stack, so `rt_sigreturn` loads the full register set,
//! and either the FPU state the Sentry left in the control region (a
//! thread inherits its parent's) or, with none, a clean FPU.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use super::shared::{self, CTRL_LEN, PAGE, SIGSTACK_LEN};
use crate::arch::TASK_SIZE;
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
    /// The factory page's address in the stub factory.
    pub fn factory_page(&self) -> u64 {
        self.base + shared::FACTORY_PAGE as u64
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

/// What the spawner thread forks.
#[derive(Clone, Copy)]
enum Child {
    /// A stub whose control region is `CTRL_LEN` bytes at `ctrl_off` in
    /// `ctrl_fd`.
    Stub { ctrl_fd: RawFd, ctrl_off: u64 },
    /// The stub factory, which keeps `pool_fd` (the control pool) open and
    /// maps the factory page from its start.
    Factory { pool_fd: RawFd },
}

/// What the spawner thread needs to fork one child.
struct SpawnRequest {
    memfd: RawFd,
    child: Child,
    region: Region,
    reply: mpsc::Sender<io::Result<i32>>,
}

/// The spawner thread's queue (`None` if the thread could not start).
static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();

/// Blocks every signal in the calling thread. The spawner thread only forks;
/// signals sent to the Sentry process must go to the threads that handle
/// them, never to it.
pub(super) fn block_all_signals() {
    // SAFETY: building a full sigset_t in a local and installing it as this
    // thread's mask; the pointers are to locals that outlive the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Forks a stub from the spawner thread and returns its pid. The stub maps
/// its control region (`CTRL_LEN` bytes at `ctrl_off` in `ctrl_fd`) and
/// keeps only `memfd` open.
pub fn spawn(memfd: RawFd, ctrl_fd: RawFd, ctrl_off: u64, region: Region) -> Result<i32, PlatformError> {
    spawn_child(memfd, Child::Stub { ctrl_fd, ctrl_off }, region)
}

/// Forks the stub factory from the spawner thread and returns its pid; see
/// [`Factory`].
fn spawn_factory(memfd: RawFd, pool_fd: RawFd, region: Region) -> Result<i32, PlatformError> {
    spawn_child(memfd, Child::Factory { pool_fd }, region)
}

fn spawn_child(memfd: RawFd, child: Child, region: Region) -> Result<i32, PlatformError> {
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("husk-systrap-spawner".into())
            .spawn(move || {
                block_all_signals();
                for req in rx {
                    let r = fork_child(req.memfd, req.child, req.region);
                    let _ = req.reply.send(r);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let gone = || PlatformError::StubCreate(io::Error::other("the stub spawner thread is gone"));
    let tx = tx.as_ref().ok_or_else(gone)?;
    let (reply, rx) = mpsc::channel();
    let req = SpawnRequest { memfd, child, region, reply };
    tx.lock().unwrap_or_else(|e| e.into_inner()).send(req).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?.map_err(PlatformError::StubCreate)
}

fn fork_child(memfd: RawFd, child: Child, region: Region) -> io::Result<i32> {
    // Built before the fork: the child must not allocate.
    let filter = seccomp::stub::systrap(region.base, memfd);
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
        unsafe { child_main(memfd, child, region, parent, &prog) }
    }
    Ok(pid)
}

/// The stub factory: a small process forked from the Sentry once, with
/// nothing mapped but the stub region, that clones new stubs on request.
///
/// Forking a stub from the Sentry copies the Sentry's page tables, makes
/// every page it then writes take a copy-on-write fault, and leaves the
/// stub to unmap all of it again (TLB shootdowns included): most of the
/// cost of an app's fork. A clone of the factory costs only what a new
/// process must. The factory is set up as a stub is (signal actions,
/// alternate stack, every signal blocked, no fds but the memory file and
/// the control pool, no rseq, no new privileges) but installs no filter;
/// no app code ever runs in it. Each new stub is a child of the Sentry
/// (`CLONE_PARENT`), asks to die with it as a forked stub does, maps its
/// control region from the pool, closes the pool and installs the stub's
/// filter, whose program the Sentry left in the factory page.
pub struct Factory {
    pid: i32,
    /// The Sentry's mapping of the factory page (slot 0 of the pool); the
    /// lock makes one request at a time.
    page: Mutex<shared::Ctrl>,
}

/// How long the Sentry waits for the factory before it checks that the
/// factory is alive.
const FACTORY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(100);

/// Why the factory gave no stub.
#[derive(Debug)]
pub enum FactoryError {
    /// The factory process is gone.
    Gone,
    /// Its clone failed (as a fork would: a limit, memory).
    Clone(io::Error),
}

impl Factory {
    /// Starts a factory for stubs of `memfd` whose control regions are in
    /// `pool` (slot 0 of which is the factory page).
    pub fn start(memfd: RawFd, pool: std::os::fd::BorrowedFd<'_>, region: Region) -> Result<Self, PlatformError> {
        use std::os::fd::AsRawFd;
        let page = shared::Ctrl::map(pool, 0).map_err(PlatformError::StubCreate)?;
        let filter = seccomp::stub::systrap(region.base, memfd);
        let bytes: Vec<u8> = filter
            .iter()
            .flat_map(|f| {
                let mut b = [0u8; 8];
                b[..2].copy_from_slice(&f.code.to_ne_bytes());
                b[2] = f.jt;
                b[3] = f.jf;
                b[4..].copy_from_slice(&f.k.to_ne_bytes());
                b
            })
            .collect();
        if shared::F_FILTER + bytes.len() > PAGE {
            return Err(PlatformError::StubCreate(io::Error::other("the stub filter does not fit the factory page")));
        }
        page.write_bytes(shared::F_FILTER, &bytes);
        page.set(shared::F_PROG, filter.len() as u64);
        page.set(shared::F_PROG + 8, region.factory_page() + shared::F_FILTER as u64);
        // SAFETY: getpid takes nothing.
        page.set(shared::F_SENTRY_PID, unsafe { libc::getpid() } as u64);
        page.set(shared::F_POOL_FD, pool.as_raw_fd() as u64);
        page.state().store(shared::F_IDLE, Ordering::SeqCst);
        let pid = spawn_factory(memfd, pool.as_raw_fd(), region)?;
        Ok(Factory { pid, page: Mutex::new(page) })
    }

    /// The factory's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Asks for a new stub whose control region is at `ctrl_off` in the
    /// pool, without waiting: [`Factory::collect`] takes the answer. At most
    /// one request is outstanding; the caller keeps that so.
    pub fn request(&self, ctrl_off: u64) {
        let page = self.page.lock().unwrap_or_else(|e| e.into_inner());
        page.set(shared::F_SLOT, ctrl_off);
        page.state().store(shared::F_REQUEST, Ordering::SeqCst);
        super::sys::futex_wake(page.state_ptr());
    }

    /// Waits for the answer to the outstanding request: the new stub's pid.
    pub fn collect(&self) -> Result<i32, FactoryError> {
        let page = self.page.lock().unwrap_or_else(|e| e.into_inner());
        let state = page.state();
        while state.load(Ordering::SeqCst) != shared::F_DONE {
            let woke = super::sys::futex_wait(page.state_ptr(), shared::F_REQUEST, FACTORY_PATIENCE);
            if matches!(woke, super::sys::Wait::TimedOut)
                && state.load(Ordering::SeqCst) != shared::F_DONE
                && super::sys::try_wait(self.pid).is_some()
            {
                return Err(FactoryError::Gone);
            }
        }
        let r = page.get(shared::F_RESULT) as i64;
        state.store(shared::F_IDLE, Ordering::SeqCst);
        if r < 0 {
            return Err(FactoryError::Clone(io::Error::from_raw_os_error(-r as i32)));
        }
        i32::try_from(r).map_err(|_| FactoryError::Gone)
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        super::sys::kill(self.pid);
        super::sys::reap(self.pid);
    }
}

/// `SA_RESTORER`: the handler returns through the stub's restorer.
const SA_RESTORER: u64 = 0x0400_0000;

/// The kernel's `struct sigaction` (x86_64).
#[repr(C)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

/// The forked child's whole life before the stub code (or the factory's)
/// runs.
///
/// # Safety
/// Must be called only in the child of `fork`, with `prog` pointing at a
/// filter that outlives the call. It never returns.
unsafe fn child_main(memfd: RawFd, child: Child, region: Region, parent: i32, prog: &libc::sock_fprog) -> ! {
    // SAFETY: raw syscalls with plain values or pointers to live locals; on
    // failure the child exits without unwinding. The control region (or the
    // factory page) is mapped over the Sentry's PROT_NONE reservation of it,
    // which nothing else uses. The final jump goes to the stub page, which
    // exists in the child (inherited from the Sentry) and does not return.
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
        let (at, len, fd, off) = match child {
            Child::Stub { ctrl_fd, ctrl_off } => (region.ctrl(), CTRL_LEN, ctrl_fd, ctrl_off),
            Child::Factory { pool_fd } => (region.factory_page(), PAGE, pool_fd, 0),
        };
        let p = libc::mmap(
            at as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            off as libc::off_t,
        );
        if p as u64 != at {
            fail(103);
        }
        // (The factory's stubs map their control regions there.)
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
        let factory = match child {
            Child::Stub { .. } => {
                if !crate::ptrace::stub::seal_stub(memfd, prog) {
                    fail(106);
                }
                0u64
            }
            Child::Factory { pool_fd } => {
                if !crate::ptrace::stub::seal_factory(memfd, pool_fd) {
                    fail(108);
                }
                1
            }
        };
        std::arch::asm!(
            "jmp {entry}",
            entry = in(reg) region.base,
            in("r14") factory,
            in("rdi") region.base,
            in("rsi") region.base + REGION_LEN,
            in("rdx") TASK_SIZE,
            options(noreturn),
        );
    }
}
