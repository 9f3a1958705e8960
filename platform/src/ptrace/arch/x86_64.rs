//! x86_64: PTRACE_GETREGS and SETREGS, the XSAVE regset, `syscall; int3`.

use std::io;

use super::super::sys;
use crate::{fp_layout, Access, FpState, PlatformError, Regs, FX_SW_BYTES, XFEATURE_FPSSE, XSAVE_HEADER};

std::arch::global_asm!(
    ".pushsection .text.husk_stub,\"ax\",@progbits",
    ".globl husk_stub_start",
    ".globl husk_stub_syscall",
    ".globl husk_stub_end",
    ".p2align 12",
    "husk_stub_start:",
    // rdi = this page, rsi = the end of this page, rdx = TASK_SIZE.
    "mov r12, rsi",
    "mov r13, rdx",
    "mov rsi, rdi",
    "xor edi, edi",
    "mov eax, 11", // munmap(0, page)
    "syscall",
    "mov rdi, r12",
    "mov rsi, r13",
    "sub rsi, r12",
    "mov eax, 11", // munmap(page end, TASK_SIZE - page end)
    "syscall",
    "int3",
    "husk_stub_syscall:",
    "syscall",
    "int3",
    "jmp husk_stub_syscall",
    "husk_stub_end:",
    ".popsection",
);

/// Bytes of the syscall instruction: the trap after it is this far on.
pub(in crate::ptrace) const SYSCALL_INSN_LEN: u64 = 2;

/// glibc's rseq signature on x86_64.
pub(in crate::ptrace) const RSEQ_SIG: u64 = 0x5305_3053;

/// Makes code just written at `start` visible to instruction fetches:
/// nothing to do, x86_64's caches are coherent.
pub(in crate::ptrace) fn sync_icache(_start: u64, _len: u64) {}

/// The thread pointer (fs:0 holds the TCB's own address on x86_64).
pub(in crate::ptrace) fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reads one word through fs, which glibc points at the TCB of
    // every thread; it writes nothing.
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly)) };
    tp
}

/// Jumps to the stub page at `base`, telling it the page's end and where
/// the address space ends.
///
/// # Safety
/// Only in the forked stub child, whose stub page is mapped at `base`.
pub(in crate::ptrace) unsafe fn enter_stub(base: u64, end: u64, task_size: u64) -> ! {
    // SAFETY: the caller guarantees the page; the stub code never returns.
    unsafe {
        std::arch::asm!(
            "jmp {entry}",
            entry = in(reg) base,
            in("rdi") base,
            in("rsi") end,
            in("rdx") task_size,
            options(noreturn),
        )
    }
}

/// PTRACE_GETREGS.
pub(in crate::ptrace) fn get_regs(pid: i32, regs: &mut Regs) -> io::Result<()> {
    // SAFETY: `Regs` has the layout and size of `user_regs_struct` (asserted
    // in arch), and the kernel writes exactly that many bytes into it.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (regs as *mut Regs).cast::<libc::c_void>(),
        )
    };
    sys::check(r).map(|_| ())
}

/// PTRACE_SETREGS.
pub(in crate::ptrace) fn set_regs(pid: i32, regs: &Regs) -> io::Result<()> {
    // SAFETY: as in `get_regs`; the kernel only reads from the pointer.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (regs as *const Regs).cast_mut().cast::<libc::c_void>(),
        )
    };
    sys::check(r).map(|_| ())
}

/// The kernel shows every register at a syscall stop.
pub(in crate::ptrace) const SYSCALL_STOP_HIDES_REGS: bool = false;

/// Completes `regs` read at a syscall stop (x86_64's are complete).
pub(in crate::ptrace) fn at_syscall_stop(_regs: &mut Regs) {}

/// Completes `regs` read at any other stop (orig_rax is already -1).
pub(in crate::ptrace) fn at_other_stop(_regs: &mut Regs) {}

/// Points `r` at the stub's syscall instruction at `pc`, to make syscall
/// `nr` with `args`.
pub(in crate::ptrace) fn set_injection(r: &mut Regs, pc: u64, nr: i64, args: [u64; 6]) {
    set_pc(r, pc);
    r.rax = nr as u64;
    r.orig_rax = u64::MAX;
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = args;
}

/// Sets the program counter.
pub(in crate::ptrace) fn set_pc(r: &mut Regs, pc: u64) {
    r.rip = pc;
}

/// The raw result of an injected syscall.
pub(in crate::ptrace) fn injection_result(r: &Regs) -> u64 {
    r.rax
}

/// ptrace does not report the page-fault error code; an instruction fetch
/// is the one access we can still recognise.
pub(in crate::ptrace) fn fault_access(_pid: i32, sig: i32, regs: &Regs, addr: u64) -> Option<Access> {
    (sig == libc::SIGSEGV && regs.rip == addr).then_some(Access::Exec)
}

/// `NT_PRFPREG`: the FXSAVE area.
const NT_PRFPREG: libc::c_int = 2;
/// `NT_X86_XSTATE`: the XSAVE area in standard format.
const NT_X86_XSTATE: libc::c_int = 0x202;

/// A context's FPU regset: whether the host has the `NT_X86_XSTATE`
/// regset, and a buffer of its exact size (SETREGSET takes only the whole
/// regset, which covers every component the host supports, AMX tile data
/// included).
pub(in crate::ptrace) enum FpRegs {
    /// Not asked yet (the buffer is made at the first signal, off the
    /// syscall path).
    Unknown,
    /// No XSAVE regset: FXSAVE only (`NT_PRFPREG`).
    Unavailable,
    /// The regset's size and a buffer that large.
    Regset(Vec<u8>),
}

impl FpRegs {
    /// Not asked yet.
    pub(in crate::ptrace) fn new() -> FpRegs {
        FpRegs::Unknown
    }

    /// Reads stub `pid`'s FPU state into `fp`.
    pub(in crate::ptrace) fn get(&mut self, pid: i32, fp: &mut FpState) -> Result<(), PlatformError> {
        let layout = fp_layout();
        let err = |source| PlatformError::Ptrace { op: "GETREGSET", pid, source };
        if let Some(buf) = self.xstate_buf(pid)? {
            sys::get_regset(pid, NT_X86_XSTATE, buf).map_err(err)?;
            fp.bytes[..layout.size].copy_from_slice(&buf[..layout.size]);
        } else {
            let mut fx = [0u8; 512];
            sys::get_regset(pid, NT_PRFPREG, &mut fx).map_err(err)?;
            fp.bytes[..512].copy_from_slice(&fx);
            if layout.xsave {
                fp.bytes[XSAVE_HEADER..layout.size].fill(0);
                fp.set_xstate_bv(XFEATURE_FPSSE);
            }
        }
        // The kernel's regset marker is not state.
        fp.bytes[FX_SW_BYTES..512].fill(0);
        Ok(())
    }

    /// Replaces stub `pid`'s FPU state with `fp`.
    pub(in crate::ptrace) fn set(&mut self, pid: i32, fp: &FpState) -> Result<(), PlatformError> {
        let layout = fp_layout();
        let ptrace_err = |source| PlatformError::Ptrace { op: "SETREGSET", pid, source };
        let mut clean = fp.clone();
        clean.sanitize(layout);
        if let Some(buf) = self.xstate_buf(pid)? {
            buf[..layout.size].copy_from_slice(&clean.bytes[..layout.size]);
            // Components past ours (enabled on request) are absent from
            // xstate_bv, so the kernel resets them.
            buf[layout.size..].fill(0);
            sys::set_regset(pid, NT_X86_XSTATE, buf).map_err(ptrace_err)?;
        } else {
            sys::set_regset(pid, NT_PRFPREG, &clean.bytes[..512]).map_err(ptrace_err)?;
        }
        Ok(())
    }

    /// The buffer for stub `pid`'s XSAVE regset, or `None` where the host
    /// has none. The first call finds the regset's size by reading it.
    fn xstate_buf(&mut self, pid: i32) -> Result<Option<&mut Vec<u8>>, PlatformError> {
        let layout = fp_layout();
        if !layout.xsave {
            return Ok(None);
        }
        if matches!(self, FpRegs::Unknown) {
            let mut buf = vec![0u8; layout.max_size + 4096];
            *self = match sys::get_regset(pid, NT_X86_XSTATE, &mut buf) {
                Ok(n) if n >= layout.size => {
                    buf.truncate(n);
                    FpRegs::Regset(buf)
                }
                Ok(n) => {
                    log::warn!("ptrace: the XSAVE regset has {n} bytes, fewer than {}: using FXSAVE", layout.size);
                    FpRegs::Unavailable
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENODEV | libc::EIO)) => {
                    log::warn!("ptrace: no XSAVE regset ({e}): using FXSAVE");
                    FpRegs::Unavailable
                }
                Err(source) => return Err(PlatformError::Ptrace { op: "GETREGSET", pid, source }),
            };
        }
        match self {
            FpRegs::Regset(buf) => Ok(Some(buf)),
            _ => Ok(None),
        }
    }
}
